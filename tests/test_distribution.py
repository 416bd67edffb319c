"""Scale: one run on several devices (tf.distribute MirroredStrategy over two logical CPUs, MultiWorkerMirroredStrategy
over two local worker processes) matches one-device training on the same global batch; a reproduction's runs spread
over a local two-worker Ray instance give the same metrics and tables as in this process, dependencies respected.
Every weighting strategy that combines per-task gradients (and RLW, FAMO, IMTL-L) trains two steps under
MirroredStrategy as on one device, on tests/fixtures/tiny_encoder_model.py (batch norm in the shared encoder, two
pyramid levels), in its default mode and, for representatives, in the representation mode.

Tolerances (float32; the replicas sum the gradients in another order than one device): logged losses and weights
within a relative 1e-4 at every step; every variable (network, batch-norm statistics, the weighting strategy's
state) within 1e-3 of its own movement over the steps, plus 1e-6 absolute. Plain SGD makes a wrong gradient scale
visible (Adam would normalise it away)."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from training import distribution
from training.executors import InProcessExecutor

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_RTOL = 1e-4
WEIGHT_RTOL, WEIGHT_ATOL = 1e-3, 1e-6
WEIGHTINGS = ("gls", "uncertainty")  # GLS: not linear in the losses; uncertainty: trainable state

# One script, three roles: "mirrored" trains each weighting on one device, then under MirroredStrategy over two
# logical CPUs (which must be configured before TensorFlow initialises its devices: hence a process of its own);
# "worker" trains under MultiWorkerMirroredStrategy (TF_CONFIG set by the test). Same seed, same initial weights,
# same three global batches of 4; each role saves its per-step logs and final weights.
SCRIPT = textwrap.dedent('''
    import json, os, sys
    role, folder = sys.argv[1], sys.argv[2]
    weightings = sys.argv[3].split(",")
    import tensorflow as tf
    if role == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    import models
    from training import distribution

    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (12, 64, 96, 3)).astype("float32")
    labels = rng.integers(0, 3, (12, 64, 96)).astype("int32")  # no ignored pixel: every image weighs the same
    depth = rng.uniform(1, 50, (12, 64, 96, 1)).astype("float32")

    def train(strategy, weighting):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = models.build_multitask({"segmentation": 3, "depth": 1}, input_shape=(64, 96, 3),
                                           backbone="resnet10")
            model.compile(optimizer=keras.optimizers.SGD(1e-4), weighting=weighting,
                          run_eagerly=distribution.supports_eager(strategy))  # MultiWorkerMirrored: graphs
            distribution.prepare_model(model, strategy)
        start = [np.array(w) for w in model.get_weights()]
        data = tf.data.Dataset.from_tensor_slices(({"image": images}, {"segmentation": labels, "depth": depth}))
        history = []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs=None: history.append({k: float(v) for k, v in logs.items()}))
        model.fit(data.batch(4), epochs=1, verbose=0, callbacks=[record])
        return {"start": start, "end": [np.array(w) for w in model.get_weights()], "logs": history,
                "replicas": distribution.replicas(strategy)}

    def save(name, result):
        np.savez(os.path.join(folder, name + ".npz"), logs=json.dumps(result["logs"]),
                 replicas=result["replicas"], **{f"start_{i}": w for i, w in enumerate(result["start"])},
                 **{f"end_{i}": w for i, w in enumerate(result["end"])})

    if role == "mirrored":
        for weighting in weightings:
            save(f"single-{weighting}", train(distribution.get_strategy("none"), weighting))
        strategy = distribution.get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
        for weighting in weightings:
            save(f"mirrored-{weighting}", train(strategy, weighting))
    else:
        _, index, _ = distribution.worker_role()
        strategy = distribution.get_strategy("multiworker")
        for weighting in weightings:
            save(f"worker{index}-{weighting}", train(strategy, weighting))
''')


def _load(path):
    with np.load(path) as stored:
        count = len([k for k in stored.files if k.startswith("end_")])
        return {"logs": json.loads(str(stored["logs"])), "replicas": int(stored["replicas"]),
                "start": [stored[f"start_{i}"] for i in range(count)], "end": [stored[f"end_{i}"] for i in range(count)]}


def _assert_same_training(result, reference, steps=3):
    """Every step's logs and every final variable of `result` match the one-device `reference` (module tolerances)."""
    assert len(result["logs"]) == len(reference["logs"]) == steps  # one step per global batch, not per replica
    for step, (ours, theirs) in enumerate(zip(result["logs"], reference["logs"])):
        assert set(ours) == set(theirs)
        for key in theirs:
            assert ours[key] == pytest.approx(theirs[key], rel=LOG_RTOL), (step, key)
    for index, (start, end, ours) in enumerate(zip(reference["start"], reference["end"], result["end"])):
        moved = float(np.max(np.abs(end - start))) if start.size else 0.0
        assert np.max(np.abs(ours - end), initial=0.0) <= WEIGHT_RTOL * moved + WEIGHT_ATOL, index
    assert any(np.max(np.abs(e - s)) > 0 for s, e in zip(reference["start"], reference["end"]))  # it did train


