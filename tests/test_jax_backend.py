"""The models, losses, metrics and every weighting strategy train under KERAS_BACKEND=jax.

The Keras backend is fixed at the first `import keras` and the rest of the suite runs TensorFlow, so one child
process (this file run as a script) does all the JAX work and writes its findings to a JSON file; the tests below
read it. The child blocks `import tensorflow` (as on a GPU host without TensorFlow) and feeds numpy arrays, never
tf.data. It covers:
- every loss-level strategy of `losses.weighting.STRATEGIES`, fitted (2 epochs of 2 batches of 2) on a tiny
  `MultiTaskModel` (segmentation + depth; one compiled train step per strategy, so the model is as small as
  possible), one run with the streaming metrics;
- every strategy that combines per-task gradients (GradNorm and the gradient-level ones, losses/weighting/jax_steps.py
  inside Keras' compiled stateless step), fitted for two steps on tests/fixtures/tiny_encoder_model.py in its
  default mode and, for representatives, in the representation mode;
- the same tiny sweeps are run here under TensorFlow: the logged task losses and weights and the strategies' state
  (DWA, TWB, async, Nash-MTL's warm start, GradVac's targets, ... updated inside the compiled step or at epoch ends)
  must agree between the backends (the random strategies draw from each backend's own generator, so RLW, GradDrop
  and the task orders of PCGrad and GradVac with more than two tasks are checked for running, not for equality);
- `build_detseg` (ResNet-10 encoder, FCN8 decoder as in `build_multitask`, YOLO-style head and detection loss) with
  learned uncertainty weights: fit, `.keras` save/load with equal outputs and strategy state;
- `build_selfsup` (segmentation, colorization, stereo reconstruction from `right_image`) with DWA.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = (8, 12, 3)  # the strategy sweep's model: its graph does not matter to the strategies, its compile time does
IMAGE = (64, 96, 3)  # the builders' models
STRATEGY_OPTIONS = {
    "fixed": {"weights": {"segmentation": 2.0, "depth": 0.5}},
    "fls": {"focus": ["segmentation"]},
    "async": {"frequencies": {"depth": 2}},  # depth trains in epoch 0, not in epoch 1
    "handcrafted": {"warmup_steps": 3},  # the warm-up state crosses the epoch boundary, then freezes
}
LEARNED = ("uncertainty", "weight_learning")
#: the per-task-gradient sweep: (name, mode or "" for the default)
GRADIENT_RUNS = tuple((name, "") for name in (
    "mgda", "pcgrad", "gradvac", "graddrop", "imtl_g", "imtl", "cagrad", "nash_mtl", "aligned_mtl", "upgrad", "db_mtl",
    "gradnorm")) + tuple((name, "representation") for name in ("mgda", "graddrop", "nash_mtl"))
#: drawn from the backend's own generator: not comparable across backends
RANDOM = ("rlw", "graddrop")
METRICS_STRATEGY = "equal"  # this sweep run also compiles the streaming metrics of metrics/streaming.py
CHILD_TIMEOUT_S = 900


# ---- backend-neutral helpers (used by the JAX child and by the TensorFlow test process) ---------------------
def sweep_names():
    from losses import weighting

    return tuple(name for name, cls in weighting.STRATEGIES.items() if not cls.needs_task_gradients)


def tiny_data(shape=TINY, n=4, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (n,) + shape).astype("float32")
    labels = rng.integers(0, 3, (n,) + shape[:2]).astype("int32")
    labels[:, 0] = 255  # ignored row
    depth = rng.uniform(1, 50, (n,) + shape[:2] + (1,)).astype("float32")
    depth[:, -1] = 0.0  # invalid row
    return {"image": image}, {"segmentation": labels, "depth": depth}


def tiny_multitask_model():
    """A MultiTaskModel with a shared 3x3 convolution and two 1x1 heads; deterministic numpy weights, so the
    TensorFlow and JAX runs start from the same point."""
    import keras

    from models import MultiTaskModel

    image = keras.Input(TINY, name="image")
    trunk = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(image)
    trunk = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="trunk")(trunk)
    outputs = {"segmentation": keras.layers.Conv2D(3, 1, activation="softmax", name="segmentation")(trunk),
               "depth": keras.layers.Conv2D(1, 1, name="depth")(trunk)}
    model = MultiTaskModel({"image": image}, outputs, name="tiny_multitask")
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0.0, 0.5, weight.shape).astype("float32") for weight in model.get_weights()])
    return model


def strategy_state(strategy):
    import keras

    return {variable.name: np.asarray(keras.ops.convert_to_numpy(variable), dtype="float64").tolist()
            for variable in strategy.variables}


def history_lists(history):
    return {key: [float(value) for value in values] for key, values in history.history.items()}


def sweep_metrics(name):
    if name != METRICS_STRATEGY:
        return None
    import metrics

    return {"segmentation": [metrics.SegmentationMeanIoU(3, name="miou")], "depth": [metrics.DepthAbsRel()]}


def run_sweep(names, run_eagerly=False):
    """Fits the tiny model with each strategy; returns {name: {history, initial_state, state, task_weights}}."""
    import keras

    x, y = tiny_data()
    results = {}
    for name in names:
        model = tiny_multitask_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), weighting=name,
                      weighting_options=STRATEGY_OPTIONS.get(name), metrics=sweep_metrics(name),
                      run_eagerly=run_eagerly)
        initial_state = strategy_state(model.weighting)
        history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
        results[name] = {"history": history_lists(history), "initial_state": initial_state,
                         "state": strategy_state(model.weighting), "task_weights": model.weighting.task_weights}
    return results


def run_gradient_sweep(run_eagerly=False):
    """Fits tests/fixtures/tiny_encoder_model.py for two steps with each run of GRADIENT_RUNS; returns
    {"name:mode": {history, state}}."""
    import keras

    from tests.fixtures import tiny_encoder_model

    x, y = tiny_encoder_model.batch(n=4)
    results = {}
    for name, mode in GRADIENT_RUNS:
        model = tiny_encoder_model.build()
        options = {"mode": mode} if mode else {}
        options.update({"seed": 3} if name in ("pcgrad", "gradvac", "graddrop") else {})
        model.compile(optimizer=keras.optimizers.SGD(1e-2), weighting=name, weighting_options=options,
                      run_eagerly=run_eagerly)
        history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
        results[f"{name}:{mode}"] = {"history": history_lists(history), "state": strategy_state(model.weighting)}
    return results


# ---- the JAX child ----------------------------------------------------------------------------------------
def _clock():
    return time.perf_counter(), time.process_time()


def _timed(timings, key, start):
    """Records [wall s, CPU s of all threads] since `start`; returns a new start."""
    now = _clock()
    timings[key] = [round(now[0] - start[0], 1), round(now[1] - start[1], 1)]
    return now


def _detseg_round_trip(workdir, timings):
    """build_detseg (ResNet-10 encoder, FCN8 segmentation, YOLO-style head) with learned uncertainty weights and a
    streaming metric: fit, then `.keras` save/load must give equal outputs and equal strategy state."""
    import keras

    import metrics
    import models

    start = _clock()
    keras.utils.set_random_seed(0)
    model = models.build_detseg(3, 3, input_shape=IMAGE)
    start = _timed(timings, "detseg_build", start)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting="uncertainty",
                  metrics={"segmentation": [metrics.SegmentationMeanIoU(3, name="miou")]})
    x, y = tiny_data(IMAGE)
    boxes = -np.ones((4, 3, 5), dtype="float32")  # [ymin, xmin, ymax, xmax, class], -1 rows = padding
    boxes[:, 0] = [0.10, 0.10, 0.50, 0.40, 1.0]
    boxes[:2, 1] = [0.50, 0.55, 0.90, 0.95, 2.0]
    history = model.fit(x, {"segmentation": y["segmentation"], "detection": boxes}, batch_size=2, epochs=2,
                        verbose=0)
    start = _timed(timings, "detseg_fit", start)
    path = os.path.join(workdir, "detseg.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    batch = {"image": x["image"][:2]}
    original, loaded = model.predict_on_batch(batch), restored.predict_on_batch(batch)
    _timed(timings, "detseg_save_load_predict", start)
    return {
        "history": history_lists(history),
        "output_max_abs_diff": {task: float(np.max(np.abs(np.asarray(original[task]) - np.asarray(loaded[task]))))
                                for task in original},
        "weighting_class": type(restored.weighting).__name__,
        "state": strategy_state(model.weighting),
        "restored_state": strategy_state(restored.weighting),
    }


def _selfsup(timings):
    import keras

    import models

    start = _clock()
    keras.utils.set_random_seed(0)
    model = models.build_selfsup(num_classes=3, input_shape=IMAGE, backbone="resnet10")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting="dwa")
    x, y = tiny_data(IMAGE)
    colors = np.random.default_rng(2).integers(0, 36, (4,) + IMAGE[:2]).astype("int32")
    targets = {"segmentation": y["segmentation"], "colorization": colors,
               "right_image": np.roll(x["image"], -3, axis=2)}
    history = model.fit(x, targets, batch_size=2, epochs=2, verbose=0)
    _timed(timings, "selfsup_build_fit", start)
    return {"history": history_lists(history), "task_weights": model.weighting.task_weights}


class _NoTensorFlow:
    """Import hook: `import tensorflow` raises ImportError, as on a host without TensorFlow."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"{name} is blocked: the JAX backend must not need TensorFlow")
        return None


