"""One training run on several devices or hosts, on the engines Keras already has: tf.distribute under the
TensorFlow backend, keras.distribution under JAX. No cluster code of our own.

    from training.distribution import get_strategy, prepare_model

    strategy = get_strategy("mirrored")          # every GPU of this machine
    with strategy.scope():                        # build AND compile inside: the optimizer's and the weighting
        model = models.build_multitask(...)       # strategy's variables must be created under the strategy
        model.compile(optimizer=keras.optimizers.Adam(1e-4), weighting="uncertainty")
        prepare_model(model, strategy)            # synchronised batch norm; refuses what cannot be distributed
        model.fit(dataset, ...)                   # GLOBAL batches, split over the replicas (under JAX, fit inside
                                                  # the scope; tf.distribute does not mind either way)

| name          | TensorFlow backend                                              | JAX backend                               |
|---------------|-----------------------------------------------------------------|-------------------------------------------|
| "none", None  | the default strategy (one device; `scope()` does nothing)       | no distribution (`scope()` does nothing)  |
| "mirrored"    | tf.distribute.MirroredStrategy: the GPUs of this machine (or    | keras.distribution.DataParallel over      |
|               | `devices`), one replica each, gradients all-reduced             | jax.devices() (`devices` to choose)       |
| "multiworker" | tf.distribute.MultiWorkerMirroredStrategy over the hosts that   | not here: call keras.distribution         |
|               | the TF_CONFIG environment variable describes                    | .initialize(...) in every process, then   |
|               |                                                                 | "mirrored" spans every process's devices  |
PyTorch backend: "none" only.

What makes a distributed run equal to the one-device run of the same global batch (up to floating-point summation
order), under tf.distribute:
- batch normalisation statistics over the global batch, not each replica's share (`synchronize_batch_norm`;
  `prepare_model` does it). Under JAX the batch is one sharded array, so its statistics are global already;
- the weighting strategy sees the global batch's task losses and each replica contributes 1/replicas of the total
  loss (`cross_replica_losses`, `replica_share`; called by MultiTaskModel.compute_loss), so non-linear strategies
  (GLS, uncertainty, TWB, ...) and their state behave as on one device;
- the strategies that combine per-task gradients (GradNorm and the gradient-level ones) combine the global batch's:
  in their parameter modes the replicas' rows are all-reduced before the Gram matrix or the aggregation, in the
  representation mode the Gram matrix is the sum of the replicas' (losses/weighting/tensorflow_steps.py), and the
  random ones draw from (seed, step), the same numbers on every replica. Under JAX the batch is one global array.
"""
import contextlib
import json
import os

from losses.weighting.tensorflow_steps import (  # noqa: F401  (re-exported: they were defined here)
    cross_replica_losses,
    per_replica_mean,
    replica_share,
)

STRATEGIES = ("none", "mirrored", "multiworker")
#: the weighting strategies that cannot train under more than one replica, and why (none today: GradNorm's refusal
#: was lifted when its step moved onto the gradient hook, which combines the global batch's per-task gradients)
UNSUPPORTED_WEIGHTING = {}

_strategies = {}  # name and devices -> strategy: one per process (MultiWorkerMirroredStrategy must be unique)


class DistributionError(ValueError):
    """A strategy that this backend, machine or weighting strategy cannot use; the message says what to do."""


def backend():
    import keras

    return keras.backend.backend()


def get_strategy(name=None, devices=None):
    """The distribution of one training run: build and compile the model under `get_strategy(name).scope()`.

    Args:
        name: "none" (or None), "mirrored" or "multiworker" (see the module's table).
        devices: "mirrored" only: the devices to mirror over, e.g. ["/gpu:0", "/gpu:1"] (TensorFlow) or a list of
            jax devices; default every GPU of the machine (TensorFlow: the CPU when it has none).

    Returns:
        TensorFlow backend: a tf.distribute.Strategy (for "none" the current one: the default strategy, one
        device, unless called under another strategy's scope). JAX: a
        keras.distribution.DataParallel for "mirrored", `NoDistribution()` for "none". Both have `scope()`;
        `replicas(strategy)` counts the replicas. The same name and devices return the same object in one process.
    """
    name = "none" if name is None else name
    if name not in STRATEGIES:
        raise DistributionError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "none":
        return _make_strategy(name, devices)  # the current one: under another strategy's scope, that strategy
    key = (backend(), name, tuple(str(d) for d in devices) if devices else None)
    if key not in _strategies:
        _strategies[key] = _make_strategy(name, devices)
    return _strategies[key]


def _make_strategy(name, devices):
    kind = backend()
    if name == "none":
        if kind == "tensorflow":
            import tensorflow as tf

            return tf.distribute.get_strategy()
        return NoDistribution()
    if devices and name != "mirrored":
        raise DistributionError(f"devices= is for the 'mirrored' strategy; {name!r} takes its devices from TF_CONFIG")
    if kind == "jax":
        if name == "multiworker":
            raise DistributionError(
                "the 'multiworker' strategy is tf.distribute's (TensorFlow backend). Under JAX call "
                "keras.distribution.initialize(job_addresses, num_processes, process_id) in every process first; "
                "'mirrored' (keras.distribution.DataParallel) then spans the devices of every process")
        import keras

        return keras.distribution.DataParallel(devices=devices) if devices else keras.distribution.DataParallel()
    if kind != "tensorflow":
        raise DistributionError(
            f"the {name!r} strategy needs the TensorFlow backend (tf.distribute) or JAX (keras.distribution); the "
            f"Keras backend is {kind!r}: set KERAS_BACKEND=tensorflow or jax, or use strategy 'none'")
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if not os.environ.get("TF_CONFIG"):
        raise DistributionError(
            "the 'multiworker' strategy reads its cluster from the TF_CONFIG environment variable, which is not set: "
            "on every host set TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
            "\"task\": {\"type\": \"worker\", \"index\": I}}' (I = 0 on host1, 1 on host2) and run the same command")
    return _multi_worker_class()()