def _launch(folder, role, weightings, env=None, source=SCRIPT):
    script = folder / "train_distributed.py"
    script.write_text(source)
    environment = {**os.environ, "PYTHONPATH": REPOSITORY, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow",
                   **(env or {})}
    return subprocess.Popen([sys.executable, str(script), role, str(folder), ",".join(weightings)], env=environment,
                            cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=400):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    assert process.returncode == 0, output[-3000:]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One process: each weighting on one device, then mirrored over two logical CPUs; then two
    MultiWorkerMirroredStrategy workers on localhost ports (one CPU and one thread each: two processes on two
    cores), with uncertainty weighting."""
    folder = tmp_path_factory.mktemp("distributed")
    _finish(_launch(folder, "mirrored", WEIGHTINGS))
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = [_launch(folder, "worker", ["uncertainty"], env={
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "2"}) for index in range(2)]
    for worker in workers:
        _finish(worker)
    return folder


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_mirrored_strategy_on_two_devices_trains_as_one_device(trained, weighting):
    mirrored = _load(trained / f"mirrored-{weighting}.npz")
    assert mirrored["replicas"] == 2
    _assert_same_training(mirrored, _load(trained / f"single-{weighting}.npz"))


def test_multi_worker_strategy_over_two_processes_trains_as_one_device(trained):
    reference = _load(trained / "single-uncertainty.npz")
    for index in range(2):
        result = _load(trained / f"worker{index}-uncertainty.npz")
        assert result["replicas"] == 2  # one CPU per worker
        _assert_same_training(result, reference)


# ----------------------------------------------------------------------------- per-task-gradient strategies
#: (name, mode or "" for the default) of the gradient fits: every new strategy in its default mode, and the
#: representation mode of a Gram-only, a whole-matrix (random), a stateful and GradNorm's
GRADIENT_RUNS = tuple((name, "") for name in (
    "mgda", "mgda_ub", "pcgrad", "gradvac", "graddrop", "imtl_g", "imtl", "cagrad", "nash_mtl", "aligned_mtl", "upgrad",
    "db_mtl", "gradnorm", "rlw", "famo", "imtl_l")) + tuple((name, "representation") for name in (
    "upgrad", "graddrop", "nash_mtl", "gradnorm"))
GRADIENT_STEPS = 2  # the second step reads the state the first left (warm starts, moving averages, logits)

GRADIENT_SCRIPT = textwrap.dedent('''
    import os, sys
    folder, runs = sys.argv[2], [run.split(":") for run in sys.argv[3].split(",")]
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import json
    import keras
    import numpy as np
    from tests.fixtures import tiny_encoder_model
    from training import distribution

    tf.config.experimental.enable_op_determinism()
    x, y = tiny_encoder_model.batch(n=4 * %(steps)d)

    def train(strategy, name, mode):
        with strategy.scope():
            model = tiny_encoder_model.build()
            options = {"mode": mode} if mode else {}
            options.update({"seed": 3} if name in ("pcgrad", "gradvac", "graddrop", "rlw") else {})
            model.compile(optimizer=keras.optimizers.SGD(1e-2), weighting=name, weighting_options=options,
                          run_eagerly=True)  # eager: tracing every strategy's step would cost more than running it
            distribution.prepare_model(model, strategy)
        start = [np.array(w) for w in model.get_weights()]
        history = []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs=None: history.append({k: float(v) for k, v in logs.items()}))
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[record])
        np.savez(os.path.join(folder, f"{strategy_name(strategy)}-{name}-{mode}.npz"), logs=json.dumps(history),
                 replicas=distribution.replicas(strategy), **{f"start_{i}": w for i, w in enumerate(start)},
                 **{f"end_{i}": np.array(w) for i, w in enumerate(model.get_weights())})

    def strategy_name(strategy):
        return "mirrored" if distribution.replicas(strategy) > 1 else "single"

    mirrored = distribution.get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    for name, mode in runs:
        train(distribution.get_strategy("none"), name, mode)
        train(mirrored, name, mode)
''' % {"steps": GRADIENT_STEPS})


@pytest.fixture(scope="module")
def gradient_runs(tmp_path_factory):
    """One process: every run of GRADIENT_RUNS on one device, then under MirroredStrategy over two logical CPUs."""
    folder = tmp_path_factory.mktemp("gradient_strategies")
    _finish(_launch(folder, "gradient", [f"{name}:{mode}" for name, mode in GRADIENT_RUNS], source=GRADIENT_SCRIPT))
    return folder


def test_every_gradient_strategy_trains_under_two_replicas_as_on_one_device(gradient_runs):
    """Parameter modes: the replicas' rows are all-reduced before G or the aggregation; representation mode: their
    Gram matrices are summed (GradDrop: its batch-marginalised signs), the weights the same everywhere; random
    methods draw the same numbers on every replica. So every run matches one device (module tolerances)."""
    for name, mode in GRADIENT_RUNS:
        mirrored = _load(gradient_runs / f"mirrored-{name}-{mode}.npz")
        assert mirrored["replicas"] == 2
        single = _load(gradient_runs / f"single-{name}-{mode}.npz")
        weight_logs = {key for key in single["logs"][0] if key.endswith("_weight")}
        assert bool(weight_logs) == (name != "graddrop"), (name, mode, sorted(single["logs"][0]))
        _assert_same_training(mirrored, single, steps=GRADIENT_STEPS)


LOSS_SCALE_SCRIPT = textwrap.dedent('''
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from losses import DetectionLoss, MaskedCrossEntropy
    from training.distribution import per_replica_mean
    rng = np.random.default_rng(0)
    boxes = np.full((2, 4, 5), -1.0, "float32"); boxes[:, 0] = [0.2, 0.1, 0.6, 0.4, 1.0]
    cases = {"detection": (DetectionLoss(3), boxes, rng.normal(size=(2, 2, 3, 8)).astype("float32")),
             "segmentation": (MaskedCrossEntropy(), rng.integers(0, 3, (2, 4, 6)),
                              rng.dirichlet(np.ones(3), (2, 4, 6)).astype("float32"))}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    result = {}
    for task, (loss, target, prediction) in cases.items():
        alone = float(loss(target, prediction))
        per_replica = strategy.run(lambda: per_replica_mean(loss(target, prediction), loss))  # each replica: all of it
        result[task] = [alone] + [float(v) for v in strategy.experimental_local_results(per_replica)]
    print(json.dumps(result))
''')


def test_every_task_loss_reaches_the_weighting_as_the_replicas_own_mean():
    """Keras' reduction divides DetectionLoss by the replicas, MaskedPixelLoss reduces itself: both come out as
    the replica's own mean, as on one device."""
    result = subprocess.run([sys.executable, "-c", LOSS_SCALE_SCRIPT], capture_output=True, text=True, cwd=REPOSITORY,
                            env={**os.environ, "PYTHONPATH": REPOSITORY, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    values = json.loads(result.stdout.strip().splitlines()[-1])
    for task, (alone, *replicas) in values.items():
        assert len(replicas) == 2, task
        np.testing.assert_allclose(replicas, alone, rtol=1e-6, err_msg=task)


# ----------------------------------------------------------------------------------------- the helpers
def test_strategy_names_scopes_and_clear_errors(monkeypatch):
    import tensorflow as tf

    default = distribution.get_strategy(None)
    assert distribution.replicas(default) == 1 and not distribution.is_tf_distributed(default)
    with distribution.strategy_scope("none") as strategy:
        assert strategy is tf.distribute.get_strategy()
    with pytest.raises(distribution.DistributionError, match="choose one of none, mirrored, multiworker"):
        distribution.get_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribution.DistributionError, match="TF_CONFIG"):
        distribution.get_strategy("multiworker")
    mirrored = distribution.get_strategy("mirrored")  # no GPU here: one replica on the CPU
    assert mirrored is distribution.get_strategy("mirrored") and distribution.replicas(mirrored) >= 1

    class TwoReplicas:
        num_replicas_in_sync = 2

    distribution.check_weighting("gradnorm", TwoReplicas())  # its step combines the global batch's gradients now
    distribution.check_weighting("gradnorm", default)
    distribution.check_weighting("uncertainty", TwoReplicas())
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker",
                                                                                               "index": 1}}))
    assert distribution.worker_role() == ("worker", 1, False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}))
    assert distribution.worker_role() == ("worker", 0, True)


