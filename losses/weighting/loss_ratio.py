"""Loss-ratio weights of Leang et al. 2020 ("Dynamic task weighting methods for multi-task networks in
autonomous driving systems"), Section IV-A.2 and IV-A.3.

Both bring every task's loss to the scale of a reference task, whose weight is 1:

- `handcrafted`, eq. 3-4: w_seg = L_det(t=0) / L_seg(t=0), w_det = 1, computed "from the values of the
  loss at first iterations" and then constant. Generalised to T tasks as
      w_i = mean_{s < warmup_steps} L_ref(s) / mean_{s < warmup_steps} L_i(s),
  i.e. the ratio of the mean losses over the first `warmup_steps` batches (a ratio of means, not a mean
  of per-batch ratios, so one near-zero batch cannot blow a weight up). During those batches the weights
  are recomputed every batch from the batches seen so far, the current one included, and used at once;
  with the default `warmup_steps=1` this is exactly eq. 4: the first batch's ratio, from the first batch on.
- `dynamic_scaling`, eq. 5-6: w_seg(t) = mean L_det over epoch t-1 / mean L_seg over epoch t-1, w_det = 1,
  recomputed at every epoch end from the epoch-mean (unweighted) losses. Epoch 0 has no previous epoch
  and uses weights 1.

The reference task (weight 1; `det` in the paper, where T = {det, seg}) is `reference_task`, by default
the first of `tasks`. The weights are constants for backpropagation (stop_gradient).
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, LinearWeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class HandcraftedWeightingStrategy(LinearWeightingStrategy):
    """w_i = mean L_ref / mean L_i over the first `warmup_steps` batches, then frozen (Leang eq. 4).

    Args:
        tasks: task names.
        warmup_steps: number of first batches whose losses set the weights (>= 1).
        reference_task: the task weighted 1; default the first task.
    """

    def __init__(self, tasks, warmup_steps=1, reference_task=None, **kwargs):
        super().__init__(tasks, **kwargs)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 1:
            raise ValueError(f"`warmup_steps` must be an integer >= 1; got {warmup_steps!r}.")
        self.warmup_steps = warmup_steps
        self.reference_task = self.tasks[0] if reference_task is None else reference_task
        self.reference_index = self._task_index(self.reference_task, "reference_task")

    def _create_state(self):
        super()._create_state()
        self.warmup_loss_sums = self._state_variable("warmup_loss_sums", initial_value=0.0)
        self.steps_seen = self._state_variable("steps_seen", initial_value=0.0, shape=())

    def _total(self, loss_vector):
        losses = ops.stop_gradient(loss_vector)
        in_warmup = ops.less(ops.convert_to_tensor(self.steps_seen), float(self.warmup_steps))
        sums = ops.convert_to_tensor(self.warmup_loss_sums) + ops.where(in_warmup, losses, 0.0)
        ratio_weights = sums[self.reference_index] / ops.maximum(sums, EPSILON)
        weights = ops.where(in_warmup, ratio_weights, ops.convert_to_tensor(self.loss_weights))
        self.warmup_loss_sums.assign(sums)
        self.loss_weights.assign(weights)
        self.steps_seen.assign(ops.minimum(self.steps_seen + 1.0, float(self.warmup_steps)))
        return ops.sum(weights * loss_vector)

    def get_config(self):
        config = super().get_config()
        config.update(warmup_steps=self.warmup_steps, reference_task=self.reference_task)
        return config


@keras.saving.register_keras_serializable(package="mtl")
class DynamicScalingStrategy(LinearWeightingStrategy):
    """w_i(t) = mean L_ref(t-1) / mean L_i(t-1) from the previous epoch (Leang eq. 6); 1 in epoch 0.

    Args:
        tasks: task names.
        reference_task: the task weighted 1; default the first task.
    """

    def __init__(self, tasks, reference_task=None, **kwargs):
        super().__init__(tasks, **kwargs)
        self.reference_task = self.tasks[0] if reference_task is None else reference_task
        self.reference_index = self._task_index(self.reference_task, "reference_task")

    def end_epoch(self, epoch, mean_losses):
        losses = self._mean_loss_vector(mean_losses)
        self.loss_weights.assign(losses[self.reference_index] / ops.maximum(losses, EPSILON))

    def get_config(self):
        config = super().get_config()
        config["reference_task"] = self.reference_task
        return config