def child_main(out_path):
    sys.meta_path.insert(0, _NoTensorFlow())
    start = _clock()
    import keras

    results = {"backend": keras.backend.backend(), "timings": {}}
    timings = results["timings"]
    start = _timed(timings, "import", start)
    results["sweep"] = run_sweep(sweep_names())
    start = _timed(timings, "sweep", start)
    results["gradient_sweep"] = run_gradient_sweep()
    start = _timed(timings, "gradient_sweep", start)
    with tempfile.TemporaryDirectory() as workdir:
        results["detseg"] = _detseg_round_trip(workdir, timings)
    results["selfsup"] = _selfsup(timings)
    results["tensorflow_imported"] = "tensorflow" in sys.modules
    with open(out_path, "w") as handle:
        json.dump(results, handle)


# ---- tests (TensorFlow process) -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jax_results(tmp_path_factory):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: pip install \"jax[cpu]\" (see requirements.txt)")
    out = tmp_path_factory.mktemp("jax") / "results.json"
    # XLA's CPU compiler dominates the child's time (one compiled train step per strategy and model); its LLVM
    # optimisation level 0 compiles ~40% faster (runtime is negligible at these sizes).
    xla_flags = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=python_path, XLA_FLAGS=xla_flags)
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, __file__, str(out)], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    assert completed.returncode == 0, f"JAX child failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-6000:]}"
    results = json.loads(out.read_text())
    print(f"\nJAX child: {elapsed:.1f}s, phases {results['timings']}")
    return results


