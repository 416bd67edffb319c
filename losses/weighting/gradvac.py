"""GradVac: Wang, Tsvetkov, Firat & Cao, "Gradient Vaccine: Investigating and Improving Multi-task Optimization in
Massively Multilingual Models", ICLR 2021.

Algorithm 1: like PCGrad, every task i meets the other tasks j in a random order, but instead of only removing
conflicts it pulls the cosine similarity phi_ij = cos(g_i', g_j) up to a target phi^_ij, an exponential moving
average of the observed similarities (Algorithm 1; the update follows from the law of sines, Sec. 3):

    if phi_ij < phi^_ij:
        g_i' <- g_i' + ||g_i'|| (phi^_ij sqrt(1 - phi_ij^2) - phi_ij sqrt(1 - phi^_ij^2))
                       / (||g_j|| sqrt(1 - phi^_ij^2)) g_j
    phi^_ij <- (1 - beta) phi^_ij + beta phi_ij            (beta = 0.01, the paper's; targets start at 0)

and the shared parameters follow sum_i g_i'. At the whole-model granularity (one parameter group, as LibMTL's
default) every quantity is a dot product of rows, so this implementation works from G = J J^T with g_i' = C_i^T J
(Gram-only: the whole matrix is not needed, and under several replicas G is all that is reduced). The paper's finer
granularities (one target per layer) would need one Gram matrix per parameter group and are not implemented. The
targets are a Keras variable (T x T), saved and resumed with the model; the random orders come from `seed` and
the step, the same on every replica.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON, check_number
from losses.weighting.gradient import RandomGradientStrategy, conflict_sweep


@keras.saving.register_keras_serializable(package="mtl")
class GradVacStrategy(RandomGradientStrategy):
    """Gradient vaccine towards moving-average similarity targets (Wang et al. 2021, Algorithm 1).

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
        beta: moving-average rate of the similarity targets, in [0, 1].
        seed: seed of the random task orders (None: drawn and recorded).
    """

    def __init__(self, tasks, mode="parameters", beta=0.01, seed=None, **kwargs):
        super().__init__(tasks, mode=mode, seed=seed, **kwargs)
        self.beta = check_number("beta", beta, minimum=0.0, maximum=1.0)

    def _create_state(self):
        super()._create_state()
        self.target_similarities = self._state_variable(
            "target_similarities", initial_value=0.0, shape=(self.num_tasks, self.num_tasks))

    def _weights_from_gram(self, gram):
        targets = ops.convert_to_tensor(self.target_similarities)
        identity = ops.eye(self.num_tasks, dtype="float32")
        target_changes = []

        def vaccinate(i, j, coefficients, one_hot_j):
            projected = ops.matmul(coefficients, gram)  # (g_i' . g_k) for every task k
            norm_i = ops.sqrt(ops.maximum(ops.sum(projected * coefficients), 0.0))
            norm_j = ops.sqrt(ops.maximum(ops.sum(ops.matmul(gram, one_hot_j) * one_hot_j), 0.0))
            dot = ops.sum(projected * one_hot_j)
            similarity = dot / (norm_i * norm_j + EPSILON)
            target = ops.sum(targets[i] * one_hot_j)
            scale = norm_i * (target * ops.sqrt(ops.maximum(1.0 - similarity**2, 0.0))
                              - similarity * ops.sqrt(ops.maximum(1.0 - target**2, 0.0)))
            scale = scale / (norm_j * ops.sqrt(ops.maximum(1.0 - target**2, 0.0)) + EPSILON)
            moved = (1.0 - self.beta) * target + self.beta * similarity
            pair = identity[i][:, None] * one_hot_j[None, :]
            target_changes.append(ops.where(ops.equal(j, i), 0.0, moved - target) * pair)
            return coefficients + ops.where(similarity < target, scale, 0.0) * one_hot_j

        weights = conflict_sweep(self, vaccinate)
        self.target_similarities.assign(targets + sum(target_changes))
        return weights

    def get_config(self):
        config = super().get_config()
        config["beta"] = self.beta
        return config
