"""Weight learning of Leang et al. 2020, Section IV-B, eq. 8-9:

    L_total = alpha L_seg + (1 - alpha) L_det,   alpha = sigmoid(w)

with w a single scalar learned by backpropagation together with the network (a trainable weight of this
layer, initialised to 0, i.e. alpha = 0.5). Defined for exactly two tasks: alpha weighs the first of
`tasks` (L_seg in eq. 8) and 1 - alpha the second.
"""
import keras
from keras import ops

from losses.weighting.base import WeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class WeightLearningStrategy(WeightingStrategy):
    """L_total = sigmoid(w) L_first + (1 - sigmoid(w)) L_second (Leang eq. 8-9).

    Args:
        tasks: exactly two task names.
    """

    def __init__(self, tasks, **kwargs):
        super().__init__(tasks, **kwargs)
        if self.num_tasks != 2:
            raise ValueError(
                f"`tasks` must name exactly two tasks for weight_learning (alpha L1 + (1 - alpha) L2); "
                f"got {list(self.tasks)}."
            )

    def _create_state(self):
        self.balance_logit = self._state_variable("balance_logit", initial_value=0.0, shape=(), trainable=True)

    def _alpha(self):
        return ops.sigmoid(ops.convert_to_tensor(self.balance_logit))

    def _total(self, loss_vector):
        alpha = self._alpha()
        return alpha * loss_vector[0] + (1.0 - alpha) * loss_vector[1]

    def _weight_vector(self, loss_vector):
        alpha = self._alpha()
        return ops.stack([alpha, 1.0 - alpha])
