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
step keeps the update backend-independent and stateless).

GradNorm is a strategy of the gradient hook (losses/weighting/gradient.py) whose rows only move its weights: every
trainable variable gets the gradient of the weighted total sum_i w_i L_i (`combines_through_total_loss`), and
`weights_from_gram(G)` returns the weights of this step, w, while it updates them from g_i = sqrt(G_ii) for the next
one. Only the diagonal is read, so the train steps pass diag(||g_i||^2), summed task by task: the per-task gradients
are never held together. The rows are, by `mode`:
- "last_shared_layer" (default, Chen et al.'s choice): the gradients with respect to the last shared layer W
  (`model.gradnorm_shared_variables()`: the kernel of the encoder's last convolution);
- "parameters": the gradients with respect to every shared parameter;
- "representation": the gradients with respect to the shared features (the encoder's outputs).
The train step is the backends' one (losses/weighting/tensorflow_steps.py, losses/weighting/jax_steps.py); under
several replicas the rows (or G) are all-reduced first, so the norms are the global batch's, as on one device.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, check_number
from losses.weighting.gradient import MODES, GradientWeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class GradNormStrategy(GradientWeightingStrategy):
    """sum_i w_i L_i with w_i updated from per-task gradient norms (Chen et al. 2018).

    Args:
        tasks: task names.
        alpha: asymmetry exponent of the target gradient norms (1.5 as Chen et al. on NYUv2).
        learning_rate: step size of the weight update.
        min_weight: weights are clipped at this positive minimum before renormalisation.
        mode: "last_shared_layer" (default), "parameters" or "representation": where the norms are taken.
    """

    combines_through_total_loss = True
    modes = ("last_shared_layer",) + MODES

    def __init__(self, tasks, alpha=1.5, learning_rate=0.025, min_weight=1e-3, mode="last_shared_layer", **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        self.alpha = check_number("alpha", alpha, minimum=0.0)
        self.learning_rate = check_number("learning_rate", learning_rate, minimum=0.0)
        self.min_weight = check_number("min_weight", min_weight, minimum=0.0, maximum=1.0, open_minimum=True,
                                       open_maximum=True)

    def _create_state(self):
        # The variables (and their order) of GradNorm models saved before the gradient hook existed.
        self.loss_weights = self._state_variable("loss_weights", initial_value=1.0)
        self.initial_losses = self._state_variable("initial_losses", initial_value=1.0)
        self.initialized = self._state_variable("initialized", initial_value=0.0, shape=())

    def _weight_vector(self, loss_vector):
        return ops.convert_to_tensor(self.loss_weights)

    def objective_weights(self):
        return ops.stop_gradient(ops.convert_to_tensor(self.loss_weights))

    def weights_from_gram(self, gram):
        """The weights of this step; updates them from the norms sqrt(G_ii) and the losses of the latest `combine`."""
        gram = ops.convert_to_tensor(gram, dtype="float32")
        weights = ops.copy(self.loss_weights)  # a read now: the variable itself would show the update below
        norms = ops.sqrt(ops.maximum(ops.diagonal(gram), 0.0))
        self._update(ops.convert_to_tensor(self.last_losses), norms)
        return weights

    def update_from_gradient_norms(self, losses, grad_norms):
        """One GradNorm step; returns the new weights as a dict task -> scalar tensor."""
        new_weights = self._update(self._loss_vector(losses), self._loss_vector(grad_norms, argument="grad_norms"))
        return {task: new_weights[index] for index, task in enumerate(self.tasks)}

    def _update(self, losses, norms):
        losses = ops.stop_gradient(losses)
        norms = ops.stop_gradient(norms)
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
        return new_weights

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, learning_rate=self.learning_rate, min_weight=self.min_weight)
        return config
