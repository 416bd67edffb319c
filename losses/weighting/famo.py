"""FAMO: Liu, Feng, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023.

Loss level (no per-task gradients, O(1) cost per step). Task weights z = softmax(xi) over learned logits xi
(Algorithm 1):

- update direction: d = c sum_t z_t grad L_t / L_t with c = (sum_t z_t / L_t)^{-1}, i.e. the gradient of
  total = c sum_t z_t log(L_t + epsilon) with c and z held constant: every task's log-loss falls at the rate
  set by z (effective weight d total / d L_t = c z_t / (L_t + epsilon));
- loss-space update of the logits from the observed decrease of the log-losses,
  delta_t = log L_t(before) - log L_t(after):

      xi <- xi - beta (J_softmax(xi)^T delta + gamma xi),   J_softmax^T delta = z * (delta - z . delta)

  (beta = `learning_rate` 0.025, gamma = `weight_decay` 1e-3, the paper's values; a plain step as the algorithm
  writes it, where the authors' code uses Adam).
The paper measures "after" on the same batch once the parameters moved (a second forward pass); inside `fit`'s one
step this strategy uses the next batch's losses instead: at step k the logits move with
delta = log L(step k-1) - log L(step k), then weight step k. The logits and the previous losses are Keras variables,
saved and resumed with the model; evaluation batches read the weights without moving them.
"""
import keras
from keras import ops

from losses.weighting.base import WeightingStrategy, check_number


@keras.saving.register_keras_serializable(package="mtl")
class FAMOStrategy(WeightingStrategy):
    """Fast adaptive multitask optimisation (Liu et al. 2023, Algorithm 1).

    Args:
        tasks: task names.
        learning_rate: step size beta of the logits.
        weight_decay: decay gamma of the logits.
        epsilon: added to the losses inside the logarithms.
    """

    def __init__(self, tasks, learning_rate=0.025, weight_decay=1e-3, epsilon=1e-8, **kwargs):
        super().__init__(tasks, **kwargs)
        self.learning_rate = check_number("learning_rate", learning_rate, minimum=0.0)
        self.weight_decay = check_number("weight_decay", weight_decay, minimum=0.0)
        self.epsilon = check_number("epsilon", epsilon, minimum=0.0, open_minimum=True)

    def _create_state(self):
        self.logits = self._state_variable("logits", initial_value=0.0)
        self.previous_losses = self._state_variable("previous_losses", initial_value=1.0)
        self.has_previous = self._state_variable("has_previous", initial_value=0.0, shape=())

    def updated_logits(self, previous_losses, losses):
        """The logits after the loss-space update for losses going from `previous_losses` to `losses`."""
        logits = ops.convert_to_tensor(self.logits)
        decrease = ops.log(previous_losses + self.epsilon) - ops.log(losses + self.epsilon)
        weights = ops.softmax(logits)
        softmax_vjp = weights * (decrease - ops.sum(weights * decrease))
        return logits - self.learning_rate * (softmax_vjp + self.weight_decay * logits)

    def _total(self, loss_vector):
        losses = ops.stop_gradient(loss_vector)
        moved = self.updated_logits(ops.convert_to_tensor(self.previous_losses), losses)
        self.logits.assign(ops.where(self.has_previous > 0.0, moved, ops.convert_to_tensor(self.logits)))
        self.previous_losses.assign(losses)
        self.has_previous.assign(1.0)
        return self._evaluation_total(loss_vector)

    def _evaluation_total(self, loss_vector):
        weights = ops.stop_gradient(self._weight_vector(loss_vector) * (loss_vector + self.epsilon))  # c z
        return ops.sum(weights * ops.log(loss_vector + self.epsilon))

    def _weight_vector(self, loss_vector):
        weights = ops.softmax(ops.convert_to_tensor(self.logits))
        inverse_rate = ops.sum(weights / (loss_vector + self.epsilon))
        return weights / inverse_rate / (loss_vector + self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(learning_rate=self.learning_rate, weight_decay=self.weight_decay, epsilon=self.epsilon)
        return config
