"""`MultiTaskModel`: a functional keras.Model whose outputs are a dict keyed by task, trained with a weighting
strategy.

`compile(optimizer, weighting="equal", loss=None)` picks each task's default loss when `loss` is None (or lacks a
task). The total loss is `weighting.combine({task: unweighted mean loss})`; the unweighted losses and each task's
effective weight (d total / d L_task) are tracked as the metrics `{task}_loss` and `{task}_weight`, so History,
CSVLogger and TensorBoard show how the weights moved. `fit` adds two callbacks of its own: one calls the strategy's
`end_epoch` with the epoch's mean task losses, one stops training with a `NonFiniteLossError` naming the task whose
loss became NaN or Inf (raised before the epoch ends, so an epoch-end checkpoint never overwrites the last good
one with NaN weights).

The strategy's variables are tracked by the model, so learned weights and loss histories are optimised, saved
with `.keras` files and restored with them (through `get_compile_config` / `compile_from_config`).

Under tf.distribute (build and compile under the strategy's scope; training/distribution.py) the weighting strategy
combines the global batch's task losses, so the loss-level strategies train as on one device.

Strategies that combine per-task gradients (GradNorm and the gradient-level ones, losses/weighting/gradient.py) own
the train step: `train_step` hands it to `weighting.train_step`, which runs the backend's step
(losses/weighting/tensorflow_steps.py or losses/weighting/jax_steps.py). That step asks the model where the shared
part ends: `representation_split()` (the layers up to the shared representation, and the layers after it),
`shared_variables()`, `gradnorm_shared_variables()`, and reports back through `record_train_step`.
"""
import importlib
import math

import keras
from keras import ops

from common import keras_compat
from tasks import find_task, get_task


class NonFiniteLossError(FloatingPointError):
    """Raised from `fit` when a task's loss becomes NaN or Inf."""


