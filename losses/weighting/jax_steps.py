"""The JAX train step of the strategies that combine per-task gradients (losses/weighting/gradient.py), the
counterpart of `losses.weighting.tensorflow_steps.task_gradient_train_step`, inside Keras' stateless JAX
`train_step(state, data) -> (logs, state)` (compiled by the trainer with jax.jit unless `run_eagerly`).

The forward pass runs under `keras.StatelessScope` with the state's values (as Keras' own `stateless_call` does),
inside `jax.vjp`, so that every gradient is one pull-back of the same recorded pass:
- parameter modes: vjp of (shared variables, other variables) -> [l_1 .. l_T, total] (the task objectives and the
  strategy's total); rows = the shared part of the pull-back of e_t, one per task;
- representation mode: vjp of the trunk (shared variables -> features) and of the head (features, other
  variables -> objectives); rows = the feature part of the head's pull-back of e_t; the shared variables get the
  trunk's pull-back of the combined feature gradient (one encoder backward pass).
Then, as in the TensorFlow step: GradNorm (`combines_through_total_loss`) updates its weights from G and every
variable gets the gradient of the total; the other strategies give the shared gradient through
`weights_from_gram(G)` (G summed block by block) or `aggregate_blocks` / `aggregate_representation`, and the other
variables get the pull-back of c = `objective_weights()`. Cotangents carry the optimizer's loss scale; rows are
unscaled and float32 before G. XLA drops the parts of each pull-back that are not used.

Under keras.distribution (DataParallel) the batch is one sharded global array: every row, G and combination is the
global batch's already, so every method matches one device with no code of its own.
"""
import keras
from keras import ops

from losses.weighting.gram import combine_blocks, gram_matrix


