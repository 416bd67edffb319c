"""Nash-MTL: Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task Learning as a Bargaining
Game", ICML 2022.

The update d = sum_t alpha_t g_t is the Nash bargaining solution of the tasks, characterised (Sec. 3 there) by the
bargaining condition

    G alpha = 1 / alpha   (elementwise),   i.e.   alpha_t (g_t . d) = 1 for every task, alpha > 0.

The paper (and its code) solves it with a sequence of convex problems in cvxpy, which cannot run inside a compiled
step. The condition is exactly the stationarity condition of the strictly convex, self-concordant problem

    alpha = argmin_{alpha > 0} 1/2 alpha^T G alpha - sum_t log alpha_t

so here it is solved by `iterations` (default 20) damped Newton steps, alpha <- alpha - Delta / (1 + lambda) with
Delta the Newton step and lambda the Newton decrement, which stay inside alpha > 0 and converge quadratically
(Nesterov & Nemirovski); they start from the previous step's solution (a Keras variable, saved and resumed with the
model), as the paper's code warm-starts. As in that code, G is first divided by its Frobenius norm (the weights are
those of the normalised problem), a tiny ridge (1e-5 I) keeps the problem bounded when gradients are collinear, and
the shared gradient is clipped to norm `max_norm` (1.0 there; 0 disables it). On the hand-made cases of
tests/test_gradient_weighting.py alpha_t (G alpha)_t = 1 holds to 1e-5 after 20 steps from alpha = 1.

Unlike the other gradient methods, the paper's Nash-MTL weights the whole loss (it backpropagates
sum_t alpha_t L_t): the task-specific parameters get alpha_t times their task's gradient (`objective_weights`).
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, check_number
from losses.weighting.gradient import GradientWeightingStrategy

RIDGE = 1e-5


def bargaining_weights(gram, start, iterations):
    """alpha > 0 with alpha * (G alpha) = 1, by damped Newton on 1/2 a^T G a - sum log a from `start`."""
    num_tasks = gram.shape[0]
    identity = ops.eye(num_tasks, dtype="float32")

    def step(_, weights):
        gradient = ops.matmul(gram, weights) - 1.0 / weights
        hessian = gram + identity / (weights[:, None] ** 2)
        newton = ops.solve(hessian, gradient[:, None])[:, 0]
        decrement = ops.sqrt(ops.maximum(ops.sum(gradient * newton), 0.0))
        return ops.maximum(weights - newton / (1.0 + decrement), EPSILON)

    return ops.fori_loop(0, iterations, step, start)


@keras.saving.register_keras_serializable(package="mtl")
class NashMTLStrategy(GradientWeightingStrategy):
    """Nash bargaining weights (Navon et al. 2022).

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
        max_norm: clip the shared gradient to this norm (0: no clipping).
        iterations: damped Newton steps per training step (warm-started).
    """

    def __init__(self, tasks, mode="parameters", max_norm=1.0, iterations=20, **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        self.max_norm = check_number("max_norm", max_norm, minimum=0.0)
        self.iterations = check_number("iterations", iterations, minimum=1, integer=True)

    def _create_state(self):
        super()._create_state()
        self.bargaining_solution = self._state_variable("bargaining_solution", initial_value=1.0)

    def _weights_from_gram(self, gram):
        frobenius = ops.sqrt(ops.maximum(ops.sum(gram * gram), EPSILON))
        normalized = gram / frobenius + RIDGE * ops.eye(self.num_tasks, dtype="float32")
        previous = ops.convert_to_tensor(self.bargaining_solution)
        start = ops.where(ops.all(ops.isfinite(previous)), previous, ops.ones_like(previous))
        weights = bargaining_weights(normalized, start, self.iterations)
        self.bargaining_solution.assign(weights)
        if self.max_norm <= 0.0:
            return weights
        norm = ops.sqrt(ops.maximum(ops.sum(weights * ops.matmul(gram, weights)), EPSILON))
        return weights * ops.minimum(1.0, self.max_norm / norm)

    def objective_weights(self):
        return ops.convert_to_tensor(self.bargaining_solution)

    def get_config(self):
        config = super().get_config()
        config.update(max_norm=self.max_norm, iterations=self.iterations)
        return config
