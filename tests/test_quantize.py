"""int8 export (python -m models.export --quantize int8) on tiny ResNet-10 models at 64x96, and the inference
benchmark on a tiny size: the int8 files run, agree with the float model per task in export.json, a layer the
converters cannot quantise is named, and the benchmark fills its table (PyTorch rows skipped cleanly without it)."""
import json

import keras
import numpy as np
import pytest

import models
from data.synthetic import write_dataset
from models import export as export_cli
from models.cli import run_command
from models.multitask_model import MultiTaskModel
from models.runtimes import load_exported

TINY = (64, 96, 3)
CALIBRATION = ("--calibration-images", 3, "--check-images", 2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tiny MultiNet++ and detection+segmentation models saved as .keras files, and KITTI-layout scenes at 64x96."""
    folder = tmp_path_factory.mktemp("int8")
    keras.utils.set_random_seed(0)
    paths = {"multinet_pp": str(folder / "multinet_pp.keras"), "detseg": str(folder / "detseg.keras")}
    models.build_multinet_pp(input_shape=TINY, backbone="resnet10").save(paths["multinet_pp"])
    models.build_detseg(3, 19, input_shape=TINY).save(paths["detseg"])
    paths["kitti"] = write_dataset("kitti", str(folder / "kitti"), 7, image_size=TINY[:2], progress=False)
    return paths


def run(*argv):
    return run_command(export_cli.main, [str(value) for value in argv])


@pytest.mark.parametrize("export_format", ["litert", "onnx"])
def test_the_int8_streaming_step_agrees_with_keras_per_task_and_feeds_int8_features_back(export_format, saved,
                                                                                          tmp_path, capsys):
    out = tmp_path / export_format
    assert run("--model", saved["multinet_pp"], "--out", out, "--format", export_format, "--streaming", "--quantize",
               "int8", "--calibration", f"kitti={saved['kitti']}", "--int8-io", *CALIBRATION) == 0
    assert "held-out" in capsys.readouterr().out
    record = json.loads((out / "export.json").read_text())
    quantization = record["quantization"]
    assert quantization["calibration_images"] == 3 and quantization["check_images"] == 2
    assert {"segmentation_score_p5", "depth_up_p3", "motion", "normalization"} <= set(quantization["float_layers"])
    scores = quantization["agreement_with_float"]
    for task in ("segmentation", "motion"):
        assert scores[task]["pixel_agreement"] > 0.9 and scores[task]["miou_vs_float"] > 0.8, scores
    assert scores["depth"]["relative_rms_error"] < 0.2, scores
    assert all(scores[f"features_P{level}"]["relative_rms_error"] < 0.1 for level in (3, 4, 5)), scores
    # --int8-io: the cached features are int8 both ways, with one scale, so a deployment feeds them back as they are
    io = quantization["int8_io"]
    assert {f"{prefix}P{level}" for prefix in ("previous_", "features_") for level in (3, 4, 5)} == set(io)
    assert all(io[f"previous_P{level}"] == io[f"features_P{level}"] for level in (3, 4, 5))
    run_int8 = load_exported(str(out / record["file"]), export_format)
    frame = np.random.default_rng(0).uniform(0, 255, (1,) + TINY).astype(np.float32)
    integer = np.dtype(io["features_P3"]["dtype"])  # int8 in LiteRT, uint8 in ONNX Runtime
    first = run_int8({"image": frame, **{f"previous_P{level}": np.zeros(record["inputs"][f"previous_P{level}"],
                                                                        integer) for level in (3, 4, 5)}})
    assert first["features_P3"].dtype == integer and first["segmentation"].dtype == np.float32
    again = run_int8({"image": frame, **{f"previous_P{level}": first[f"features_P{level}"] for level in (3, 4, 5)}})
    np.testing.assert_allclose(again["segmentation"].sum(-1), 1.0, atol=1e-3)


def test_the_detection_head_quantises_and_its_boxes_agree_with_the_float_model(saved, tmp_path):
    out = tmp_path / "detseg"
    assert run("--model", saved["detseg"], "--out", out, "--format", "litert", "--quantize", "int8",
               "--calibration", f"kitti={saved['kitti']}", *CALIBRATION) == 0
    record = json.loads((out / "export.json").read_text())
    assert record["quantization"]["int8_io"] == {}  # float32 at the boundary by default
    detection = record["quantization"]["agreement_with_float"]["detection"]
    assert detection["box_iou_vs_float"] > 0.8 and detection["class_agreement"] > 0.8, detection


@keras.saving.register_keras_serializable(package="tests")
class Sine(keras.layers.Layer):
    """An op neither converter has an int8 kernel for."""

    def call(self, inputs):
        return keras.ops.sin(inputs)


@pytest.mark.parametrize("export_format", ["litert", "onnx"])
def test_an_op_that_cannot_be_quantised_is_refused_naming_its_layer(export_format, saved, tmp_path, capsys):
    image = keras.Input(TINY, name="image")
    features = Sine(name="sine_features")(keras.layers.Conv2D(4, 3, padding="same", name="stem")(image))
    scores = keras.layers.Conv2D(3, 1, name="segmentation_score_p3")(keras.layers.Conv2D(4, 1, name="mix")(features))
    model = MultiTaskModel({"image": image}, {"segmentation": keras.layers.Activation(
        "softmax", name="segmentation")(scores)}, name="sine_net")
    path = tmp_path / "sine.keras"
    model.save(path)
    out = tmp_path / "out"
    assert run("--model", path, "--out", out, "--format", export_format, "--quantize", "int8",
               "--calibration", f"kitti={saved['kitti']}", "--calibration-images", 2, "--check-images", 1) == 1
    error = capsys.readouterr().err
    assert "layer 'sine_features'" in error and "cannot be quantised to int8" in error, error
    assert "Traceback" not in error and not out.exists()


def test_quantisation_options_are_checked_before_any_work(saved, tmp_path, capsys):
    cases = [(["--quantize", "int8", "--calibration", "kitti"], "--format onnx or litert"),
             (["--format", "onnx", "--quantize", "int8"], "needs --calibration"),
             (["--format", "onnx", "--calibration", "kitti"], "only apply with --quantize"),
             (["--format", "litert", "--quantize", "int8", "--calibration", "imagenet"], "DATASET must be one of"),
             (["--format", "litert", "--quantize", "int8", "--calibration", f"kitti={saved['kitti']}",
               "--calibration-images", 50], "fewer than the 58 needed")]
    for options, expected in cases:
        assert run("--model", saved["detseg"], "--out", tmp_path / "out", *options) == 2, options
        error = capsys.readouterr().err
        assert expected in error and "Traceback" not in error, (options, error)


def test_the_inference_benchmark_fills_its_table_and_skips_pytorch_without_it(tmp_path, monkeypatch):
    from benchmarks import inference

    monkeypatch.setattr(inference, "_torch_missing", lambda args: "torch not installed (benchmark-only)")
    page = tmp_path / "speed.md"
    page.write_text("before\n<!-- inference-segnet-64x96:start -->\nold\n<!-- inference-segnet-64x96:end -->\nafter\n")
    out = tmp_path / "inference.json"
    assert inference.main(["--model", "segnet", "--size", "64x96", "--backbone", "resnet10", "--frames", "2",
                           "--warmup", "1", "--rounds", "1", "--runtimes", "onnx_float32,torch_float32",
                           "--work", str(tmp_path / "work"), "--out", str(out), "--docs", str(page)]) == 0
    results = json.loads(out.read_text())["results"]
    assert len(results["onnx_float32"]["ms"]) == 2
    assert results["torch_float32"] == {"skipped": "torch not installed (benchmark-only)"}
    text = page.read_text()
    assert "| ours: ONNX in ONNX Runtime, float32 |" in text and "torch not installed" in text
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