def task_gradient_train_step(model, state, data, strategy=None):
    """One training step of `model` with the gradient strategy (default `model.weighting`); returns (logs, state)."""
    import jax
    import jax.numpy as jnp

    strategy = model.weighting if strategy is None else strategy
    trainable_values, non_trainable_values, optimizer_values, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)
    num_tasks = strategy.num_tasks
    representation = strategy.mode == "representation"
    if representation:
        trunk, head = model.representation_split()
        shared = list(trunk.trainable_variables)
    else:
        shared = list(model.gradnorm_shared_variables() if strategy.mode == "last_shared_layer"
                      else model.shared_variables())
    position = {id(variable): index for index, variable in enumerate(trainable)}
    shared_index = [position[id(variable)] for variable in shared]
    other_index = [index for index in range(len(trainable)) if index not in set(shared_index)]

    def merged(shared_values, other_values):
        values = list(trainable_values)
        for index, value in zip(shared_index, shared_values):
            values[index] = value
        for index, value in zip(other_index, other_values):
            values[index] = value
        return values

    def stateless(values, non_trainable_now, compute):
        """compute() under the variables' given values; returns (its result, the non-trainable values after)."""
        mapping = list(zip(trainable, values)) + list(zip(non_trainable, non_trainable_now))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            result = compute()
        return result, [scope.get_current_value(variable) for variable in non_trainable]

    def objectives_and_total(y_pred):
        task_losses = model.compute_task_losses(x, y, y_pred)
        total = strategy.combine(task_losses)
        objectives = strategy.task_objectives(strategy._loss_vector(task_losses))
        return ops.concatenate([objectives, ops.reshape(total, (1,))]), task_losses

    def trunk_pass(shared_values):
        features, updated = stateless(merged(shared_values, [trainable_values[i] for i in other_index]),
                                      non_trainable_values, lambda: keras.tree.flatten(trunk(x, training=True)))
        return features, updated

    def head_pass(features, other_values, non_trainable_now):
        def compute():
            y_pred = head(features, training=True)
            return objectives_and_total(y_pred) + (y_pred,)

        (vector, task_losses, y_pred), updated = stateless(
            merged([trainable_values[i] for i in shared_index], other_values), non_trainable_now, compute)
        return vector, (task_losses, y_pred, updated)

    def full_pass(shared_values, other_values):
        def compute():
            y_pred = model(x, training=True)
            return objectives_and_total(y_pred) + (y_pred,)

        (vector, task_losses, y_pred), updated = stateless(merged(shared_values, other_values),
                                                           non_trainable_values, compute)
        return vector, (task_losses, y_pred, updated)

    other_values = [trainable_values[i] for i in other_index]
    if representation:
        features, trunk_pullback, after_trunk = jax.vjp(trunk_pass, [trainable_values[i] for i in shared_index],
                                                        has_aux=True)
        vector, pullback, (task_losses, y_pred, after_forward) = jax.vjp(
            lambda f, o: head_pass(f, o, after_trunk), features, other_values, has_aux=True)
    else:
        vector, pullback, (task_losses, y_pred, after_forward) = jax.vjp(
            full_pass, [trainable_values[i] for i in shared_index], other_values, has_aux=True)

    with keras.StatelessScope(state_mapping=list(zip(model.optimizer.variables, optimizer_values))):
        loss_scale = model.optimizer.scale_loss(jnp.ones((), "float32"))
    unit = jnp.eye(num_tasks + 1, dtype=vector.dtype) * loss_scale
    targets = features if representation else [trainable_values[i] for i in shared_index]
    rows = [[jnp.asarray(row, jnp.float32) / loss_scale for row in pullback(unit[t])[0]] for t in range(num_tasks)]

    # The strategy reads and moves its state under this step's values.
    mapping = list(zip(trainable, trainable_values)) + list(zip(non_trainable, after_forward))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        weights = None
        if strategy.combines_through_total_loss:  # GradNorm: the rows only move the weights, through G's diagonal
            squared_norms = jnp.stack([sum(jnp.sum(jnp.square(row)) for row in task_rows) for task_rows in rows])
            weights = strategy.weights_from_gram(jnp.diag(squared_norms))
            shared_part, other_part = pullback(unit[num_tasks])
        else:
            stacked = [jnp.stack([rows[t][k] for t in range(num_tasks)]) for k in range(len(targets))]
            blocks = [jnp.reshape(row, (num_tasks, -1)) for row in stacked]
            if strategy.needs_whole_matrix and representation:
                combined = strategy.aggregate_representation(stacked, targets, lambda tensor: tensor)
            else:
                if strategy.needs_whole_matrix:
                    combined = strategy.aggregate_blocks(blocks)
                else:
                    weights = strategy.weights_from_gram(gram_matrix(blocks))
                    combined = combine_blocks(weights, blocks)
                combined = [jnp.reshape(vector_, row.shape[1:]) for vector_, row in zip(combined, stacked)]
            if strategy.has_task_weights and weights is None:
                weights = ops.convert_to_tensor(strategy.gradient_weights)
            # read after the aggregation: Nash-MTL's objective weights are this step's
            coefficients = jnp.concatenate([strategy.objective_weights(), jnp.zeros((1,), jnp.float32)])
            other_part = pullback(coefficients.astype(vector.dtype) * loss_scale)[1]
            shared_part = [(c * loss_scale).astype(target.dtype) for c, target in zip(combined, targets)]
    after_strategy = [scope.get_current_value(variable) for variable in non_trainable]

    # representation mode: one backward pass of the trunk with the combined feature gradient as cotangent
    shared_gradients = trunk_pullback(list(shared_part))[0] if representation else shared_part
    gradients = [None] * len(trainable)
    for index, gradient in zip(shared_index, shared_gradients):
        gradients[index] = gradient
    for index, gradient in zip(other_index, other_part):
        gradients[index] = gradient

    total = vector[num_tasks]
    if model.losses:  # weight regularisers: their own gradient, added to every variable's
        def regularization(values):
            return stateless(values, after_strategy, lambda: ops.sum(ops.stack(
                [ops.cast(loss, "float32") for loss in model.losses])))[0]

        penalty, penalty_gradients = jax.value_and_grad(regularization)(list(trainable_values))
        gradients = [g + p * loss_scale for g, p in zip(gradients, penalty_gradients)]
        total = total + penalty
    trainable_values, optimizer_values = model.optimizer.stateless_apply(optimizer_values, gradients,
                                                                         trainable_values)
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_values))) as scope:
        logs = model.record_train_step(x, y, y_pred, sample_weight, task_losses, total,
                                       weights if strategy.has_task_weights else None)
    metrics_values = [scope.get_current_value(variable) for variable in model.metrics_variables]
    return logs, (trainable_values, after_strategy, optimizer_values, metrics_values)
