"""The gradient hook: the base class of the weighting strategies that combine per-task gradients (DESIGN.md,
"Losses and task weighting").

Such a strategy declares `needs_task_gradients = True`; the model's train step (one per backend:
losses/weighting/tensorflow_steps.py, losses/weighting/jax_steps.py) then computes the rows of the (T, P) matrix J,
row t = d l_t / d (shared parameters) or, in the representation mode, d l_t / d (shared features), where
l_t = `task_objectives(L)`_t is task t's objective (its loss L_t for most methods; log L_t for DB-MTL, the scaled
e^s_t L_t - s_t for IMTL), and asks the strategy for the shared part of the update:

- `aggregate(J)` maps a (T, P) float32 matrix to the combined (P,) gradient; it works on a plain array outside any
  model (`losses.weighting.get("mgda", tasks).aggregate(J)`), which is how the maths is tested;
- methods whose combination depends on the T x T Gram matrix G = J J^T only also implement
  `weights_from_gram(G) -> alpha` (T,), the combined gradient being alpha^T J. The train step uses it where it can:
  G is summed block by block (one block per variable or feature tensor, never one flat (T, P) copy), the combination
  is formed block by block, and under several replicas only G (representation mode) or the rows (parameter mode)
  are all-reduced;
- methods that need the whole matrix (`needs_whole_matrix = True`: GradDrop's coordinate-wise signs, DB-MTL's
  moving averages of the rows) implement `aggregate_blocks(blocks)` instead.

Modes (`mode=` option of every gradient strategy):
- "parameters": the rows are the gradients with respect to the shared parameters (the trainable variables between
  the inputs and the shared representation: the encoder). T backward passes through the encoder.
- "representation": the rows are the gradients with respect to the shared representation (every output of the
  sub-model named "encoder" that a task uses; Sener & Koltun's MGDA-UB bound, LibMTL's `rep_grad`); the shared
  parameters then get one backward pass of the encoder with the combined feature gradient as its cotangent, so the
  step costs about as much as equal weighting's.
The task-specific parameters (and a strategy's own trainable variables) get the ordinary gradient of
sum_t c_t l_t, c = `objective_weights()` (ones but for Nash-MTL, whose paper weights the whole loss).

`{task}_weight` logs alpha_t for the methods that have weights (`has_task_weights`); GradDrop has none, and its logs
leave the key out.
"""
import keras
from keras import ops

from losses.weighting.base import WeightingStrategy
from losses.weighting.gram import combine_blocks, gram_matrix
from losses.weighting.seeding import StepSeed, resolve_seed

MODES = ("parameters", "representation")