@keras.saving.register_keras_serializable(package="mtl")
class MultiTaskModel(keras.Model):
    """A functional model with named inputs (`image`, `previous_image`, `depth_image`) and task outputs.

    `target_units` ({output or input name: unit key of data/depth_units.py}, e.g. {"depth": "disparity_x256"})
    records what the depth output was trained on (and FuseNet's `depth_image` input), so predictions, pictures and
    TensorBoard panels say it; it travels with the model's config through `.keras` files.
    """

    # (*args, **kwargs) like keras' Functional.__init__, so Keras serializes the model as its layer graph and
    # revives it with `functional_from_config` (which passes the extra config entries, e.g. target_units, back here);
    # no builder needs to run again at load time.
    def __init__(self, *args, target_units=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.output, dict):
            raise ValueError("MultiTaskModel outputs must be a dict keyed by task name.")
        self.weighting = None
        self.task_losses = {}
        self.target_units = dict(target_units or {})

    def get_config(self):
        config = super().get_config()
        if self.target_units:  # models saved without units keep their config as it was
            config["target_units"] = dict(self.target_units)
        return config

    @property
    def tasks(self):
        return tuple(self.output.keys())

    def count_params(self):
        """The network's own parameter count, as the papers give it: the weighting strategy's few variables
        (tracked by the model after `compile` so that they train and save with it) are not network parameters."""
        strategy = {id(variable) for variable in getattr(self.weighting, "variables", ())}
        return int(sum(math.prod(weight.shape) for weight in self.weights if id(weight) not in strategy))

    @property
    def frames(self):
        names = [tensor.name for tensor in keras.tree.flatten(self.input)]
        return 2 if "previous_image" in names else 1

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="adam", weighting="equal", loss=None, metrics=None, weighting_options=None,
                **kwargs):
        """weighting: a strategy name of `losses.weighting` or a strategy instance; loss: dict task -> Loss."""
        from losses import weighting as weighting_lib

        if isinstance(loss, dict):
            unknown = sorted(set(loss) - set(self.tasks))
            if unknown:
                raise ValueError(f"loss has entries {unknown} for tasks this model does not have; "
                                 f"its tasks are {list(self.tasks)}.")
        elif loss is not None:
            raise ValueError("loss must be None or a dict {task: keras.losses.Loss}; "
                             f"got {type(loss).__name__}.")
        loss = loss or {}
        self.task_losses = {task: keras.losses.get(loss[task]) if task in loss
                            else get_task(task).loss(**get_task(task).loss_options(self._channels(task)))
                            for task in self.tasks}
        strategy = weighting_lib.get(weighting, list(self.tasks), **(weighting_options or {}))
        if getattr(strategy, "has_row_state", False):
            # state shaped like the rows (DB-MTL's moving averages) exists before the variables are tracked and loaded
            strategy.build_row_state([math.prod(variable.shape) for variable in self.shared_variables()])
        self._attach_weighting(strategy)
        self._task_loss_trackers = {t: keras.metrics.Mean(name=f"{t}_loss") for t in self.tasks}
        # a strategy without task weights (GradDrop) logs no {task}_weight rather than a meaningless one
        self._task_weight_trackers = ({t: keras.metrics.Mean(name=f"{t}_weight") for t in self.tasks}
                                      if strategy.has_task_weights else {})
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    def _channels(self, task):
        return int(self.output[task].shape[-1])

    def _attach_weighting(self, strategy):
        if self.weighting is not None:
            for variable in self.weighting.variables:
                keras_compat.untrack_variable(self, variable)
        self.weighting = strategy
        for variable in strategy.variables:
            keras_compat.track_variable(self, variable)

    def load_own_variables(self, store):
        # A compiled model's file holds its weighting strategy's variables (tracked by the model); loaded with
        # compile=False (models.predict, export) there is no strategy to receive them, and Keras would refuse the file.
        if self.weighting is None and len(store.keys()) > len(keras_compat.own_variables(self)):
            return
        super().load_own_variables(store)

    def get_compile_config(self):
        if self.weighting is None:
            return None
        serialize = keras.saving.serialize_keras_object
        return {"optimizer": serialize(self.optimizer), "weighting": serialize(self.weighting),
                "loss": {task: serialize(fn) for task, fn in self.task_losses.items()},
                "metrics": serialize(keras_compat.compiled_metrics_config(self))}

    def compile_from_config(self, config):
        # register what compiled files name
        importlib.import_module("losses.weighting")
        importlib.import_module("metrics.streaming")
        importlib.import_module("models.fused_adam")

        deserialize = keras.saving.deserialize_keras_object
        self.compile(optimizer=deserialize(config["optimizer"]), weighting=deserialize(config["weighting"]),
                     loss={task: deserialize(fn) for task, fn in config["loss"].items()},
                     metrics=deserialize(config.get("metrics")))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------------ losses
    def task_targets(self, x, y):
        """The target each task's loss receives (its task's `training_target`: stereo self-supervision gets
        left ‖ right images)."""
        targets, missing = {}, []
        for task in self.tasks:
            spec = find_task(task)  # an output that is no registered task, trained with a loss given to compile,
            key = spec.target_key if spec is not None else task  # reads the target of its own name
            if key not in y:
                missing.append(task if key == task else f"{key} (for {task})")
            else:
                targets[task] = spec.training_target(x, y) if spec is not None else y[task]
        if missing:
            raise ValueError(f"The targets lack {missing}; this model's tasks are {list(self.tasks)}. Got targets "
                             f"{sorted(y)}.")
        return targets

    def compute_task_losses(self, x, y, y_pred):
        """Unweighted mean loss of every task, as float32 scalars."""
        if not self.task_losses:
            raise RuntimeError("Call compile() before training or evaluating a MultiTaskModel.")
        if not isinstance(y, dict):
            raise ValueError(f"Targets must be a dict keyed by task ({list(self.tasks)}); got {type(y).__name__}.")
        targets = self.task_targets(x, y)
        return {task: ops.cast(self.task_losses[task](targets[task], y_pred[task]), "float32")
                for task in self.tasks}

    def update_task_trackers(self, task_losses):
        weights = self.weighting.effective_weights(task_losses)
        for task, value in task_losses.items():
            self._task_loss_trackers[task].update_state(value)
            if task in self._task_weight_trackers:
                self._task_weight_trackers[task].update_state(weights[task])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task_losses = self.global_batch_task_losses(x, y, y_pred)
        total = self.weighting.combine(task_losses, training=training)
        self.update_task_trackers(task_losses)
        if self.losses:
            total = total + ops.cast(ops.sum(self.losses), total.dtype)
        return self._replica_share(total)

    # Under tf.distribute each replica sees its share of the batch: the weighting strategy must see the global
    # batch's losses (GLS, uncertainty and TWB are not linear in them, and their state must agree across replicas),
    # and each replica contributes 1/replicas of the total (tf.distribute sums the replicas' gradients). Both are
    # no-ops on one device and under JAX (keras.distribution shards one global batch). See training/distribution.py.
    def global_batch_task_losses(self, x, y, y_pred):
        """Every task's unweighted loss over the global batch (under tf.distribute: on every replica, one
        all-reduce; elsewhere `compute_task_losses`)."""
        task_losses = self.compute_task_losses(x, y, y_pred)
        if keras.backend.backend() != "tensorflow":
            return task_losses
        from losses.weighting.tensorflow_steps import cross_replica_losses, per_replica_mean

        task_losses = {task: per_replica_mean(value, self.task_losses[task]) for task, value in task_losses.items()}
        return cross_replica_losses(task_losses, ops.shape(keras.tree.flatten(x)[0])[0])

    def _replica_share(self, total):
        if keras.backend.backend() != "tensorflow":
            return total
        from losses.weighting.tensorflow_steps import replica_share

        return replica_share(total)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if keras_compat.has_compiled_metrics(self) and isinstance(y, dict):
            scored = [t for t in self.tasks if t in y]
            y = {t: y[t] for t in scored}
            y_pred = {t: y_pred[t] for t in scored}
        return super().compute_metrics(x, y, y_pred, sample_weight)

    @property
    def metrics(self):
        trackers = []
        for group in ("_task_loss_trackers", "_task_weight_trackers"):
            trackers += list(getattr(self, group, {}).values())
        known = {id(m) for m in trackers}
        # Keras keeps tracking the trackers of an earlier compile (a strategy with weights, then one without)
        stale = {f"{task}_{kind}" for task in self.tasks for kind in ("loss", "weight")}
        return [m for m in super().metrics if id(m) not in known
                and not (isinstance(m, keras.metrics.Mean) and m.name in stale)] + trackers

    # ------------------------------------------------------------------ per-task gradients
    def representation_split(self):
        """(trunk, head): two keras.Models over this model's own layers. `trunk` maps the inputs to the shared
        representation, a list of tensors: every output of every call of the sub-model(s) named "encoder" (or
        "..._encoder") that a task output uses (2-frame models: both frames' pyramids); `head` maps that list to the
        task outputs. head(trunk(x)) equals self(x). Built once and kept off Keras' tracking (no new weights)."""
        cached = self.__dict__.get("_representation_split")
        if cached is None:
            encoders = self._encoders()
            consumed = {id(tensor) for layer in self.layers for node in keras_compat.call_nodes(layer)
                        for tensor in keras.tree.flatten(node.input_tensors)}
            features = [tensor for encoder in encoders for node in keras_compat.call_nodes(encoder)
                        for tensor in keras.tree.flatten(node.output_tensors) if id(tensor) in consumed]
            cached = (keras.Model(self.input, features, name=f"{self.name}_trunk"),
                      keras.Model(features, self.output, name=f"{self.name}_head"))
            object.__setattr__(self, "_representation_split", cached)  # a cache, not a sub-layer to save
        return cached

    def shared_variables(self):
        """The trainable variables of the shared trunk (inputs to the shared representation): the parameters whose
        per-task gradients the "parameters" mode combines."""
        return self.representation_split()[0].trainable_variables

    def gradnorm_shared_variables(self):
        """The kernel of the last convolution of the shared encoder (of each, for FuseNet's two)."""
        return [[layer for layer in encoder.layers if getattr(layer, "kernel", None) is not None][-1].kernel
                for encoder in self._encoders()]

    def _encoders(self):
        """The shared trunk: the sub-model(s) named "encoder" or "..._encoder"."""
        encoders = [layer for layer in self.layers if layer.name == "encoder" or layer.name.endswith("_encoder")]
        if not encoders:
            raise ValueError(f"The gradient weighting strategies need the shared trunk as a sub-model named "
                             f"'encoder'; {self.name} has the layers {[layer.name for layer in self.layers]}.")
        return encoders

    def record_train_step(self, x, y, y_pred, sample_weight, task_losses, total, task_weights=None):
        """Updates the `{task}_loss`, `{task}_weight` and `loss` trackers and the compiled metrics after a weighting
        strategy's own train step; returns the logs. `task_weights`: (T,) alpha or None."""
        for index, task in enumerate(self.tasks):
            self._task_loss_trackers[task].update_state(task_losses[task])
            if task_weights is not None and task in self._task_weight_trackers:
                self._task_weight_trackers[task].update_state(task_weights[index])
        keras_compat.loss_tracker(self).update_state(total)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _check_task_gradient_backend(self):
        if getattr(self.weighting, "needs_task_gradients", False) and keras.backend.backend() not in ("tensorflow",
                                                                                                     "jax"):
            raise NotImplementedError(
                f"{type(self.weighting).__name__} needs one gradient per task; its train step "
                f"(losses/weighting/tensorflow_steps.py, losses/weighting/jax_steps.py) exists for the 'tensorflow' "
                f"and 'jax' Keras backends, and the backend is {keras.backend.backend()!r}. Train with "
                f"KERAS_BACKEND=tensorflow or jax, or pick a loss-level strategy (e.g. 'uncertainty' or 'dwa'). "
                f"Evaluating, predicting and saving such a model work on every backend.")

    def train_step(self, *args):
        # The TensorFlow trainer calls train_step(data), the JAX one train_step(state, data).
        if getattr(self.weighting, "needs_task_gradients", False):
            self._check_task_gradient_backend()
            return self.weighting.train_step(self, *args)
        return super().train_step(*args)

    # ------------------------------------------------------------------ fit
    def fit(self, *args, callbacks=None, **kwargs):
        self._check_task_gradient_backend()
        own = [NonFiniteLossGuard(self.tasks), EndEpochHook()]
        return super().fit(*args, callbacks=own + list(callbacks or []), **kwargs)


class EndEpochHook(keras.callbacks.Callback):
    """Hands the epoch's mean unweighted task losses to the weighting strategy (DWA, dynamic scaling, async)."""

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        mean_losses = {task: float(logs[f"{task}_loss"]) for task in self.model.tasks if f"{task}_loss" in logs}
        self.model.weighting.end_epoch(epoch, mean_losses)


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training on the first batch whose task loss (running mean) is NaN or Inf, naming the task."""

    def __init__(self, tasks):
        super().__init__()
        self.tasks = tuple(tasks)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        bad = [t for t in self.tasks if f"{t}_loss" in logs and not math.isfinite(float(logs[f"{t}_loss"]))]
        if bad:
            self.model.stop_training = True
            values = ", ".join(f"{t}_loss={float(logs[f'{t}_loss'])}" for t in bad)
            raise NonFiniteLossError(
                f"Training stopped at epoch {self._epoch}, batch {batch}: the loss of task(s) {bad} is not finite "
                f"({values}). The last checkpoint written before this batch is kept; lower the learning rate, "
                f"check that task's targets, or try another weighting strategy.")
