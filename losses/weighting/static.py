"""Constant task weights.

- `equal`: total = sum_i L_i (MultiNet++ "equal weights", NeurAll "sum of losses", Leang et al. IV-A.1
  "no task weighting").
- `fixed`: total = sum_i w_i L_i with user-given w_i (AuxNet eq. 1-2 with AuxNet400 / AuxNet1000, i.e.
  lambda_seg = 400 or 1000 and lambda_depth = 1; Novosel et al. eq. 5 with the grid-search weights;
  Leang et al. eq. 2). Every task must receive a weight: a forgotten task silently weighted 1 would
  change a reproduction without notice.
"""
import math

import keras
from keras import ops

from losses.weighting.base import WeightingStrategy


@keras.saving.register_keras_serializable(package="mtl")
class EqualWeightingStrategy(WeightingStrategy):
    """total = sum_i L_i."""

    def __init__(self, tasks, **kwargs):
        super().__init__(tasks, **kwargs)

    def _total(self, loss_vector):
        return ops.sum(loss_vector)

    def _weight_vector(self, loss_vector):
        return ops.ones_like(loss_vector)


@keras.saving.register_keras_serializable(package="mtl")
class FixedWeightingStrategy(WeightingStrategy):
    """total = sum_i w_i L_i with constant weights.

    Args:
        tasks: task names.
        weights: dict task -> float, one entry for every task (e.g. AuxNet400:
            `{"segmentation": 400.0, "depth": 1.0}`).
    """

    def __init__(self, tasks, weights=None, **kwargs):
        super().__init__(tasks, **kwargs)
        if not isinstance(weights, dict):
            raise ValueError(
                f"`weights` must be a dict task -> float covering all tasks {list(self.tasks)}; got {weights!r}."
            )
        missing = [task for task in self.tasks if task not in weights]
        extra = sorted(set(weights) - set(self.tasks))
        if missing or extra:
            raise ValueError(
                f"`weights` must give a weight to exactly the tasks {list(self.tasks)}; "
                f"missing {missing}, unknown {extra}."
            )
        bad = {task: value for task, value in weights.items() if not math.isfinite(float(value))}
        if bad:
            raise ValueError(f"`weights` must be finite numbers; got {bad}.")
        self.fixed_weights = {task: float(weights[task]) for task in self.tasks}

    def _total(self, loss_vector):
        return ops.sum(self._weights_tensor() * loss_vector)

    def _weight_vector(self, loss_vector):
        return self._weights_tensor()

    def _weights_tensor(self):
        return ops.convert_to_tensor([self.fixed_weights[task] for task in self.tasks], dtype="float32")

    def get_config(self):
        config = super().get_config()
        config["weights"] = dict(self.fixed_weights)
        return config
