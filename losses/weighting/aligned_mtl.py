"""Aligned-MTL: Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component Alignment for Multi-Task
Learning", CVPR 2023.

The task gradients are aligned to orthogonal components of equal magnitude before they are summed, which removes
both conflicts and dominance (a stable, condition-number-1 linear system; Sec. 4). Algorithm 1: with the
eigendecomposition of the Gram matrix G = J J^T = V Lambda V^T over its non-zero eigenvalues (rank R),

    B = sqrt(lambda_R) V Lambda^{-1/2} V^T       (lambda_R: the smallest non-zero eigenvalue)
    alpha = B w,   w = 1 (equal task preferences)

and the shared update is alpha^T J; the aligned rows B J are orthogonal with equal norms sqrt(lambda_R)
((B J)(B J)^T = lambda_R I on the range). Gram-only and exact (one T x T `eigh`); eigenvalues below
max(lambda) T eps(float32) count as zero, as in the authors' code. The representation mode is the paper's
Aligned-MTL-UB.
"""
import keras
from keras import ops

from losses.weighting.gradient import GradientWeightingStrategy

FLOAT32_EPSILON = 1.1920929e-07


def aligned_weights(gram):
    """alpha = B 1 with B = sqrt(lambda_min) V Lambda^{-1/2} V^T over G's non-zero eigenvalues."""
    eigenvalues, eigenvectors = ops.eigh(gram)
    tolerance = ops.max(eigenvalues) * gram.shape[0] * FLOAT32_EPSILON
    kept = eigenvalues > tolerance
    smallest = ops.min(ops.where(kept, eigenvalues, ops.max(eigenvalues)))
    inverse_roots = ops.where(kept, 1.0 / ops.sqrt(ops.where(kept, eigenvalues, 1.0)), 0.0)
    balance = ops.sqrt(ops.maximum(smallest, 0.0)) * ops.matmul(eigenvectors * inverse_roots[None, :],
                                                                ops.transpose(eigenvectors))
    return ops.where(ops.any(kept), ops.sum(balance, axis=1), ops.zeros_like(eigenvalues))


@keras.saving.register_keras_serializable(package="mtl")
class AlignedMTLStrategy(GradientWeightingStrategy):
    """Aligned-MTL (Senushkin et al. 2023, Algorithm 1); representation mode = Aligned-MTL-UB.

    Args:
        tasks: task names.
        mode: "parameters" or "representation".
    """

    def _weights_from_gram(self, gram):
        return aligned_weights(gram)
