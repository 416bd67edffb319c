"""Asynchronous backpropagation of Leang et al. 2020, Section IV-D, eq. 10-12:

    w_seg(t) = 1 for all t,   w_det(t) = 1 if t mod nu_det == 0 else 0

generalised to every task: w_k(t) = w_k if t mod nu_k == 0 else 0, with epochs t counted from 0 (so every
task trains in epoch 0), nu_k = 1 (always on) for tasks absent from `frequencies` and w_k = 1 for tasks absent
from `weights` (eq. 11-12 are w = 1). The paper's "meta-learning task weighting async backprop" searches both
the normalised weights w_k and the frequencies nu_k (training/meta_learning.py); here they are given. The weights
are constants for backpropagation.
"""
import math

import keras

from losses.weighting.base import LinearWeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class AsynchronousStrategy(LinearWeightingStrategy):
    """Task k is trained (weight w_k) only in epochs t with t % frequencies[k] == 0, else weight 0.

    Args:
        tasks: task names.
        frequencies: dict task -> positive integer update period nu (absent tasks: 1).
        weights: dict task -> non-negative weight w_k of the epochs the task trains in (absent tasks: 1).
    """

    def __init__(self, tasks, frequencies=None, weights=None, **kwargs):
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
        weights = {} if weights is None else weights
        if not isinstance(weights, dict) or sorted(set(weights) - set(self.tasks)):
            raise ValueError(f"`weights` must be a dict task -> weight >= 0 over the tasks {list(self.tasks)}; "
                             f"got {weights!r}.")
        bad = {task: value for task, value in weights.items()
               if isinstance(value, bool) or not math.isfinite(float(value)) or float(value) < 0}
        if bad:
            raise ValueError(f"`weights` values must be finite numbers >= 0; got {bad}.")
        self.on_weights = {task: float(weights.get(task, 1.0)) for task in self.tasks}
        start = self.weights_for_epoch(0)
        self.loss_weights.assign([start[task] for task in self.tasks])

    def weights_for_epoch(self, epoch):
        """The weight of each task in epoch `epoch` (counted from 0), as python floats."""
        return {task: self.on_weights[task] if epoch % self.frequencies[task] == 0 else 0.0 for task in self.tasks}

    def end_epoch(self, epoch, mean_losses):
        next_weights = self.weights_for_epoch(int(epoch) + 1)
        self.loss_weights.assign([next_weights[task] for task in self.tasks])

    def get_config(self):
        config = super().get_config()
        config["frequencies"] = dict(self.frequencies)
        config["weights"] = dict(self.on_weights)
        return config