def _multi_worker_class():
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """tf.distribute.MultiWorkerMirroredStrategy with the `reduce` that Keras 3's `fit` expects of it
        (keras-team/keras#20585: without it, fit fails under this strategy):
        - a nested value (which TensorFlow's collective `reduce` refuses) is the (inputs, targets) batch that `fit`
          "reduces" only to build the model from its shapes: this worker's first replica's share is returned, with
          no collective (the workers' shares may differ in size: a last, partial batch);
        - a scalar with an axis (each step's logs, reduced with axis=0) is reduced across the replicas.
        Anything else is TensorFlow's reduce."""

        def reduce(self, reduce_op, value, axis=None):
            if tf.nest.is_nested(value):
                return tf.nest.map_structure(lambda leaf: self.experimental_local_results(leaf)[0], value)
            local = self.experimental_local_results(value)[0]
            if axis is not None and getattr(getattr(local, "shape", None), "rank", None) == 0:
                axis = None
            return super().reduce(reduce_op, value, axis)

    return MultiWorkerMirroredStrategy


@contextlib.contextmanager
def strategy_scope(name=None, devices=None):
    """`with strategy_scope("mirrored") as strategy:` build and compile the model; see `get_strategy`."""
    strategy = get_strategy(name, devices)
    with strategy.scope():
        yield strategy


class NoDistribution:
    """The strategy "none" outside TensorFlow: one device, a `scope()` that does nothing."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()

    def __repr__(self):
        return "NoDistribution()"


def replicas(strategy):
    """How many copies of the model one training step runs (devices over all workers)."""
    if hasattr(strategy, "num_replicas_in_sync"):
        return int(strategy.num_replicas_in_sync)
    mesh = getattr(strategy, "device_mesh", None)  # keras.distribution
    return int(mesh.devices.size) if mesh is not None else 1


def is_tf_distributed(strategy):
    """True for a tf.distribute strategy with more than one replica (what the helpers below adjust for)."""
    return backend() == "tensorflow" and hasattr(strategy, "extended") and replicas(strategy) > 1


def supports_eager(strategy):
    """False for MultiWorkerMirroredStrategy, whose training steps Keras can only run as graphs
    (`run_eagerly=True` fails on its per-replica inputs)."""
    if backend() != "tensorflow":
        return True
    import tensorflow as tf

    return not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


# ------------------------------------------------------------------------------------------------ the model
def check_weighting(weighting, strategy):
    """Raises DistributionError when the weighting strategy (a name or a losses.weighting strategy) cannot train
    under `strategy`'s replicas (see UNSUPPORTED_WEIGHTING); does nothing for one replica."""
    if replicas(strategy) <= 1:
        return
    name = weighting if isinstance(weighting, str) else getattr(weighting, "name", type(weighting).__name__)
    reason = UNSUPPORTED_WEIGHTING.get(str(name).lower())
    if reason:
        raise DistributionError(f"the {name} weighting strategy cannot train under {type(strategy).__name__} with "
                                f"{replicas(strategy)} replicas: {reason}")


def synchronize_batch_norm(model):
    """Batch normalisation of `model` (nested encoders included) computes its statistics over the global batch,
    across replicas (Keras' `BatchNormalization(synchronized=True)`), as on one device. TensorFlow only; returns
    how many layers it switched."""
    import keras

    if backend() != "tensorflow":
        return 0
    from common.keras_compat import all_sublayers

    layers = [layer for layer in all_sublayers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def prepare_model(model, strategy):
    """What a model needs to train under `strategy` as on one device (call it under the scope, after compile):
    refuses an unsupported weighting strategy, synchronises batch normalisation when there are several replicas.
    Returns the model."""
    check_weighting(getattr(model, "weighting", None) or "", strategy)
    if is_tf_distributed(strategy):
        synchronize_batch_norm(model)
    return model


# ------------------------------------------------------------------------------------------------ the data
def shard_by_data(dataset, strategy):
    """Under MultiWorkerMirroredStrategy, every worker reads the whole pipeline and keeps its replicas' share of
    each global batch (tf.data's DATA auto-shard policy), so the global batches are those of one device (the
    default AUTO policy may shard by file instead, which changes the batches). Other strategies: unchanged."""
    import tensorflow as tf

    if dataset is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


# ------------------------------------------------------------------------------------------------ the cluster
def worker_role():
    """(task type, index, is_chief) of this process from TF_CONFIG; ("chief", 0, True) without TF_CONFIG. The chief
    is the task "chief", or worker 0 when the cluster has no chief."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return "chief", 0, True
    try:
        config = json.loads(text)
        task = config.get("task", {})
        kind, index = task["type"], int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise DistributionError(f"TF_CONFIG is not valid ({error}): it needs a 'cluster' and a 'task' with a "
                                f"'type' and an 'index'") from None
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config.get("cluster", {}))
    return kind, index, chief