def test_executors_submit_an_item_after_what_it_needs_and_skip_it_when_that_failed():
    order = []

    def work(item):
        order.append(item)
        if item == "bad":
            raise RuntimeError("broken")
        return item.upper()

    results = {item: (value, failure) for item, value, failure in InProcessExecutor().map(
        work, ["a", "bad", "b", "c"], after={"b": ["a"], "c": ["bad"]})}
    assert results["a"] == ("A", None) and results["b"] == ("B", None)
    assert results["bad"] == (None, "RuntimeError: broken")
    assert results["c"] == (None, "waits for bad, which failed") and "c" not in order


# ----------------------------------------------------------------------------------------- many runs on Ray
def _timed(item):
    """A stand-in run: sleeps, records when it ran and where; "bad" fails (module level: Ray pickles it by value)."""
    import time

    started = time.time()
    time.sleep(1.5)
    if item == "bad":
        raise RuntimeError("broken")
    return {"pid": os.getpid(), "start": started, "end": time.time()}


def test_ray_executor_submits_ready_items_together_and_the_others_once_what_they_need_is_done():
    import ray
    from ray import cloudpickle

    from training.executors import RayExecutor, connect_ray

    ray.shutdown()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    connect_ray("local", num_cpus=2)
    try:
        results = {item: (value, failure) for item, value, failure in RayExecutor(resources={"num_cpus": 1}).map(
            _timed, ["a", "b", "c", "bad", "d"], after={"c": ["a"], "d": ["bad"]})}
    finally:
        ray.shutdown()
    a, b, c = (results[item][0] for item in "abc")
    assert a["pid"] != b["pid"] and a["start"] < b["end"] and b["start"] < a["end"]  # two workers at once
    assert c["start"] >= a["end"]  # c starts from a: submitted once a was done
    assert results["bad"] == (None, "RuntimeError: broken")
    assert results["d"] == (None, "waits for bad, which failed")


