"""The per-task gradient matrix J (T x P) held as column blocks, one (T, n_b) matrix per variable or feature tensor,
never one flat copy: its Gram matrix and the combinations alpha^T J, for the gradient strategies and the train steps
(which import this module, not the strategies')."""
from keras import ops


def gram_matrix(blocks):
    """G = J J^T (float32, T x T) of J given as column blocks: a list of (T, n_b) matrices."""
    return sum(ops.matmul(block, ops.transpose(block)) for block in blocks)


def combine_blocks(weights, blocks):
    """alpha^T J for J given as column blocks: a list of (n_b,) vectors."""
    return [ops.matmul(weights[None, :], block)[0] for block in blocks]
