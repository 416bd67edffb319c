"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, "End-to-end multi-task learning with
attention", eq. 7), as compared in MultiNet++ (Table 4) and Novosel et al. (eq. 5, "DWA"):

    r_k(t-1) = L_k(t-1) / L_k(t-2)
    w_k(t)   = K exp(r_k(t-1) / T) / sum_i exp(r_i(t-1) / T)

with L_k(t) the mean (unweighted) loss of task k over epoch t, K the number of tasks and T the
temperature (2 in Liu et al.). Epochs 0 and 1 have no two previous epochs and use w_k = 1.
The history is counted in epochs recorded by `end_epoch`, not in epoch indices, so a strategy restored
with its model resumes from the stored history.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, LinearWeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class DynamicWeightAverageStrategy(LinearWeightingStrategy):
    """w(t) = K softmax((L(t-1) / L(t-2)) / T) from epoch-mean losses; 1 in epochs 0 and 1.

    Args:
        tasks: task names.
        temperature: softmax temperature T (> 0).
    """

    def __init__(self, tasks, temperature=2.0, **kwargs):
        super().__init__(tasks, **kwargs)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ValueError(f"`temperature` must be a positive number; got {temperature!r}.")
        self.temperature = float(temperature)

    def _create_state(self):
        super()._create_state()
        self.previous_epoch_losses = self._state_variable("previous_epoch_losses", initial_value=1.0)
        self.epochs_recorded = self._state_variable("epochs_recorded", initial_value=0.0, shape=())

    def end_epoch(self, epoch, mean_losses):
        losses = self._mean_loss_vector(mean_losses)
        rates = losses / ops.maximum(ops.convert_to_tensor(self.previous_epoch_losses), EPSILON)
        dwa_weights = self.num_tasks * ops.softmax(rates / self.temperature)
        has_history = ops.greater_equal(ops.convert_to_tensor(self.epochs_recorded), 1.0)
        self.loss_weights.assign(ops.where(has_history, dwa_weights, ops.ones_like(dwa_weights)))
        self.previous_epoch_losses.assign(losses)
        self.epochs_recorded.assign(self.epochs_recorded + 1.0)

    def get_config(self):
        config = super().get_config()
        config["temperature"] = self.temperature
        return config