def test_child_ran_jax_without_tensorflow(jax_results):
    assert jax_results["backend"] == "jax"
    assert jax_results["tensorflow_imported"] is False


def test_every_loss_level_strategy_fits_under_jax_and_logs_task_losses_and_weights(jax_results):
    sweep = jax_results["sweep"]
    assert sorted(sweep) == sorted(sweep_names())
    for name, result in sweep.items():
        history = result["history"]
        for key in ("loss", "segmentation_loss", "depth_loss", "segmentation_weight", "depth_weight"):
            assert key in history, (name, key, sorted(history))
            assert len(history[key]) == 2 and np.all(np.isfinite(history[key])), (name, key, history[key])
    metric_logs = sweep[METRICS_STRATEGY]["history"]
    assert np.all(np.isfinite(metric_logs["segmentation_miou"])) and np.all(np.isfinite(metric_logs["depth_abs_rel"]))


def test_learned_weights_move_under_jax(jax_results):
    for name in LEARNED:
        result = jax_results["sweep"][name]
        before = np.asarray(result["initial_state"]["log_variances" if name == "uncertainty" else "balance_logit"])
        after = np.asarray(result["state"]["log_variances" if name == "uncertainty" else "balance_logit"])
        assert np.all(np.abs(after - before) > 1e-3), (name, before, after)
        weights = result["history"]["segmentation_weight"]
        assert weights[1] != pytest.approx(weights[0], abs=1e-4), (name, weights)


