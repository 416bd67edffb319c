"""RLW: Lin, Ye, Xu, Shi, Zhang & Kwok, "Reasonable Effectiveness of Random Weighting: A Litmus Test for Multi-Task
Learning", TMLR 2022.

Random loss weighting (Sec. 3, Algorithm 1): at every step the weights are drawn afresh,

    lambda = softmax(epsilon),  epsilon ~ N(0, I_T),      total = sum_t lambda_t L_t

(the normal distribution followed by a softmax, the paper's default), so they lie on the simplex; they are constants
for backpropagation. Loss level: no per-task gradients. The draws come from `seed` and the strategy's step counter
(losses/weighting/seeding.py): every replica and one device draw the same weights, and a restored model continues the
stream. Effective weight d total / d L_t = lambda_t of the latest step.
"""
import keras
from keras import ops

from losses.weighting.base import LinearWeightingStrategy
from losses.weighting.seeding import StepSeed, resolve_seed


@keras.saving.register_keras_serializable(package="mtl")
class RandomLossWeightingStrategy(LinearWeightingStrategy):
    """total = sum_t lambda_t L_t, lambda = softmax(N(0, I)) drawn every step (Lin et al. 2022).

    Args:
        tasks: task names.
        seed: seed of the draws (None: drawn and recorded).
    """

    def __init__(self, tasks, seed=None, **kwargs):
        super().__init__(tasks, **kwargs)
        self.seed = resolve_seed(seed)

    def _create_state(self):
        super()._create_state()
        self.steps_drawn = self._state_variable("steps_drawn", initial_value=0.0, shape=())

    def _total(self, loss_vector):
        noise = keras.random.normal((self.num_tasks,), seed=StepSeed(self.seed, self.steps_drawn))
        self.loss_weights.assign(ops.softmax(noise))
        self.steps_drawn.assign(self.steps_drawn + 1.0)
        return super()._total(loss_vector)

    def _evaluation_total(self, loss_vector):
        return super()._total(loss_vector)  # the latest draw, without drawing: evaluation leaves the stream alone

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
