"""The TensorFlow-specific pieces of the training step, in one module below models/ (the one exception, beside
models/batch_norm_tensorflow.py, to "keras.ops only" in the layers models/ builds on; losses/weighting/jax_steps.py
is JAX's counterpart of the per-task-gradient step).

- Under tf.distribute each replica sees its share of the batch: `cross_replica_losses`, `per_replica_mean` and
  `replica_share` let `MultiTaskModel.compute_loss` combine the global batch's task losses on every replica, so the
  weighting strategies train as on one device (training/distribution.py sets the strategies up).
- The strategies that combine per-task gradients (losses/weighting/gradient.py: GradNorm and the gradient-level
  methods) need one gradient per task, which Keras' backend-neutral `compute_loss` cannot give:
  `task_gradient_train_step`, which `GradientWeightingStrategy.train_step` runs. One step, under a persistent tape:
  forward pass (in the representation mode through `model.representation_split()`: trunk, then head); the global
  batch's task losses; the strategy's total (`combine`) and task objectives l_t; then
    - rows: d l_t / d (shared variables, the last shared layer, or the shared features), one backward pass each,
      cast to float32 (mixed precision) and unscaled (loss scaling);
    - GradNorm (`combines_through_total_loss`): G of the rows updates its weights; every variable gets d total;
    - the others: alpha = `weights_from_gram(G)`, or `aggregate_blocks` for the whole-matrix methods, gives the
      shared variables' gradient (representation mode: one encoder backward pass with the combined feature
      gradient as cotangent); the other variables get sum_t c_t d l_t from the same backward passes.
  Under several replicas the global batch's rows are combined: parameter mode all-reduces the rows before G (every
  replica then holds the one-device rows and combination), representation mode all-reduces G, the sum of the
  replicas' Gram matrices (features are per example), and applies the same weights everywhere.
  The model provides `compute_task_losses(x, y, y_pred)` (or `global_batch_task_losses`), the variables of the mode
  (`shared_variables()`, `gradnorm_shared_variables()`, `representation_split()`), an optimizer and, optionally,
  `record_train_step` for its trackers and metrics. `gradnorm_train_step` is the same step for models with their own
  `train_step` (the GradNorm API before the hook).

TensorFlow is imported when a function runs, so the module imports under any backend.
"""
import keras

from losses.weighting.gram import combine_blocks, gram_matrix


def cross_replica_losses(losses, batch_size):
    """The global batch's losses on every replica: {name: scalar} of this replica's share (its mean over its
    `batch_size` examples) -> the examples-weighted mean over all replicas (one all-reduce). Outside a
    tf.distribute replica context with several replicas, returns `losses` unchanged.

    Gradients flow through the all-reduce (its gradient is an all-reduce), so with `replica_share(total)` the sum of
    the replicas' gradients is the gradient of the one-device loss. A loss averaged over valid pixels (ignore label,
    missing depth) is averaged per replica, then weighted by each replica's examples: equal to the one-device mean
    when the replicas' images have equally many valid pixels, close otherwise."""
    context = _replica_context()
    if context is None:
        return losses
    import tensorflow as tf

    names = list(losses)
    weight = tf.cast(batch_size, tf.float32)
    stacked = tf.stack([tf.cast(tf.reshape(losses[n], ()), tf.float32) for n in names] + [tf.ones(())]) * weight
    summed = context.all_reduce(tf.distribute.ReduceOp.SUM, stacked)
    means = tf.math.divide_no_nan(summed[:-1], tf.stop_gradient(summed[-1]))
    return {name: means[index] for index, name in enumerate(names)}