class GradientWeightingStrategy(WeightingStrategy):
    """A strategy that combines the per-task gradients (see the module docstring).

    Args:
        tasks: task names.
        mode: "parameters" (gradients of the shared parameters) or "representation" (gradients of the shared
            features; one encoder backward pass).
    """

    needs_task_gradients = True
    #: True: the combination needs the rows themselves (aggregate_blocks), not only their Gram matrix
    needs_whole_matrix = False
    #: True: every trainable variable gets the gradient of the total loss (`combine`), and the rows only update the
    #: strategy's state (GradNorm)
    combines_through_total_loss = False
    #: True: state shaped like the rows (`build_row_state`, called by the model's compile)
    has_row_state = False
    #: the modes this strategy accepts, and why a mode left out cannot be
    modes = MODES
    mode_refusal = ""

    def __init__(self, tasks, mode="parameters", **kwargs):
        super().__init__(tasks, **kwargs)
        if mode not in self.modes:
            raise ValueError(f"`mode` of {type(self).__name__} must be one of {list(self.modes)}; got {mode!r}."
                             + (f" {self.mode_refusal}" if self.mode_refusal else ""))
        self.mode = mode

    def _create_state(self):
        # alpha of the latest aggregation (the `{task}_weight` logs) and how many aggregations ran (the step of the
        # random methods' draws)
        self.gradient_weights = self._state_variable("gradient_weights", initial_value=1.0)
        self.aggregation_steps = self._state_variable("aggregation_steps", initial_value=0.0, shape=())

    # ---- the hook ------------------------------------------------------------------------------------------------
    def aggregate(self, jacobian):
        """The combined gradient (P,) of a (T, P) matrix of per-task gradients (row t: task t)."""
        jacobian = ops.convert_to_tensor(jacobian, dtype="float32")
        if len(jacobian.shape) != 2 or jacobian.shape[0] != self.num_tasks:
            raise ValueError(f"`jacobian` must have shape ({self.num_tasks}, P), one row per task of "
                             f"{list(self.tasks)}; got {tuple(jacobian.shape)}.")
        return self.aggregate_blocks([jacobian])[0]

    def aggregate_blocks(self, blocks):
        """The combined gradient of J given as column blocks (a list of (T, n_b) float32 matrices, e.g. one per
        variable): a list of (n_b,) vectors."""
        return combine_blocks(self.weights_from_gram(gram_matrix(blocks)), blocks)

    def aggregate_representation(self, rows, features, sum_over_replicas):
        """Representation mode of the whole-matrix methods: `rows` holds, per feature tensor, the (T, *feature
        shape) float32 gradients of this replica's samples; returns the cotangents (feature shapes).
        `sum_over_replicas` sums a tensor over the replicas (identity on one device)."""
        blocks = [ops.reshape(row, (self.num_tasks, -1)) for row in rows]
        combined = self.aggregate_blocks(blocks)
        return [ops.reshape(vector, ops.shape(feature)) for vector, feature in zip(combined, features)]

    def weights_from_gram(self, gram):
        """alpha (T,) such that the combined gradient is alpha^T J, from G = J J^T alone; records them for the
        `{task}_weight` logs."""
        if self.needs_whole_matrix:
            raise NotImplementedError(f"{type(self).__name__} needs the whole matrix of per-task gradients, not only "
                                      f"its Gram matrix: call aggregate(jacobian).")
        gram = ops.convert_to_tensor(gram, dtype="float32")
        if tuple(gram.shape) != (self.num_tasks, self.num_tasks):
            raise ValueError(f"`gram` must have shape ({self.num_tasks}, {self.num_tasks}); got {tuple(gram.shape)}.")
        weights = ops.stop_gradient(self._weights_from_gram(gram))
        self._record(weights)
        return weights

    def task_objectives(self, loss_vector):
        """l_t, whose gradients are the rows (default: the losses themselves)."""
        return loss_vector

    def objective_weights(self):
        """c_t of the task-specific parameters' gradient sum_t c_t d l_t (default ones)."""
        return ops.ones((self.num_tasks,), dtype="float32")

    def build_row_state(self, block_sizes):
        """Creates state shaped like the rows (DB-MTL's moving averages), for columns in blocks of `block_sizes`;
        called by the model's compile (before its variables are tracked and loaded)."""

    def train_step(self, model, *args):
        """One training step of `model` with this strategy; args as the backend's trainer passes them."""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            from losses.weighting.tensorflow_steps import task_gradient_train_step

            return task_gradient_train_step(model, args[-1], self)
        if backend == "jax":
            from losses.weighting.jax_steps import task_gradient_train_step

            return task_gradient_train_step(model, args[0], args[1], self)
        raise NotImplementedError(
            f"{type(self).__name__} needs one gradient per task; its train step exists for the 'tensorflow' and "
            f"'jax' Keras backends, and the backend is {backend!r}.")

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config

    # ---- subclass hooks ------------------------------------------------------------------------------------------
    def _weights_from_gram(self, gram):
        raise NotImplementedError

    def _total(self, loss_vector):
        return ops.sum(ops.stop_gradient(self.objective_weights()) * self.task_objectives(loss_vector))

    def _weight_vector(self, loss_vector):
        return ops.convert_to_tensor(self.gradient_weights)

    def _record(self, weights=None):
        """Ends an aggregation: keeps its weights (if it has some) for the logs and advances the step."""
        if weights is not None:
            self.gradient_weights.assign(weights)
        self.aggregation_steps.assign(self.aggregation_steps + 1.0)


class RandomGradientStrategy(GradientWeightingStrategy):
    """A gradient strategy that draws random numbers (see losses/weighting/seeding.py).

    Args:
        seed: integer seed of the draws; None draws one (recorded in the config).
    """

    def __init__(self, tasks, mode="parameters", seed=None, **kwargs):
        super().__init__(tasks, mode=mode, **kwargs)
        self.seed = resolve_seed(seed)

    def step_seed(self, stream=0):
        """The seed of this aggregation's draws (stream: one per independent draw of a step)."""
        return StepSeed(self.seed, self.aggregation_steps, stream)

    def random_task_orders(self):
        """(T, T) int32: row i is a random permutation of the tasks, the order in which task i meets the others
        (PCGrad's and GradVac's shuffles, one per task)."""
        keys = keras.random.uniform((self.num_tasks, self.num_tasks), seed=self.step_seed())
        return ops.argsort(keys, axis=-1)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


def conflict_sweep(strategy, update):
    """The sweep of PCGrad and GradVac: each task i meets every other task j in its own random order and its
    gradient g_i' (held as coefficients over the rows, g_i' = c^T J) is updated (from the Gram matrix) by
    `update(i, j, coefficients, one_hot_j) -> coefficients` (tensors; i and j python/int tensors). Returns the
    summed coefficients: the weights of sum_i g_i'."""
    orders = strategy.random_task_orders()
    identity = ops.eye(strategy.num_tasks, dtype="float32")
    total = ops.zeros((strategy.num_tasks,), dtype="float32")
    for i in range(strategy.num_tasks):
        coefficients = identity[i]
        for position in range(strategy.num_tasks):
            j = orders[i, position]
            one_hot_j = ops.one_hot(j, strategy.num_tasks, dtype="float32")
            updated = update(i, j, coefficients, one_hot_j)
            coefficients = ops.where(ops.equal(j, i), coefficients, updated)  # a task does not meet itself
        total = total + coefficients
    return total
