"""Task weight balancing of AuxNet (Chennupati et al., VISAPP 2019), Algorithms 1 (TWB) and 2 (FTWB).

Algorithm 1 (TWB), every batch:     lambda_seg = L_depth,          lambda_depth = L_seg
                                    L_total = lambda_seg L_seg + lambda_depth L_depth = 2 L_seg L_depth
Algorithm 2 (FTWB), every batch:    lambda_seg = L_seg x L_depth,  lambda_depth = L_seg
                                    L_total = L_seg^2 L_depth + L_seg L_depth = (L_seg + 1) L_seg L_depth
with "a moving average [added] to the loss weights to smoothen the rapid changes in loss values at
the end of every batch" (Section 3.2). Implemented as written, for the current batch b:

    target_i(b) = the algorithm's lambda_i from this batch's losses
    lambda_i(b) = target_i(b)                                           for the first batch
                = momentum * lambda_i(b-1) + (1 - momentum) * target_i(b)   afterwards
    L_total(b)  = sum_i lambda_i(b) L_i(b)

`momentum` defaults to 0.9 (about ten batches of smoothing; the paper gives no value);
`momentum=0` is the algorithms without the moving average.

Gradient through the weights: the algorithms call lambda "loss weights", updated after every batch, so
by default they are constants for backpropagation (`detach_weights=True`, stop_gradient):
d L_total / d L_i = lambda_i. With `detach_weights=False` the gradient also flows through the
(1 - momentum) share of the current batch's targets, which for momentum 0 is exactly the gradient of the
product forms 2 L_seg L_depth and (L_seg + 1) L_seg L_depth written in the algorithms.

More than two tasks (the paper defines two): with P = prod_j L_j,
    TWB:  target_i = P / L_i = prod_{j != i} L_j (every task is weighted by the product of the others),
          so L_total = n P without the moving average;
    FTWB: target_main = P, target_i = prod_{j != i} L_j for the other tasks,
          so L_total = (L_main + n - 1) P without the moving average.
Both reduce to Algorithms 1 and 2 for n = 2. The main task of FTWB (segmentation in the paper) is
`main_task`, by default the first of `tasks`.
"""
import keras
from keras import ops

from losses.weighting.base import WeightingStrategy


def _products_of_others(loss_vector, num_tasks):
    """prod_{j != i} L_j for every i, without dividing (a zero loss must not give NaN)."""
    return ops.stack(
        [
            ops.prod(ops.stack([loss_vector[j] for j in range(num_tasks) if j != i]))
            if num_tasks > 1
            else ops.ones(())
            for i in range(num_tasks)
        ]
    )


@keras.saving.register_keras_serializable(package="mtl")
class TaskWeightBalancingStrategy(WeightingStrategy):
    """AuxNet Algorithm 1: each task is weighted by the other task's loss, with a moving average.

    Args:
        tasks: task names.
        momentum: moving-average factor of the weights in [0, 1); 0 = no smoothing.
        detach_weights: treat the weights as constants for backpropagation (default True).
    """

    def __init__(self, tasks, momentum=0.9, detach_weights=True, **kwargs):
        super().__init__(tasks, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be a float in [0, 1); got {momentum!r}.")
        if not isinstance(detach_weights, bool):
            raise ValueError(f"`detach_weights` must be True or False; got {detach_weights!r}.")
        self.momentum = float(momentum)
        self.detach_weights = detach_weights

    def _create_state(self):
        self.loss_weights = self._state_variable("loss_weights", initial_value=1.0)
        self.initialized = self._state_variable("initialized", initial_value=0.0, shape=())
        # Share of the current batch's targets in the weights of the last combine: 1 for the first batch.
        self.current_share = self._state_variable("current_share", initial_value=1.0, shape=())

    def _targets(self, loss_vector):
        return _products_of_others(loss_vector, self.num_tasks)

    def _target_jacobian_term(self, loss_vector):
        """sum_i L_i d target_i / d L_k for every k."""
        return (self.num_tasks - 1) * _products_of_others(loss_vector, self.num_tasks)

    def _total(self, loss_vector):
        targets = self._targets(loss_vector)
        if self.detach_weights:
            targets = ops.stop_gradient(targets)
        first_batch = ops.equal(ops.convert_to_tensor(self.initialized), 0.0)
        share = ops.where(first_batch, 1.0, 1.0 - self.momentum)
        previous = ops.stop_gradient(ops.convert_to_tensor(self.loss_weights))
        weights = (1.0 - share) * previous + share * targets
        self.loss_weights.assign(ops.stop_gradient(weights))
        self.initialized.assign(1.0)
        self.current_share.assign(share)
        return ops.sum(weights * loss_vector)

    def _weight_vector(self, loss_vector):
        weights = ops.convert_to_tensor(self.loss_weights)
        if self.detach_weights:
            return weights
        return weights + ops.convert_to_tensor(self.current_share) * self._target_jacobian_term(loss_vector)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, detach_weights=self.detach_weights)
        return config


@keras.saving.register_keras_serializable(package="mtl")
class FocusedTaskWeightBalancingStrategy(TaskWeightBalancingStrategy):
    """AuxNet Algorithm 2: TWB whose main task is also weighted by its own loss.

    Args:
        tasks: task names.
        main_task: the prioritised task (segmentation in the paper); default the first task.
        momentum: moving-average factor of the weights in [0, 1); 0 = no smoothing.
        detach_weights: treat the weights as constants for backpropagation (default True).
    """

    def __init__(self, tasks, main_task=None, momentum=0.9, detach_weights=True, **kwargs):
        super().__init__(tasks, momentum=momentum, detach_weights=detach_weights, **kwargs)
        self.main_task = self.tasks[0] if main_task is None else main_task
        self.main_index = self._task_index(self.main_task, "main_task")

    def _main_mask(self):
        return ops.convert_to_tensor(
            [1.0 if index == self.main_index else 0.0 for index in range(self.num_tasks)], dtype="float32"
        )

    def _targets(self, loss_vector):
        others = _products_of_others(loss_vector, self.num_tasks)
        return others * ops.where(self._main_mask() > 0, loss_vector, 1.0)

    def _target_jacobian_term(self, loss_vector):
        # target_main = P gives L_main * P / L_k for every k; each other task i != k gives P / L_k.
        others = _products_of_others(loss_vector, self.num_tasks)
        other_tasks_not_k = (self.num_tasks - 1) - (1.0 - self._main_mask())
        return (loss_vector[self.main_index] + other_tasks_not_k) * others

    def get_config(self):
        config = super().get_config()
        config["main_task"] = self.main_task
        return config