def per_replica_mean(value, loss):
    """A task loss as this replica's mean over its own examples. Keras' `Loss.__call__` divides a mean-reduced loss
    by the number of replicas (Keras' trainer sums the replicas' losses); losses that reduce themselves, such as
    `losses.MaskedPixelLoss`, do not. Undoes the former so that every task loss reaches `cross_replica_losses` on
    the same footing; unchanged outside a replica context with several replicas."""
    context = _replica_context()
    keras_reduced = (isinstance(loss, keras.losses.Loss) and type(loss).__call__ is keras.losses.Loss.__call__
                     and loss.reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"))
    if context is None or not keras_reduced:
        return value
    return value * float(context.num_replicas_in_sync)


def replica_share(total):
    """This replica's share of a loss that every replica computes whole (total / replicas): tf.distribute sums the
    replicas' gradients. Unchanged outside a tf.distribute replica context with several replicas."""
    context = _replica_context()
    if context is None:
        return total
    return total / float(context.num_replicas_in_sync)


def _replica_context():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:  # None: cross-replica context
        return None
    return context


def _strategy_of(model, strategy):
    strategy = getattr(model, "weighting", None) if strategy is None else strategy
    if strategy is None or not getattr(strategy, "needs_task_gradients", False):
        raise ValueError(
            "the per-task-gradient train step needs a gradient weighting strategy (GradNorm or a gradient-level one): "
            f"pass `strategy=` or set `model.weighting`, e.g. to losses.weighting.get('gradnorm', tasks); got "
            f"{strategy!r}.")
    return strategy


def gradnorm_train_step(model, data, strategy=None, return_predictions=False):
    """Runs one GradNorm training step of `model` on `data` = (x, y) or (x, y, sample_weight).

    Args:
        model: a keras.Model with `compute_task_losses`, `gradnorm_shared_variables` and an optimizer.
        data: one batch as given to `train_step`.
        strategy: the GradNormStrategy (or another gradient strategy); default `model.weighting`.
        return_predictions: also return y_pred (for the model's compiled metrics).

    Returns:
        dict task -> unweighted loss, plus "loss" -> total weighted loss (scalar tensors);
        with `return_predictions`, the tuple (that dict, y_pred).
    """
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    strategy = _strategy_of(model, strategy)
    task_losses, total, y_pred, _ = apply_task_gradients(model, x, y, strategy)
    logs = {task: task_losses[task] for task in strategy.tasks}
    logs["loss"] = total
    return (logs, y_pred) if return_predictions else logs


def task_gradient_train_step(model, data, strategy=None):
    """The TensorFlow train step of the gradient strategies: applies one update and returns the model's logs
    (`model.record_train_step`)."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    strategy = _strategy_of(model, strategy)
    task_losses, total, y_pred, weights = apply_task_gradients(model, x, y, strategy)
    return model.record_train_step(x, y, y_pred, sample_weight, task_losses, total, weights)


def apply_task_gradients(model, x, y, strategy):
    """One update of `model` on (x, y) with the gradient strategy `strategy` (see the module docstring).

    Returns (task losses dict of the global batch, total loss, y_pred, alpha (T,) or None)."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"this train step needs the 'tensorflow' Keras backend; the backend is "
                         f"{keras.backend.backend()!r} (losses/weighting/jax_steps.py is JAX's).")
    import tensorflow as tf

    representation = strategy.mode == "representation"
    with tf.GradientTape(persistent=True) as tape:
        if representation:
            trunk, head = model.representation_split()
            features = keras.tree.flatten(trunk(x, training=True))  # one list, even for one tensor
            # The head reads cut copies: a row is the partial derivative with respect to each feature tensor (a finer
            # level also feeds the coarser ones inside the trunk; that path belongs to the trunk's backward pass).
            head_inputs = [tf.stop_gradient(feature) for feature in features]
            tape.watch(head_inputs)
            y_pred = head(head_inputs, training=True)
        else:
            y_pred = model(x, training=True)
        losses_of = getattr(model, "global_batch_task_losses", model.compute_task_losses)
        task_losses = dict(losses_of(x, y, y_pred))
        total = strategy.combine(task_losses)
        # every replica computes the global losses: its share of their gradients is 1/replicas (see replica_share)
        objectives = replica_share(strategy.task_objectives(strategy._loss_vector(task_losses)))
        regularization = tf.add_n([tf.cast(loss, tf.float32) for loss in model.losses]) if model.losses else 0.0
        loss_scale = model.optimizer.scale_loss(tf.constant(1.0)) if model.optimizer is not None else 1.0
        # one scalar per task, sliced under the tape (a slice taken after it would have no gradient)
        scaled_objectives = [objectives[t] * loss_scale for t in range(strategy.num_tasks)]
        scaled_total = replica_share(total) * loss_scale
        scaled_regularization = replica_share(regularization) * loss_scale

    trainable = list(model.trainable_variables)
    if representation:
        shared, targets = list(trunk.trainable_variables), head_inputs
    else:
        shared = list(model.gradnorm_shared_variables() if strategy.mode == "last_shared_layer"
                      else model.shared_variables())
        targets = shared
    shared_ids = {id(variable) for variable in shared}
    others = [variable for variable in trainable if id(variable) not in shared_ids]
    context = _replica_context()

    if strategy.combines_through_total_loss:  # GradNorm: the rows only move the weights; all follow the total
        weights = strategy.weights_from_gram(_gram_diagonal(tape, scaled_objectives, targets, loss_scale,
                                                            representation, context))
        total_gradients = tape.gradient(scaled_total, targets + others)
        target_gradients, other_gradients = total_gradients[:len(targets)], total_gradients[len(targets):]
        used = range(len(targets))
    else:
        per_task = [tape.gradient(scaled_objectives[t], targets + others) for t in range(strategy.num_tasks)]
        rows, used = _stacked_rows([gradients[:len(targets)] for gradients in per_task], targets, loss_scale,
                                   representation)
        combined, weights = _combine(strategy, rows, [targets[index] for index in used], representation, context)
        target_gradients = [vector * loss_scale for vector in combined]
        objective_weights = strategy.objective_weights()  # read after the aggregation: Nash-MTL's are this step's
        other_gradients = [_weighted_sum([gradients[len(targets) + k] for gradients in per_task], objective_weights)
                           for k in range(len(others))]
    if representation:  # one backward pass of the trunk, the features' gradients as its cotangents
        pairs = [(features[index], gradient) for index, gradient in zip(used, target_gradients) if gradient is not None]
        shared_gradients = tape.gradient([feature for feature, _ in pairs], shared,
                                         output_gradients=[tf.cast(g, f.dtype) for f, g in pairs])
    else:
        shared_gradients = [None] * len(shared)
        for index, gradient in zip(used, target_gradients):
            shared_gradients[index] = gradient
    by_id = {id(v): g for v, g in zip(shared + others, list(shared_gradients) + list(other_gradients))}
    gradients = [by_id[id(variable)] for variable in trainable]
    if model.losses:  # weight regularisers: their own gradient, added to every variable's
        extra = tape.gradient(scaled_regularization, trainable)
        gradients = [g if e is None else (e if g is None else g + e) for g, e in zip(gradients, extra)]
    del tape
    model.optimizer.apply(gradients, trainable)
    return task_losses, total + regularization, y_pred, weights if strategy.has_task_weights else None


