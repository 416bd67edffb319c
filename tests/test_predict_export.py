"""python -m models.predict and python -m models.export on tiny saved models: outputs, pictures, streaming, the
deployment formats checked against Keras, and every bad input answered with exit code 2 and one clear line."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import models
from data.synthetic import write_dataset
from models import export as export_cli
from models import predict as predict_cli
from models.cli import run_command
from tests.real_samples import REAL_SAMPLES

TINY = (64, 96, 3)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_FRAME = REAL_SAMPLES / "kitti_object" / "training" / "image_2" / "000000.png"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tiny trained-shape models saved as .keras files, and synthetic images in their official layouts."""
    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    builds = {"detseg": lambda: models.build_detseg(3, 19, input_shape=TINY),
              "multinet_pp": lambda: models.build_multinet_pp(input_shape=TINY, backbone="resnet10"),
              "selfsup": lambda: models.build_selfsup(input_shape=TINY, backbone="resnet10")}
    paths = {}
    for name, build in builds.items():
        paths[name] = str(folder / f"{name}.keras")
        build().save(paths[name])
    kitti = write_dataset("kitti", str(folder / "kitti"), 2, image_size=(90, 300), progress=False)
    synthia = write_dataset("synthia", str(folder / "synthia"), 3, image_size=(96, 160), val_fraction=0.0,
                            progress=False)
    paths["kitti_images"] = os.path.join(kitti, "training", "image_2")
    sequences = sorted(os.listdir(synthia))
    paths["sequence"] = os.path.join(synthia, sequences[0], "RGB", "Stereo_Left", "Omni_F")
    return paths


def run(main, *argv):
    return run_command(main, [str(value) for value in argv])


def image_size(path):
    with Image.open(path) as picture:
        return picture.height, picture.width


