"""GradNorm training step for the TensorFlow backend (Chen et al. 2018, as used by Leang et al. 2020).

GradNorm is the one weighting strategy that needs one gradient per task (the norm of d L_i / d W over
the last shared layer W), which Keras' backend-neutral `compute_loss` cannot provide. This module is
the single backend-specific piece: a `keras.Model` subclass calls `gradnorm_train_step(self, data)` from
its `train_step` when its weighting strategy is `losses.weighting.GradNormStrategy`.

The model must provide:
- `compute_task_losses(x, y, y_pred) -> dict task -> scalar` (unweighted per-task losses);
- `gradnorm_shared_variables() -> list of variables` (the last shared layer, e.g. its kernel);
- an `optimizer`, and the strategy as `model.weighting` unless it is passed as `strategy`.

One step: forward pass under a persistent tape; total = strategy.combine(task losses) (+ the model's
regularisation losses); the optimizer applies d total / d trainable weights; the per-task gradient norms
over the shared variables (of the UNweighted task losses) feed `strategy.update_from_gradient_norms`,
which sets the weights used from the next batch on.
"""
import keras
import tensorflow as tf


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
    strategy = _strategy_of(model, strategy)
    from training.distribution import check_weighting

    check_weighting(strategy, tf.distribute.get_strategy())  # several replicas: a clear error naming GradNorm
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
