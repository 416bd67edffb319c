"""The TensorFlow-specific pieces of the training step, in one module below models/ (the one exception, beside
models/batch_norm_tensorflow.py, to "keras.ops only" in the layers models/ builds on).

- Under tf.distribute each replica sees its share of the batch: `cross_replica_losses`, `per_replica_mean` and
  `replica_share` let `MultiTaskModel.compute_loss` combine the global batch's task losses on every replica, so the
  weighting strategies train as on one device (training/distribution.py sets the strategies up).
- GradNorm (Chen et al. 2018, as used by Leang et al. 2020) needs one gradient per task (the norm of d L_i / d W
  over the last shared layer W), which Keras' backend-neutral `compute_loss` cannot give: `gradnorm_train_step`,
  which `losses.weighting.GradNormStrategy.train_step` runs. The model must provide
  `compute_task_losses(x, y, y_pred) -> dict task -> scalar` (unweighted per-task losses),
  `gradnorm_shared_variables() -> list of variables` (the last shared layer) and an `optimizer`.
  One step: forward pass under a persistent tape; total = strategy.combine(task losses) (+ the model's
  regularisation losses); the optimizer applies d total / d trainable weights; the per-task gradient norms over the
  shared variables (of the UNweighted task losses) feed `strategy.update_from_gradient_norms`, which sets the
  weights used from the next batch on.

TensorFlow is imported when a function runs, so the module imports under any backend.
"""
import keras


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
    if strategy is None or not hasattr(strategy, "update_from_gradient_norms"):
        raise ValueError(
            "gradnorm_train_step needs a GradNorm weighting strategy: pass `strategy=` or set "
            f"`model.weighting` to losses.weighting.get('gradnorm', tasks); got {strategy!r}."
        )
    return strategy


def gradnorm_train_step(model, data, strategy=None, return_predictions=False):
    """Runs one GradNorm training step of `model` on `data` = (x, y) or (x, y, sample_weight).

    Args:
        model: a keras.Model with `compute_task_losses`, `gradnorm_shared_variables` and an optimizer.
        data: one batch as given to `train_step`.
        strategy: the GradNormStrategy; default `model.weighting`.
        return_predictions: also return y_pred (for the model's compiled metrics).

    Returns:
        dict task -> unweighted loss, plus "loss" -> total weighted loss (scalar tensors);
        with `return_predictions`, the tuple (that dict, y_pred).
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"gradnorm_train_step needs the 'tensorflow' Keras backend; the backend is {keras.backend.backend()!r}."
        )
    import tensorflow as tf

    strategy = _strategy_of(model, strategy)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:  # training.distribution.prepare_model refuses it earlier, with the same reason
        raise ValueError(f"the GradNorm weighting strategy cannot train with {replicas} replicas: its step takes the "
                         f"per-task gradient norms of each replica's share of the batch; train it on one device.")
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    shared_variables = list(model.gradnorm_shared_variables())
    if not shared_variables:
        raise ValueError("model.gradnorm_shared_variables() returned no variables; GradNorm needs the last shared layer.")

    with tf.GradientTape(persistent=True) as tape:
        y_pred = model(x, training=True)
        task_losses = dict(model.compute_task_losses(x, y, y_pred))
        total = strategy.combine(task_losses)
        if model.losses:
            total = total + tf.add_n([tf.cast(loss, total.dtype) for loss in model.losses])
        scaled_total = model.optimizer.scale_loss(total) if model.optimizer is not None else total

    trainable_variables = model.trainable_variables
    gradients = tape.gradient(scaled_total, trainable_variables)
    model.optimizer.apply_gradients(zip(gradients, trainable_variables))

    grad_norms = {}
    for task in strategy.tasks:
        task_gradients = tape.gradient(task_losses[task], shared_variables)
        task_gradients = [gradient for gradient in task_gradients if gradient is not None]
        grad_norms[task] = tf.linalg.global_norm(task_gradients) if task_gradients else tf.constant(0.0)
    del tape
    strategy.update_from_gradient_norms(task_losses, grad_norms)

    logs = {task: task_losses[task] for task in strategy.tasks}
    logs["loss"] = total
    return (logs, y_pred) if return_predictions else logs
