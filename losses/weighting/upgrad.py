"""UPGrad: Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024 (TorchJD's default aggregator).

The update is the average of the task gradients, each first projected onto the dual cone of the rows of J,
{x : J x >= 0} (eq. 3 there), so it conflicts with no task: g_i . d >= 0 for every i. By Proposition 1 the
projection of J^T u is J^T w with

    w = argmin_{v >= u} v^T G v,   G = J J^T,

so the combination is Gram-only: alpha = sum_i w_i with u_i = e_i / T (equal preferences). As in TorchJD, G is
first divided by its trace (normalisation; a G with trace below `norm_eps` counts as 0, which gives the mean) and regularised with
`reg_eps` I. TorchJD solves the T quadratic programs with quadprog; here all T are solved together by `iterations`
(default 50) sweeps of projected Gauss-Seidel (exact coordinate minimisation, clipped at the bound u; Hildreth's
method), which converges for a positive definite G. On the hand-made cases of tests/test_gradient_weighting.py the
weights are within 1e-4 of the exact active-set solution and every g_i . d >= 0 to float32 precision. Two tasks that
do not conflict give the mean gradient.
"""
import keras
from keras import ops

from losses.weighting.base import check_number
from losses.weighting.gradient import GradientWeightingStrategy


def dual_cone_weights(gram, lower_bounds, iterations):
    """W (rows: problems) with W_i = argmin_{v >= U_i} v^T G v for every row U_i of `lower_bounds`."""
    num_tasks = gram.shape[0]
    diagonal = ops.diagonal(gram)

    def sweep(_, weights):
        for k in range(num_tasks):  # Gauss-Seidel: each coordinate sees the ones already updated in this sweep
            others = ops.matmul(weights, gram[:, k]) - weights[:, k] * diagonal[k]
            column = ops.maximum(lower_bounds[:, k], -others / diagonal[k])
            weights = ops.concatenate([weights[:, :k], column[:, None], weights[:, k + 1:]], axis=1)
        return weights

    return ops.fori_loop(0, iterations, sweep, lower_bounds)


@keras.saving.register_keras_serializable(package="mtl")
class UPGradStrategy(GradientWeightingStrategy):
    """Unconflicting projection of gradients (Quinton & Rey 2024).

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
        norm_eps: below this trace, G counts as zero (the update is then the mean gradient).
        reg_eps: ridge added to the normalised G.
        iterations: projected Gauss-Seidel sweeps.
    """

    def __init__(self, tasks, mode="parameters", norm_eps=1e-4, reg_eps=1e-4, iterations=50, **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        self.norm_eps = check_number("norm_eps", norm_eps, minimum=0.0)
        self.reg_eps = check_number("reg_eps", reg_eps, minimum=0.0, open_minimum=True)
        self.iterations = check_number("iterations", iterations, minimum=1, integer=True)

    def _weights_from_gram(self, gram):
        trace = ops.trace(gram)
        identity = ops.eye(self.num_tasks, dtype="float32")
        # TorchJD's normalisation: a G of trace below norm_eps counts as 0 (then only the ridge is left, and the
        # solution is the bound itself: the mean gradient)
        normalized = ops.where(trace < self.norm_eps, 0.0, gram / ops.maximum(trace, self.norm_eps))
        normalized = normalized + self.reg_eps * identity
        return ops.sum(dual_cone_weights(normalized, identity / self.num_tasks, self.iterations), axis=0)

    def get_config(self):
        config = super().get_config()
        config.update(norm_eps=self.norm_eps, reg_eps=self.reg_eps, iterations=self.iterations)
        return config