def _stacked_rows(rows, targets, loss_scale, skip_unreached):
    """Per target (variable or feature tensor) its (T, *target shape) float32, unscaled rows, from rows[t][target]
    (zeros where a task does not reach the target). With `skip_unreached`, targets that no task reaches (an encoder
    output no decoder reads) are left out; variables are all kept, so that state shaped like the rows (DB-MTL's)
    always meets the same blocks. Returns (stacked rows, indices of the kept targets)."""
    import tensorflow as tf

    stacked, used = [], []
    for index, target in enumerate(targets):
        columns = [task_rows[index] for task_rows in rows]
        if skip_unreached and all(column is None for column in columns):
            continue
        zeros = tf.zeros_like(target, dtype=tf.float32)
        stacked.append(tf.stack([zeros if column is None else tf.cast(column, tf.float32) / loss_scale
                                 for column in columns]))
        used.append(index)
    return stacked, used


def _gram_diagonal(tape, scaled_objectives, targets, loss_scale, representation, context):
    """diag(||g_t||^2) of the global batch, one task at a time: each task's gradients are summed up and dropped
    before the next task's are computed (the running sum GradNorm needs; its rows are never held together)."""
    import tensorflow as tf

    squared_norms = []
    for objective in scaled_objectives:
        gradients = [tf.cast(g, tf.float32) / loss_scale for g in tape.gradient(objective, targets) if g is not None]
        if context is not None and not representation:  # the global batch's gradient: the replicas' sum
            gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        squared_norms.append(tf.add_n([tf.reduce_sum(tf.square(g)) for g in gradients]) if gradients
                             else tf.zeros(()))
    squared_norms = tf.stack(squared_norms)
    if context is not None and representation:  # features are per example: the replicas' squared norms add up
        squared_norms = context.all_reduce(tf.distribute.ReduceOp.SUM, squared_norms)
    return tf.linalg.diag(squared_norms)


def _blocks(rows):
    """The (T, n) column blocks of J from stacked rows."""
    import tensorflow as tf

    return [tf.reshape(row, [tf.shape(row)[0], -1]) for row in rows]


def _summed_gram(blocks, context):
    """G of the global batch in the representation mode: the replicas' Gram matrices summed (each replica's features
    are its own examples; the parameter modes all-reduce the rows instead, in `_combine`)."""
    import tensorflow as tf

    if context is None:
        return gram_matrix(blocks)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, gram_matrix(blocks))


def _combine(strategy, rows, targets, representation, context):
    """The shared part of the update for the global batch, as this replica applies it (tf.distribute sums the
    replicas' gradients): (per target the combined gradient, shaped like it; alpha or None)."""
    import tensorflow as tf

    blocks = _blocks(rows)
    if representation and strategy.needs_whole_matrix:
        def summed(tensor):
            return context.all_reduce(tf.distribute.ReduceOp.SUM, tensor) if context is not None else tensor

        return strategy.aggregate_representation(rows, targets, summed), _recorded_weights(strategy)
    if representation:
        weights = strategy.weights_from_gram(_summed_gram(blocks, context))
        combined = combine_blocks(weights, blocks)
    else:
        global_blocks = context.all_reduce(tf.distribute.ReduceOp.SUM, blocks) if context is not None else blocks
        if strategy.needs_whole_matrix:
            combined = strategy.aggregate_blocks(global_blocks)
            weights = _recorded_weights(strategy)
            if context is not None:  # every replica holds the global combination; tf.distribute sums the replicas'
                combined = [vector / float(context.num_replicas_in_sync) for vector in combined]
        else:
            weights = strategy.weights_from_gram(gram_matrix(global_blocks))
            combined = combine_blocks(weights, blocks)  # alpha^T (this replica's rows): they sum to the global ones
    # variables have static shapes (a tuple), feature tensors a dynamic batch size
    return [tf.reshape(vector, target.shape if isinstance(target.shape, tuple) else tf.shape(target))
            for vector, target in zip(combined, targets)], weights


def _recorded_weights(strategy):
    return keras.ops.convert_to_tensor(strategy.gradient_weights) if strategy.has_task_weights else None


def _weighted_sum(gradients, weights):
    """sum_t weights_t gradients_t over the tasks whose gradient exists (None: the task does not reach it)."""
    terms = [weights[t] * gradient for t, gradient in enumerate(gradients) if gradient is not None]
    return None if not terms else (terms[0] if len(terms) == 1 else sum(terms[1:], terms[0]))
