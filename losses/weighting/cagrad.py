"""CAGrad: Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021.

The update d maximises the worst task's improvement min_t g_t . d within a ball around the average gradient
g_0 = mean_t g_t, ||d - g_0|| <= c ||g_0|| (Sec. 3.2). Its dual (Algorithm 1) is a problem over the simplex:

    w = argmin_{w in simplex} g_w . g_0 + sqrt(phi) ||g_w||,   g_w = sum_t w_t g_t,   phi = c^2 ||g_0||^2
    d = g_0 + sqrt(phi) / ||g_w|| g_w

divided by (1 + c^2) with `rescale=1` (the paper's code default; 0: no rescaling, 2: divided by 1 + c). Every term
is a quadratic form of G = J J^T, so the strategy is Gram-only: alpha = (1/T + sqrt(phi) w / ||g_w||) / rescaling.
c = 0 gives the mean gradient exactly; c = 0.4 is the paper's setting for its multi-task benchmarks.

The paper solves for w with scipy's SLSQP; here `iterations` (default 100) steps of projected gradient descent on
the simplex (sort-based Euclidean projection), on G divided by its mean diagonal (the problem is homogeneous in G,
so the step size needs no tuning), with the step 1 / L of the local curvature bound
L = lambda_max(G) (1 + sqrt(phi) / ||g_w||) (lambda_max bounded by the trace). On the hand-made two- and three-task
cases of tests/test_gradient_weighting.py the objective is within 1e-4 (relative) of a fine grid search's minimum.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, check_number
from losses.weighting.gradient import GradientWeightingStrategy

RESCALINGS = (0, 1, 2)


def project_onto_simplex(vector):
    """Euclidean projection of a vector onto the probability simplex (sort-based; Held, Wolfe & Crowder 1974)."""
    size = vector.shape[0]
    descending = ops.flip(ops.sort(vector), axis=0)
    cumulative = ops.cumsum(descending) - 1.0
    positions = ops.arange(1, size + 1, dtype="float32")
    support = ops.cast(descending - cumulative / positions > 0.0, "float32")
    count = ops.sum(support)  # the support is a prefix of the sorted entries: its length rho
    threshold = ops.sum(ops.where(ops.equal(positions, count), cumulative, 0.0)) / count
    return ops.maximum(vector - threshold, 0.0)


def conflict_averse_dual(gram, radius, iterations):
    """w minimising w^T G b + radius sqrt(w^T G w) on the simplex (b uniform), by projected gradient descent."""
    num_tasks = gram.shape[0]
    mean_gradient_products = ops.mean(gram, axis=1)  # G b
    curvature = ops.trace(gram)

    def step(_, weights):
        combined_norm = ops.sqrt(ops.maximum(ops.sum(weights * ops.matmul(gram, weights)), EPSILON))
        gradient = mean_gradient_products + radius * ops.matmul(gram, weights) / combined_norm
        step_size = 1.0 / (curvature * (1.0 + radius / combined_norm) + EPSILON)
        return project_onto_simplex(weights - step_size * gradient)

    return ops.fori_loop(0, iterations, step, ops.full((num_tasks,), 1.0 / num_tasks, dtype="float32"))


@keras.saving.register_keras_serializable(package="mtl")
class CAGradStrategy(GradientWeightingStrategy):
    """Conflict-averse gradient descent (Liu et al. 2021, Algorithm 1).

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
        c: radius of the ball around the mean gradient, relative to its norm (>= 0; 0 = the mean gradient).
        rescale: 0 (none), 1 (divide by 1 + c^2, the paper's code default) or 2 (divide by 1 + c).
        iterations: projected-gradient steps of the dual problem.
    """

    def __init__(self, tasks, mode="parameters", c=0.4, rescale=1, iterations=100, **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        self.c = check_number("c", c, minimum=0.0)
        if rescale not in RESCALINGS or isinstance(rescale, bool):
            raise ValueError(f"`rescale` must be one of {list(RESCALINGS)}; got {rescale!r}.")
        self.rescale = rescale
        self.iterations = check_number("iterations", iterations, minimum=1, integer=True)

    def _weights_from_gram(self, gram):
        scale = ops.maximum(ops.mean(ops.diagonal(gram)), EPSILON)
        normalized = gram / scale  # the dual is homogeneous in G: the same w, a fixed step size
        radius = self.c * ops.sqrt(ops.maximum(ops.mean(normalized), 0.0))  # sqrt(phi) = c ||g_0||
        weights = conflict_averse_dual(normalized, radius, self.iterations)
        combined_norm = ops.sqrt(ops.maximum(ops.sum(weights * ops.matmul(normalized, weights)), EPSILON))
        alpha = 1.0 / self.num_tasks + radius / combined_norm * weights
        return alpha / {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]

    def get_config(self):
        config = super().get_config()
        config.update(c=self.c, rescale=self.rescale, iterations=self.iterations)
        return config
