"""GradDrop: Chen, Ngiam, Huang, Luong, Kretzschmar, Chai & Anguelov, "Just Pick a Sign: Optimizing Deep Multitask
Models with Gradient Sign Dropout", NeurIPS 2020.

Algorithm 1, for every coordinate of the combined gradient: the sign purity of the task gradients

    P = 1/2 (1 + sum_i grad_i / sum_i |grad_i|)                                          (eq. 1)

and one uniform draw U decide which sign survives: M_i = [P > U] [grad_i > 0] + [P < U] [grad_i < 0], with a leak
l (M_i <- l + (1 - l) M_i; l = 0 by default, the paper's setting without a leak), and the coordinate becomes
sum_i M_i grad_i. The masks act coordinate by coordinate, so the strategy needs the whole matrix, not only its Gram
matrix (`needs_whole_matrix`), and it has no task weights (no `{task}_weight` logs).

- Parameter mode and `aggregate(J)` on a plain array: each coordinate is one parameter (P over the rows as they
  come). Under several replicas the rows are all-reduced first, so every replica and one device compute the same
  masks from the same draws.
- Representation mode, the paper's setting (the GradDrop layer sits on the shared activations A): the purity is
  computed from the batch-marginalised signed gradients grad_i = sum_batch sign(A) * dL_i/dA (Sec. 3.2), one mask per
  feature coordinate applied to every example's gradient. Under several replicas these sums are all-reduced (a
  T x feature-size tensor), and the draws are per feature coordinate (not per example), so the masks, and the
  update, are one device's.
U comes from `seed` and the step (losses/weighting/seeding.py).
"""
import keras
from keras import ops

from losses.weighting.base import check_number
from losses.weighting.gradient import RandomGradientStrategy

PURITY_EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="mtl")
class GradDropStrategy(RandomGradientStrategy):
    """Gradient sign dropout (Chen et al. 2020, Algorithm 1).

    Args:
        tasks: task names.
        mode: "parameters" or "representation" (the paper's activation-level GradDrop).
        leak: share of every task's gradient that always passes, in [0, 1].
        seed: seed of the uniform thresholds (None: drawn and recorded).
    """

    needs_whole_matrix = True
    has_task_weights = False

    def __init__(self, tasks, mode="parameters", leak=0.0, seed=None, **kwargs):
        super().__init__(tasks, mode=mode, seed=seed, **kwargs)
        self.leak = check_number("leak", leak, minimum=0.0, maximum=1.0)

    def aggregate_blocks(self, blocks):
        combined = [ops.sum(block * self._masks(block, stream), axis=0) for stream, block in enumerate(blocks)]
        self._record()
        return combined

    def aggregate_representation(self, rows, features, sum_over_replicas):
        combined = []
        for stream, (row, feature) in enumerate(zip(rows, features)):
            signs = ops.sign(ops.cast(feature, "float32"))[None]
            marginal = sum_over_replicas(ops.sum(row * signs, axis=1))  # (T, *feature shape without the batch)
            combined.append(ops.sum(row * self._masks(marginal, stream)[:, None], axis=0))
        self._record()
        return combined

    def _masks(self, gradients, stream):
        """M_i (T, ...) with the leak, for gradients (T, ...), one draw per coordinate."""
        purity = 0.5 * (1.0 + ops.sum(gradients, axis=0) / (ops.sum(ops.abs(gradients), axis=0) + PURITY_EPSILON))
        threshold = keras.random.uniform(ops.shape(purity), seed=self.step_seed(stream))
        keep_positive = ops.greater(purity, threshold)[None]
        keep_negative = ops.less(purity, threshold)[None]
        masks = ops.cast(ops.logical_or(ops.logical_and(keep_positive, gradients > 0.0),
                                        ops.logical_and(keep_negative, gradients < 0.0)), "float32")
        return self.leak + (1.0 - self.leak) * masks

    def get_config(self):
        config = super().get_config()
        config["leak"] = self.leak
        return config
