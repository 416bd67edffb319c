"""Asynchronous backpropagation of Leang et al. 2020, Section IV-D, eq. 10-12:

    w_seg(t) = 1 for all t,   w_det(t) = 1 if t mod nu_det == 0 else 0

generalised to every task: w_k(t) = 1 if t mod nu_k == 0 else 0, with epochs t counted from 0 (so every
task trains in epoch 0) and nu_k = 1 (always on) for tasks absent from `frequencies`. The paper obtains
nu_det from its meta-learning search; here it is given. The weights are constants for backpropagation.
"""
import keras

from losses.weighting.base import LinearWeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class AsynchronousStrategy(LinearWeightingStrategy):
    """Task k is trained (weight 1) only in epochs t with t % frequencies[k] == 0, else weight 0.

    Args:
        tasks: task names.
        frequencies: dict task -> positive integer update period nu (absent tasks: 1).
    """

    def __init__(self, tasks, frequencies=None, **kwargs):
        super().__init__(tasks, **kwargs)
        frequencies = {} if frequencies is None else frequencies
        if not isinstance(frequencies, dict):
            raise ValueError(f"`frequencies` must be a dict task -> positive integer; got {frequencies!r}.")
        unknown = sorted(set(frequencies) - set(self.tasks))
        if unknown:
            raise ValueError(f"`frequencies` names unknown tasks {unknown}; tasks are {list(self.tasks)}.")
        bad = {
            task: value
            for task, value in frequencies.items()
            if isinstance(value, bool) or not isinstance(value, int) or value < 1
        }
        if bad:
            raise ValueError(f"`frequencies` values must be integers >= 1; got {bad}.")
        self.frequencies = {task: int(frequencies.get(task, 1)) for task in self.tasks}

    def weights_for_epoch(self, epoch):
        """The weight of each task in epoch `epoch` (counted from 0), as python floats."""
        return {task: 1.0 if epoch % self.frequencies[task] == 0 else 0.0 for task in self.tasks}

    def end_epoch(self, epoch, mean_losses):
        next_weights = self.weights_for_epoch(int(epoch) + 1)
        self.loss_weights.assign([next_weights[task] for task in self.tasks])

    def get_config(self):
        config = super().get_config()
        config["frequencies"] = dict(self.frequencies)
        return config
