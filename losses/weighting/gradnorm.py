"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018), as used by Leang et al. 2020 (IV-A.5).

The total loss is sum_i w_i L_i with the w_i non-trainable (constants for backpropagation). After each
batch `update_from_gradient_norms(losses, grad_norms)` moves them, given g_i = ||d L_i / d W||, the norm
of the UNweighted task loss's gradient over the last shared layer's variables W:

    G_i      = w_i g_i,                         Gbar = mean_i G_i
    r_i      = (L_i / L_i(0)) / mean_j (L_j / L_j(0))     L_i(0): the losses at the first update
    target_i = Gbar r_i^alpha                   (held constant, as in Chen et al.)
    grad_i   = d/dw_i sum_j |G_j - target_j| = sign(G_i - target_i) g_i
    w_i     <- max(w_i - learning_rate grad_i, min_weight)
    w_i     <- w_i n / sum_j w_j                (the weights sum to the number of tasks n)

This is a plain gradient step on the GradNorm loss (Chen et al. use the network's optimizer; a plain
step keeps the update backend-independent and stateless). The per-task gradients need the backend's
autodiff: `train_step` runs `losses.weighting.tensorflow_steps.gradnorm_train_step`, which computes them for
the TensorFlow backend.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, LinearWeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class GradNormStrategy(LinearWeightingStrategy):
    """sum_i w_i L_i with w_i updated from per-task gradient norms (Chen et al. 2018).

    Args:
        tasks: task names.
        alpha: asymmetry exponent of the target gradient norms (1.5 as Chen et al. on NYUv2).
        learning_rate: step size of the weight update.
        min_weight: weights are clipped at this positive minimum before renormalisation.
    """

    #: The model must call `update_from_gradient_norms` each batch (see training.gradnorm).
    requires_gradient_norms = True

    def __init__(self, tasks, alpha=1.5, learning_rate=0.025, min_weight=1e-3, **kwargs):
        super().__init__(tasks, **kwargs)
        for argument, value, low in (("alpha", alpha, 0.0), ("learning_rate", learning_rate, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise ValueError(f"`{argument}` must be a number >= {low}; got {value!r}.")
        if isinstance(min_weight, bool) or not isinstance(min_weight, (int, float)) or not 0 < min_weight < 1:
            raise ValueError(f"`min_weight` must be a number in (0, 1); got {min_weight!r}.")
        self.alpha = float(alpha)
        self.learning_rate = float(learning_rate)
        self.min_weight = float(min_weight)

    def _create_state(self):
        super()._create_state()
        self.initial_losses = self._state_variable("initial_losses", initial_value=1.0)
        self.initialized = self._state_variable("initialized", initial_value=0.0, shape=())

    def train_step(self, model, data):
        """One training step of `model` on `data` with per-task gradient norms; returns (logs, predictions)."""
        from losses.weighting.tensorflow_steps import gradnorm_train_step

        return gradnorm_train_step(model, data, strategy=self, return_predictions=True)

    def update_from_gradient_norms(self, losses, grad_norms):
        """One GradNorm step; returns the new weights as a dict task -> scalar tensor."""
        losses = ops.stop_gradient(self._loss_vector(losses))
        norms = ops.stop_gradient(self._loss_vector(grad_norms, argument="grad_norms"))
        first_update = ops.equal(ops.convert_to_tensor(self.initialized), 0.0)
        initial_losses = ops.where(first_update, losses, ops.convert_to_tensor(self.initial_losses))
        weights = ops.convert_to_tensor(self.loss_weights)

        weighted_norms = weights * norms
        mean_norm = ops.mean(weighted_norms)
        loss_ratios = losses / ops.maximum(initial_losses, EPSILON)
        inverse_rates = loss_ratios / ops.maximum(ops.mean(loss_ratios), EPSILON)
        targets = mean_norm * ops.power(inverse_rates, self.alpha)
        gradient = ops.sign(weighted_norms - targets) * norms
        new_weights = ops.maximum(weights - self.learning_rate * gradient, self.min_weight)
        new_weights = new_weights * (self.num_tasks / ops.sum(new_weights))

        self.initial_losses.assign(initial_losses)
        self.initialized.assign(1.0)
        self.loss_weights.assign(new_weights)
        return {task: new_weights[index] for index, task in enumerate(self.tasks)}

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, learning_rate=self.learning_rate, min_weight=self.min_weight)
        return config
