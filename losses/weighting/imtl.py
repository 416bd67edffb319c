"""IMTL: Liu, Li, Kuang, Xue, Chen, Yang, Liao & Zhang, "Towards Impartial Multi-task Learning", ICLR 2021.

Three strategies of the paper, one idea: impartiality between tasks.

- `imtl_l` (IMTL-L, Sec. 3.2, loss balance; loss level): every loss is scaled by a learned e^{s_t} and the network
  minimises sum_t (e^{s_t} L_t - s_t) with respect to the s_t as well (s_t trainable, initialised to 0), which
  drives every scaled loss e^{s_t} L_t towards 1. Effective weight d total / d L_t = e^{s_t}.
- `imtl_g` (IMTL-G, Sec. 3.1, gradient balance; gradient level): the shared update g = sum_t alpha_t g_t has equal
  projections onto every task's unit gradient u_t = g_t / ||g_t|| (g . u_1 = g . u_t for all t), with sum alpha = 1.
  With D = [g_1 - g_t]_{t>1} and U = [u_1 - u_t]_{t>1} (rows) the closed form is

      alpha_{2:T} = g_1 U^T (D U^T)^{-1},   alpha_1 = 1 - sum_{t>1} alpha_t

  and every dot product is an entry of G = J J^T divided by norms sqrt(G_tt): Gram-only, exact (one (T-1)x(T-1)
  linear solve, no iteration).
- `imtl` (IMTL, the hybrid of Sec. 3.3): the rows are the gradients of the scaled losses e^{s_t} L_t - s_t, combined
  by IMTL-G for the shared parameters; the task-specific parameters and the s_t get the gradient of
  sum_t (e^{s_t} L_t - s_t). `{task}_weight` is alpha_t (the weight of the scaled loss's gradient).
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, WeightingStrategy
from losses.weighting.gradient import GradientWeightingStrategy


def impartial_weights(gram):
    """IMTL-G's alpha from G: the combination with equal projections onto every task's unit gradient."""
    num_tasks = gram.shape[0]
    if num_tasks == 1:
        return ops.ones((1,), dtype="float32")
    norms = ops.sqrt(ops.maximum(ops.diagonal(gram), EPSILON))
    dot_unit = gram / norms[None, :]  # [i, j] = g_i . u_j
    first_row = dot_unit[0, 0] - dot_unit[0, 1:]  # g_1 U^T
    # (D U^T)[a, b] = (g_1 - g_a) . (u_1 - u_b), a, b > 1
    d_u = dot_unit[0, 0] - dot_unit[0, 1:][None, :] - dot_unit[1:, 0][:, None] + dot_unit[1:, 1:]
    rest = ops.solve(ops.transpose(d_u), first_row[:, None])[:, 0]  # row vector times the inverse
    return ops.concatenate([ops.reshape(1.0 - ops.sum(rest), (1,)), rest])


def _scaled_losses(strategy, loss_vector):
    scales = ops.convert_to_tensor(strategy.loss_scales)
    return ops.exp(scales) * loss_vector - scales


def _create_loss_scales(strategy):
    return strategy._state_variable("loss_scales", initial_value=0.0, trainable=True)


@keras.saving.register_keras_serializable(package="mtl")
class ImtlLStrategy(WeightingStrategy):
    """IMTL-L: total = sum_t e^{s_t} L_t - s_t with learned s_t (Liu et al. 2021, Sec. 3.2)."""

    def _create_state(self):
        self.loss_scales = _create_loss_scales(self)

    def _total(self, loss_vector):
        return ops.sum(_scaled_losses(self, loss_vector))

    def _weight_vector(self, loss_vector):
        return ops.exp(ops.convert_to_tensor(self.loss_scales))


@keras.saving.register_keras_serializable(package="mtl")
class ImtlGStrategy(GradientWeightingStrategy):
    """IMTL-G: equal projections of the shared update on the unit task gradients (Liu et al. 2021, Sec. 3.1).

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
    """

    def _weights_from_gram(self, gram):
        return impartial_weights(gram)


@keras.saving.register_keras_serializable(package="mtl")
class ImtlStrategy(ImtlGStrategy):
    """IMTL: IMTL-G on the gradients of IMTL-L's scaled losses (Liu et al. 2021, Sec. 3.3)."""

    def _create_state(self):
        super()._create_state()
        self.loss_scales = _create_loss_scales(self)

    def task_objectives(self, loss_vector):
        return _scaled_losses(self, loss_vector)
