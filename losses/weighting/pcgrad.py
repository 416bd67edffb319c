"""PCGrad: Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task Learning", NeurIPS 2020.

Algorithm 1: for every task i, g_i' starts as g_i and meets the other tasks j in a random order; where they
conflict (g_i' . g_j < 0) it is projected onto the normal plane of g_j:

    g_i' <- g_i' - (g_i' . g_j) / ||g_j||^2 g_j

and the shared parameters follow sum_i g_i'. Every g_i' is a combination of the rows, g_i' = C_i^T J, and each
projection needs only dot products of rows, so the strategy works from G = J J^T: C_i starts at e_i, a projection
subtracts (C_i^T G e_j / G_jj) e_j, and alpha = sum_i C_i (Gram-only; exact, no solver). The shuffles are drawn
from `seed` and the step (losses/weighting/seeding.py): every replica and one device draw the same orders. Two
tasks: the order does not matter and the result is the closed form above.
"""
import keras
from keras import ops

from losses.weighting.base import EPSILON
from losses.weighting.gradient import RandomGradientStrategy, conflict_sweep


@keras.saving.register_keras_serializable(package="mtl")
class PCGradStrategy(RandomGradientStrategy):
    """Projecting conflicting gradients (Yu et al. 2020, Algorithm 1).

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
        seed: seed of the random task orders (None: drawn and recorded).
    """

    def _weights_from_gram(self, gram):
        def project(i, j, coefficients, one_hot_j):
            dot = ops.sum(ops.matmul(coefficients, gram) * one_hot_j)  # g_i' . g_j
            norm_j = ops.sum(ops.matmul(gram, one_hot_j) * one_hot_j)  # ||g_j||^2
            return coefficients - ops.where(dot < 0.0, dot / ops.maximum(norm_j, EPSILON), 0.0) * one_hot_j

        return conflict_sweep(self, project)
