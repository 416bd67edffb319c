"""DB-MTL: Lin, Ye, Xu, Shi, Zhang & Kwok, "Dual-Balancing Multi-Task Learning", 2023.

Two balances (Algorithm 1):
- loss scale (Sec. 3.1): every task's loss enters through its logarithm, l_t = log(L_t + epsilon), whose gradient
  dL_t / L_t is free of the loss's scale (the task-specific parameters get the gradient of sum_t l_t);
- gradient magnitude (Sec. 3.2): the shared update sums exponential moving averages of the task gradients, each
  rescaled to the largest norm among them:

      g^_t <- beta_k g^_t + (1 - beta_k) g_t,   beta_k = beta / k^sigma   (k: the step, from 1; g^_t starts at 0)
      alpha_t = max_s ||g^_s|| / ||g^_t||,       d = sum_t alpha_t g^_t

  (beta = 0.9, sigma = 0.5, as in the authors' LibMTL code).
The moving averages g^_t are rows: the strategy needs the whole matrix, and its state is as large as T times the
shared parameters (Keras variables, one per shared variable, created by the model's compile, saved in `.keras`
files and resumed with them; about T x 94 MB for ResNet-50's encoder in float32). Parameter mode only: in the
representation mode the rows are gradients of each batch's own examples, which cannot be averaged across steps.
`{task}_weight` logs alpha_t (the weights of the averaged gradients).
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, check_number
from losses.weighting.gradient import GradientWeightingStrategy
from losses.weighting.gram import combine_blocks


@keras.saving.register_keras_serializable(package="mtl")
class DBMTLStrategy(GradientWeightingStrategy):
    """Dual-balancing multi-task learning (Lin et al. 2023).

    Args:
        tasks: task names.
        mode: "parameters" (the only mode; see the module docstring).
        beta: moving-average factor of the task gradients, in [0, 1).
        beta_sigma: decay exponent of beta over the steps (>= 0).
        epsilon: added to the losses before the logarithm.
    """

    needs_whole_matrix = True
    has_row_state = True
    modes = ("parameters",)
    mode_refusal = ("DB-MTL keeps moving averages of the rows across steps, and the rows of the representation mode "
                    "are gradients of each batch's own examples.")

    def __init__(self, tasks, mode="parameters", beta=0.9, beta_sigma=0.5, epsilon=1e-8, **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        self.beta = check_number("beta", beta, minimum=0.0, maximum=1.0, open_maximum=True)  # 1: averages stay 0
        self.beta_sigma = check_number("beta_sigma", beta_sigma, minimum=0.0)
        self.epsilon = check_number("epsilon", epsilon, minimum=0.0, open_minimum=True)
        self.gradient_buffers = []

    def task_objectives(self, loss_vector):
        return ops.log(loss_vector + self.epsilon)

    def build_row_state(self, block_sizes):
        block_sizes = [int(size) for size in block_sizes]
        built = [int(buffer.shape[1]) for buffer in self.gradient_buffers]
        if built and built != block_sizes:
            raise ValueError(f"DB-MTL's moving averages were built for blocks of {built} columns; the gradients now "
                             f"come in blocks of {block_sizes}.")
        if not built:
            self.gradient_buffers = [
                self._state_variable(f"gradient_buffer_{index}", initial_value=0.0, shape=(self.num_tasks, size))
                for index, size in enumerate(block_sizes)]

    def aggregate_blocks(self, blocks):
        self.build_row_state([block.shape[1] for block in blocks])  # outside a model: the first call sizes them
        step = ops.convert_to_tensor(self.aggregation_steps) + 1.0
        decay = self.beta / ops.power(step, self.beta_sigma)
        averages = [block + decay * (ops.convert_to_tensor(buffer) - block)
                    for block, buffer in zip(blocks, self.gradient_buffers)]
        norms = ops.sqrt(sum(ops.sum(average * average, axis=1) for average in averages))
        weights = ops.max(norms) / (norms + EPSILON)
        for buffer, average in zip(self.gradient_buffers, averages):
            buffer.assign(average)
        self._record(weights)
        return combine_blocks(weights, averages)

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta, beta_sigma=self.beta_sigma, epsilon=self.epsilon)
        return config
