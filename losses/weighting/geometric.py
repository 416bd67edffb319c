"""Geometric and focused loss strategies.

- `gls` (alias `product`): MultiNet++ eq. 1-2 and 6, NeurAll eq. 1, Leang et al. eq. 7:
      L_total = (prod_{i=1..n} L_i)^(1/n)
  computed as exp(mean_i log(max(L_i, epsilon))): the plain product of 12 losses of 1e-4 is 1e-48, which
  underflows float32 to 0 (and its gradient to NaN), while the log-space form returns 1e-4 exactly.
  The clamp at `epsilon` keeps log finite for a zero loss; below it a task gets no gradient.
  d L_total / d L_k = L_total / (n L_k).
- `fls`: MultiNet++ eq. 3, the geometric mean of all n losses times the geometric mean of the m focused
  tasks' losses:
      L_total = (prod_{i=1..n} L_i)^(1/n) * (prod_{j in focus} L_j)^(1/m)
  computed as exp(mean_i log L_i + mean_{j in focus} log L_j).
  d L_total / d L_k = L_total (1/n + [k in focus]/m) / L_k.
  The paper takes the first m tasks in priority order; here they are named with `focus`.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, WeightingStrategy


def _validate_epsilon(epsilon):
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 < epsilon < 1:
        raise ValueError(f"`epsilon` must be a float in (0, 1); got {epsilon!r}.")
    return float(epsilon)


@keras.saving.register_keras_serializable(package="mtl")
class GeometricLossStrategy(WeightingStrategy):
    """L_total = (prod_i L_i)^(1/n), in log space (MultiNet++ eq. 1, NeurAll eq. 1).

    Args:
        tasks: task names.
        epsilon: losses are clamped at this value before the log.
    """

    def __init__(self, tasks, epsilon=EPSILON, **kwargs):
        super().__init__(tasks, **kwargs)
        self.epsilon = _validate_epsilon(epsilon)

    def _exponents(self):
        """Per-task exponent a_i of L_total = prod_i L_i^a_i."""
        return ops.full((self.num_tasks,), 1.0 / self.num_tasks, dtype="float32")

    def _total(self, loss_vector):
        log_losses = ops.log(ops.maximum(loss_vector, self.epsilon))
        return ops.exp(ops.sum(self._exponents() * log_losses))

    def _weight_vector(self, loss_vector):
        clamped = ops.maximum(loss_vector, self.epsilon)
        total = ops.exp(ops.sum(self._exponents() * ops.log(clamped)))
        return ops.where(loss_vector >= self.epsilon, total * self._exponents() / clamped, 0.0)

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@keras.saving.register_keras_serializable(package="mtl")
class FocusedLossStrategy(GeometricLossStrategy):
    """L_total = (prod_i L_i)^(1/n) * (prod_{j in focus} L_j)^(1/m) (MultiNet++ eq. 3).

    Args:
        tasks: task names.
        focus: non-empty list of the tasks to focus on (the paper's first m tasks).
        epsilon: losses are clamped at this value before the log.
    """

    def __init__(self, tasks, focus=None, epsilon=EPSILON, **kwargs):
        super().__init__(tasks, epsilon=epsilon, **kwargs)
        if isinstance(focus, str):
            focus = [focus]
        if not isinstance(focus, (list, tuple)) or not focus:
            raise ValueError(f"`focus` must be a non-empty list of tasks from {list(self.tasks)}; got {focus!r}.")
        unknown = [task for task in focus if task not in self.tasks]
        if unknown or len(set(focus)) != len(focus):
            raise ValueError(
                f"`focus` must list distinct tasks from {list(self.tasks)}; got {list(focus)} (unknown: {unknown})."
            )
        self.focus = tuple(focus)

    def _exponents(self):
        focus_count = len(self.focus)
        return ops.convert_to_tensor(
            [1.0 / self.num_tasks + (1.0 / focus_count if task in self.focus else 0.0) for task in self.tasks],
            dtype="float32",
        )

    def get_config(self):
        config = super().get_config()
        config["focus"] = list(self.focus)
        return config