def test_run_many_submits_each_run_after_the_run_it_starts_from_and_skips_it_when_that_failed(tmp_path,
                                                                                               monkeypatch):
    from reproduce import runner
    from reproduce.datasets import DataSources
    from reproduce.experiment import Experiment

    base = dict(builder="build_multitask", dataset="kitti", builder_options={"tasks": {"segmentation": 12}},
                class_set="kitti12", init="random")
    plan = runner.Plan([Experiment("a", **base), Experiment("b", **{**base, "init": "model:a"}),
                        Experiment("c", **{**base, "learning_rate": 1e-3}),
                        Experiment("d", **{**base, "init": "encoder:c"})],
                       runner.Settings(out=str(tmp_path), sources=DataSources({}, str(tmp_path / "synthetic"), 8)))
    monkeypatch.setattr(runner.DataSources, "reader", lambda *args, **kwargs: None)  # no data: the runs are fakes
    calls = []

    def fake_run(plan, name, keep_init=False, label=None, wait=True):
        calls.append((name, keep_init, label))
        if name == "c":
            raise runner.RunFailed("ValueError: broken")
        return {"train_seconds": 1.0}, True

    monkeypatch.setattr(runner, "_run_one", fake_run)
    order = plan.order(["b", "d"])
    lines = []
    counts, failures = runner.run_many(plan, order, keep_init=plan.needed_as_start(order), labels={"a": "A"},
                                       echo=lines.append)
    assert order == ["a", "b", "c", "d"] and calls == [("a", True, "A"), ("b", False, "b"), ("c", True, "c")]
    assert counts == {"trained": 2, "reused": 0}
    assert failures == {"c": "ValueError: broken", "d": "starts from c, which failed"}
    assert lines == ["c: failed: ValueError: broken", "d: skipped: starts from c, which failed"]


def _tiny_plan(out, **settings):
    from reproduce import runner
    from reproduce.datasets import DataSources
    from reproduce.experiment import Experiment

    experiment = Experiment("tiny", "build_multitask", "kitti", {"tasks": {"segmentation": 12}, "backbone": "resnet10"},
                            class_set="kitti12", init="random", batch_size=2, epochs=1, monitor="val_segmentation_loss")
    sources = DataSources({}, str(out / "synthetic"), synthetic_num=8)
    return runner.Plan([experiment], runner.Settings(out=str(out), sources=sources, image_size=(64, 96),
                                                     train_images=2, val_images=2, progress=False, **settings))


def test_a_run_under_a_strategy_keeps_its_hash_and_records_the_strategy(tmp_path):
    """The runner's strategy path on this machine (MirroredStrategy over its one CPU: one replica)."""
    from reproduce import runner

    plan = _tiny_plan(tmp_path, strategy="mirrored")
    assert plan.run_id("tiny") == _tiny_plan(tmp_path).run_id("tiny")  # the strategy is not hashed
    scaled = _tiny_plan(tmp_path, scale_lr=True, batch_size=4)  # --scale-lr is: 1e-4 x 4 / 2
    assert scaled.config("tiny")["experiment"]["learning_rate"] == pytest.approx(2e-4)
    assert scaled.run_id("tiny") != _tiny_plan(tmp_path, batch_size=4).run_id("tiny")
    metrics = runner.run(plan, "tiny")
    assert 0 <= metrics["segmentation/miou"] <= 1
    with open(os.path.join(plan.run_dir("tiny"), "config.json")) as handle:
        assert json.load(handle)["distribution"] == {"strategy": "mirrored", "replicas": 1}
