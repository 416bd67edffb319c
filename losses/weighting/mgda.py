"""MGDA and MGDA-UB: Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018.

The shared parameters follow the minimum-norm point of the convex hull of the task gradients (eq. 3, the
multiple-gradient descent algorithm of Désidéri, whose direction decreases every task's loss unless the point is 0,
i.e. the parameters are Pareto-stationary):

    alpha = argmin_{alpha in simplex} || sum_t alpha_t g_t ||^2 = argmin alpha^T G alpha,   G = J J^T

solved as the paper does (Algorithm 2 and its code): start from the best pair's two-point solution, then Frank-Wolfe
on the simplex, each step moving towards the vertex t = argmin_t (G alpha)_t with the exact line search of the
two-point problem (Algorithm 1):

    gamma = clip(((c - g_t) . c) / ||c - g_t||^2, 0, 1),   c = alpha^T J,   alpha <- (1 - gamma) alpha + gamma e_t

Two tasks: the start is the exact answer, alpha_1 = clip(((g_2 - g_1) . g_2) / ||g_1 - g_2||^2, 0, 1) (Algorithm 1);
three tasks: exact when the optimum lies on an edge, and `iterations` steps (default 50) otherwise; on the random
3-task cases of tests/test_gradient_weighting.py the norm of the combination is within 1e-3 (relative) of the exact
minimum (an active-set solution in float64).

MGDA-UB (Sec. 3.3, Theorem 1): the same problem on the gradients with respect to the shared representation, an upper
bound of the parameter problem that costs one encoder backward pass: `mgda_ub` is this strategy with
mode="representation" (losses.weighting.ALIASES). `normalization="l2"` solves for the unit gradients g_t / ||g_t||,
the normalisation of the paper's code (its "l2"; the loss-based ones need the losses, which the hook does not pass);
the default "none" is the paper's equation. The task-specific parameters get their own tasks' gradients (Algorithm 2,
line 2). The weights sum to 1: the step is about 1/T of equal weighting's, as in the paper.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, check_number
from losses.weighting.gradient import GradientWeightingStrategy

NORMALIZATIONS = ("none", "l2")


def best_pair_weights(gram):
    """The minimum-norm point over the edges of the simplex: every pair's two-point solution (Algorithm 1),
    the best pair kept (the start of the paper's code)."""
    num_tasks = gram.shape[0]
    diagonal = ops.diagonal(gram)
    first, second = diagonal[:, None], diagonal[None, :]
    denominator = first - 2.0 * gram + second  # ||g_i - g_j||^2
    share = ops.where(denominator > EPSILON, ops.clip((second - gram) / ops.maximum(denominator, EPSILON), 0.0, 1.0),
                      1.0)  # weight of g_i on the edge (i, j)
    norms = share**2 * first + 2.0 * share * (1.0 - share) * gram + (1.0 - share) ** 2 * second
    norms = ops.where(ops.eye(num_tasks) > 0, ops.max(norms) + ops.max(diagonal) + 1.0, norms)
    best = ops.argmin(ops.reshape(norms, (-1,)))
    i, j = best // num_tasks, best % num_tasks
    share_ij = ops.reshape(share, (-1,))[best]
    return share_ij * ops.one_hot(i, num_tasks, dtype="float32") + (1.0 - share_ij) * ops.one_hot(
        j, num_tasks, dtype="float32")


def min_norm_weights(gram, iterations):
    """argmin_{alpha in simplex} alpha^T G alpha: Frank-Wolfe with exact line search (Sener & Koltun Alg. 1-2),
    from the best pair."""
    num_tasks = gram.shape[0]
    if num_tasks == 1:
        return ops.ones((1,), dtype="float32")

    def step(_, weights):
        gram_weights = ops.matmul(gram, weights)  # (G alpha)_t = g_t . c
        vertex = ops.argmin(gram_weights)
        one_hot = ops.one_hot(vertex, num_tasks, dtype="float32")
        norm_c = ops.sum(weights * gram_weights)  # c . c
        cross = ops.sum(one_hot * gram_weights)  # c . g_t
        norm_vertex = ops.sum(one_hot * ops.matmul(gram, one_hot))  # g_t . g_t
        denominator = norm_c - 2.0 * cross + norm_vertex  # ||c - g_t||^2
        gamma = ops.where(denominator > EPSILON, ops.clip((norm_c - cross) / ops.maximum(denominator, EPSILON),
                                                          0.0, 1.0), 0.0)
        return (1.0 - gamma) * weights + gamma * one_hot

    return ops.fori_loop(0, iterations, step, best_pair_weights(gram))


@keras.saving.register_keras_serializable(package="mtl")
class MGDAStrategy(GradientWeightingStrategy):
    """Minimum-norm combination of the task gradients (Sener & Koltun 2018, eq. 3, Algorithms 1-2).

    Args:
        tasks: task names.
        mode: "parameters" (MGDA) or "representation" (MGDA-UB).
        normalization: "none" (the equation) or "l2" (unit task gradients, the paper's code).
        iterations: Frank-Wolfe steps (exact for two tasks after one).
    """

    def __init__(self, tasks, mode="parameters", normalization="none", iterations=50, **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {list(NORMALIZATIONS)}; got {normalization!r}.")
        self.normalization = normalization
        self.iterations = check_number("iterations", iterations, minimum=1, integer=True)

    def _weights_from_gram(self, gram):
        if self.normalization == "none":
            return min_norm_weights(gram, self.iterations)
        norms = ops.sqrt(ops.maximum(ops.diagonal(gram), EPSILON))
        unit_weights = min_norm_weights(gram / (norms[:, None] * norms[None, :]), self.iterations)
        return unit_weights / norms  # sum_t w_t g_t / ||g_t||

    def get_config(self):
        config = super().get_config()
        config.update(normalization=self.normalization, iterations=self.iterations)
        return config