def test_predict_writes_every_task_at_the_image_size(saved, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(predict_cli.main, "--model", saved["detseg"], "--input", saved["kitti_images"], "--out", out,
               "--batch-size", 3, "--score-threshold", 0.0, "--quiet") == 0
    images = sorted(os.listdir(saved["kitti_images"]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == len(images) == 4 and summary["skipped"] == [] and not summary["streaming"]
    for name in images:
        stem = os.path.splitext(name)[0]
        height, width = image_size(os.path.join(saved["kitti_images"], name))
        segmentation = np.load(out / "segmentation" / f"{stem}.npy")
        assert segmentation.shape == (height, width) and segmentation.dtype == np.uint8
        assert segmentation.max() < 19
        assert image_size(out / "segmentation" / f"{stem}.png") == (height, width)
        boxes = np.load(out / "detection" / f"{stem}.npy")
        assert boxes.ndim == 2 and boxes.shape[1] == 6 and len(boxes) > 0  # threshold 0 keeps the best boxes
        assert (boxes[:, :4] >= 0).all() and (boxes[:, [0, 2]] <= height).all() and (boxes[:, [1, 3]] <= width).all()
        assert set(np.unique(boxes[:, 5])) <= {0.0, 1.0, 2.0} and ((boxes[:, 4] >= 0) & (boxes[:, 4] <= 1)).all()
        assert image_size(out / "detection" / f"{stem}.png") == (height, width)
    assert "4 image(s) predicted, 0 skipped" in capsys.readouterr().out


def test_predict_streams_a_sequence_like_the_full_model_and_writes_a_gif(saved, tmp_path):
    out = tmp_path / "out"
    pattern = os.path.join(saved["sequence"], "*.png")
    assert run(predict_cli.main, "--model", saved["multinet_pp"], "--input", pattern, "--out", out, "--video", "gif",
               "--quiet") == 0
    frames = sorted(os.listdir(saved["sequence"]))
    assert json.loads((out / "summary.json").read_text())["streaming"]
    model = keras.saving.load_model(saved["multinet_pp"], compile=False)
    renderer = predict_cli.Renderer(model)
    images = [predict_cli.read_image(os.path.join(saved["sequence"], name)) for name in frames]
    for t, name in enumerate(frames):
        stem = os.path.splitext(name)[0]
        pair = {"image": predict_cli._resized(images[t], TINY[:2])[None],
                "previous_image": predict_cli._resized(images[max(t - 1, 0)], TINY[:2])[None]}
        full = renderer.outputs_at_image_size(
            {task: value[0] for task, value in model.predict_on_batch(pair).items()}, images[t])
        np.testing.assert_array_equal(np.load(out / "segmentation" / f"{stem}.npy"), full["segmentation"])
        motion = np.load(out / "motion" / f"{stem}.npy")
        assert motion.shape == images[t].shape[:2] and set(np.unique(motion)) <= {0, 1}
        np.testing.assert_allclose(np.load(out / "depth" / f"{stem}.npy"), full["depth"], atol=1e-4)
    with Image.open(out / "segmentation.gif") as gif:
        assert gif.n_frames == len(frames)


@pytest.mark.skipif(not REAL_FRAME.is_file(), reason="shared/real-samples not available")
def test_predict_on_a_real_kitti_frame_scales_disparity_to_the_image_width(saved, tmp_path):
    out = tmp_path / "out"
    assert run(predict_cli.main, "--model", saved["selfsup"], "--input", REAL_FRAME, "--out", out, "--quiet") == 0
    image = predict_cli.read_image(str(REAL_FRAME))
    model = keras.saving.load_model(saved["selfsup"], compile=False)
    raw = model.predict_on_batch({"image": predict_cli._resized(image, TINY[:2])[None]})
    disparity = np.load(out / "disparity" / "000000.npy")
    assert disparity.shape == image.shape[:2] == image_size(REAL_FRAME)
    width_ratio = image.shape[1] / TINY[1]
    np.testing.assert_allclose(disparity.max(), raw["disparity"].max() * width_ratio, rtol=0.05)
    assert np.load(out / "colorization" / "000000.npy").shape == image.shape[:2] + (2,)
    assert image_size(out / "colorization" / "000000.png") == image.shape[:2]
    assert image_size(out / "disparity" / "000000.png")[1] > image.shape[1]  # the colour bar sits beside the map


def test_a_bad_image_among_good_ones_is_skipped_and_counted(saved, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    good = sorted(os.listdir(saved["kitti_images"]))[0]
    Image.open(os.path.join(saved["kitti_images"], good)).save(folder / "good.png")
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert run(predict_cli.main, "--model", saved["detseg"], "--input", folder, "--out", out, "--quiet") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 1 and [item["file"] for item in summary["skipped"]] == [str(folder / "broken.png")]
    captured = capsys.readouterr()
    assert "skipping unreadable image" in captured.err and "broken.png" in captured.err
    assert "1 image(s) predicted, 1 skipped" in captured.out
    assert (out / "segmentation" / "good.npy").is_file() and not (out / "segmentation" / "broken.npy").exists()


def bad_inputs(saved, tmp_path):
    plain = tmp_path / "plain.keras"
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(plain)
    garbage = tmp_path / "garbage.keras"
    garbage.write_text("not a model")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"\x89PNG broken")
    images, out = saved["kitti_images"], tmp_path / "out"
    return [
        (predict_cli.main, ["--model", garbage, "--input", images, "--out", out], "garbage.keras"),
        (predict_cli.main, ["--model", plain, "--input", images, "--out", out], "not a multi-task model"),
        (predict_cli.main, ["--model", tmp_path / "missing.keras", "--input", images, "--out", out], "no such file"),
        (predict_cli.main, ["--model", saved["detseg"], "--input", empty, "--out", out], "no image files"),
        (predict_cli.main, ["--model", saved["detseg"], "--input", broken, "--out", out], "none of the 1 files"),
        (predict_cli.main, ["--model", saved["detseg"], "--input", images, "--out", out, "--classes", "kitti12"],
         "--classes kitti12"),
        (export_cli.main, ["--model", saved["detseg"], "--out", out, "--head", "depth"], "--head 'depth'"),
        (export_cli.main, ["--model", saved["detseg"], "--out", out, "--streaming"], "--streaming needs a 2-frame"),
        (export_cli.main, ["--model", saved["detseg"], "--out", out, "--input-size", "100x96"], "--input-size"),
        (export_cli.main, ["--model", plain, "--out", out], "not a multi-task model"),
    ]


def test_bad_input_gives_one_clear_line_and_exit_code_2(saved, tmp_path, capsys):
    for main, argv, expected in bad_inputs(saved, tmp_path):
        assert run(main, *argv) == 2, argv
        error = capsys.readouterr().err
        assert expected in error and "Traceback" not in error, (argv, error)
    assert not (tmp_path / "out").exists()


def test_a_missing_export_package_is_named(saved, tmp_path, monkeypatch, capsys):
    real_find_spec = export_cli.importlib.util.find_spec
    monkeypatch.setattr(export_cli.importlib.util, "find_spec",
                        lambda name, *args: None if name == "tf2onnx" else real_find_spec(name, *args))
    assert run(export_cli.main, "--model", saved["detseg"], "--out", tmp_path / "out", "--format", "onnx") == 2
    assert "pip install tf2onnx" in capsys.readouterr().err


def test_the_command_line_exits_2_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "models.predict", "--model", str(tmp_path / "none.keras"),
                             "--input", str(tmp_path), "--out", str(tmp_path / "out")],
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode == 2
    assert "no image files" in result.stderr and "Traceback" not in result.stderr


def test_savedmodel_export_of_one_head_at_another_size_serves_the_keras_outputs(saved, tmp_path, capsys):
    import tensorflow as tf

    out = tmp_path / "segmentation_only"
    assert run(export_cli.main, "--model", saved["detseg"], "--out", out, "--head", "segmentation",
               "--input-size", "96x160") == 0
    assert "largest difference to Keras" in capsys.readouterr().out
    record = json.loads((out / "export.json").read_text())
    assert record["outputs"] == ["segmentation"] and record["inputs"] == {"image": [None, 96, 160, 3]}
    assert max(record["max_abs_difference"].values()) < 1e-4
    model = keras.saving.load_model(saved["detseg"], compile=False)
    resized = export_cli.with_input_size(model, (96, 160))
    images = np.random.default_rng(1).uniform(0, 255, (3, 96, 160, 3)).astype("float32")
    loaded = tf.saved_model.load(str(out))  # keep a reference: its variables die with it
    served = loaded.serve({"image": images})
    assert set(served) == {"segmentation"}
    np.testing.assert_allclose(served["segmentation"].numpy(), resized.predict_on_batch(images)["segmentation"],
                               atol=1e-5)
    # the same weights: back at the original size the re-created network is the original one
    small = np.random.default_rng(2).uniform(0, 255, (1,) + TINY).astype("float32")
    back = export_cli.with_input_size(resized, TINY[:2])
    for task, value in model.predict_on_batch(small).items():
        np.testing.assert_allclose(back.predict_on_batch(small)[task], value, atol=1e-5)


def test_streaming_export_encodes_each_frame_once_and_equals_the_full_model(saved, tmp_path):
    import tensorflow as tf

    out = tmp_path / "streaming"
    assert run(export_cli.main, "--model", saved["multinet_pp"], "--out", out, "--streaming", "--batch", 1) == 0
    loaded = tf.saved_model.load(str(out))  # keep a reference: its variables die with it
    step = loaded.serve
    record = json.loads((out / "export.json").read_text())
    previous = {name: np.zeros(shape, "float32") for name, shape in record["inputs"].items() if name != "image"}
    model = keras.saving.load_model(saved["multinet_pp"], compile=False)
    frames = np.random.default_rng(5).uniform(0, 255, (3, 1) + TINY).astype("float32")


    def call(image, previous):
        result = {name: value.numpy() for name, value in step({"image": image, **previous}).items()}
        return result, {f"previous_{level}": result.pop(f"features_{level}") for level in ("P3", "P4", "P5")}

    _, previous = call(frames[0], previous)  # a sequence starts with zeros; only the features are kept
    for t in range(3):
        result, previous = call(frames[t], previous)
        full = model.predict_on_batch({"image": frames[t], "previous_image": frames[max(t - 1, 0)]})
        for task in model.tasks:
            np.testing.assert_allclose(result[task], full[task], atol=1e-4)


@pytest.mark.parametrize("export_format", ["onnx", "litert"])
def test_onnx_and_litert_exports_reproduce_keras(export_format, saved, tmp_path, capsys):
    out = tmp_path / export_format
    assert run(export_cli.main, "--model", saved["detseg"], "--out", out, "--format", export_format) == 0
    record = json.loads((out / "export.json").read_text())
    assert (out / record["file"]).is_file() and record["file"] == export_cli.FILE_NAMES[export_format]
    assert max(record["max_abs_difference"].values()) < 1e-4
    assert export_format in capsys.readouterr().out