def test_epoch_level_state_under_jax(jax_results):
    sweep = jax_results["sweep"]
    # Dynamic scaling: epoch 1 uses the ratio of epoch 0's mean losses (reference = segmentation).
    history = sweep["dynamic_scaling"]["history"]
    assert history["depth_weight"][0] == pytest.approx(1.0)
    expected = history["segmentation_loss"][0] / history["depth_loss"][0]
    assert history["depth_weight"][1] == pytest.approx(expected, rel=1e-4)
    # Async: depth (nu = 2) is off in epoch 1.
    assert sweep["async"]["history"]["depth_weight"] == pytest.approx([1.0, 0.0])
    # DWA: weights 1 in epochs 0 and 1; after epoch 1 end_epoch sets 2 softmax((L(1) / L(0)) / 2).
    history = sweep["dwa"]["history"]
    assert history["depth_weight"] == pytest.approx([1.0, 1.0])
    rates = np.array([history[f"{task}_loss"][1] / history[f"{task}_loss"][0] for task in ("segmentation", "depth")])
    expected = 2.0 * np.exp(rates / 2.0) / np.sum(np.exp(rates / 2.0))
    assert sweep["dwa"]["state"]["loss_weights"] == pytest.approx(expected.tolist(), rel=1e-4)
    assert sweep["dwa"]["state"]["epochs_recorded"] == pytest.approx(2.0)
    # TWB / handcrafted update their state inside the compiled step.
    assert sweep["twb"]["state"]["initialized"] == pytest.approx(1.0)
    assert sweep["twb"]["state"]["loss_weights"] != pytest.approx([1.0, 1.0])
    assert sweep["handcrafted"]["state"]["steps_seen"] == pytest.approx(3.0)


def test_weights_and_state_match_tensorflow(jax_results):
    """The same tiny fits under TensorFlow (this process) log the same losses, weights and strategy state. Eager:
    tracing 12 tf.functions would cost ~15 s, and eager TensorFlow is the reference semantics of variable updates."""
    import keras

    assert keras.backend.backend() == "tensorflow"
    tensorflow_results = run_sweep(sweep_names(), run_eagerly=True)
    for name, jax_run in jax_results["sweep"].items():
        if name in RANDOM:
            continue
        tf_run = tensorflow_results[name]
        for key, values in tf_run["history"].items():
            np.testing.assert_allclose(jax_run["history"][key], values, rtol=2e-3, atol=1e-5,
                                       err_msg=f"{name}: {key}")
        for key, values in tf_run["state"].items():
            np.testing.assert_allclose(jax_run["state"][key], values, rtol=2e-3, atol=1e-5, err_msg=f"{name}: {key}")


def test_every_gradient_strategy_fits_under_jax_as_under_tensorflow(jax_results):
    """GradNorm and the gradient-level strategies train inside Keras' compiled JAX step, in both modes, and log and
    keep what an eager TensorFlow run of the same two steps does."""
    import keras

    assert keras.backend.backend() == "tensorflow"
    sweep = jax_results["gradient_sweep"]
    assert sorted(sweep) == sorted(f"{name}:{mode}" for name, mode in GRADIENT_RUNS)
    tensorflow_results = run_gradient_sweep(run_eagerly=True)
    for run, jax_run in sweep.items():
        name = run.split(":")[0]
        history = jax_run["history"]
        assert np.all(np.isfinite(history["loss"])) and ("depth_weight" in history) == (name != "graddrop"), run
        if name in RANDOM:
            continue
        for key, values in tensorflow_results[run]["history"].items():
            np.testing.assert_allclose(history[key], values, rtol=2e-3, atol=1e-5, err_msg=f"{run}: {key}")
        for key, values in tensorflow_results[run]["state"].items():
            np.testing.assert_allclose(jax_run["state"][key], values, rtol=2e-3, atol=1e-5, err_msg=f"{run}: {key}")


def test_detection_model_fits_and_round_trips_through_keras_file_under_jax(jax_results):
    result = jax_results["detseg"]
    history = result["history"]
    for key in ("loss", "detection_loss", "segmentation_loss", "detection_weight", "segmentation_weight",
                "segmentation_miou"):
        assert len(history[key]) == 2 and np.all(np.isfinite(history[key])), (key, history)
    assert history["detection_loss"][0] > 0
    assert result["weighting_class"] == "UncertaintyWeightingStrategy"
    assert result["state"]["log_variances"] != pytest.approx([0.0, 0.0])
    for key, values in result["state"].items():
        np.testing.assert_allclose(result["restored_state"][key], values, rtol=1e-6, err_msg=key)
    for task, difference in result["output_max_abs_diff"].items():
        assert difference <= 1e-5, (task, difference)


def test_selfsupervised_stereo_model_fits_under_jax(jax_results):
    selfsup = jax_results["selfsup"]["history"]
    for task in ("segmentation", "colorization", "disparity"):
        for key in (f"{task}_loss", f"{task}_weight"):
            assert len(selfsup[key]) == 2 and np.all(np.isfinite(selfsup[key])), (key, selfsup)
    assert sum(jax_results["selfsup"]["task_weights"].values()) == pytest.approx(3.0, rel=1e-4)


if __name__ == "__main__":
    child_main(sys.argv[1])
