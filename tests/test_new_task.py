"""A task the library does not know, defined in a module of its own outside the library
(tests/fixtures/surface_normals.py), works through the whole loop without a library file naming it: its target
from data.load, a multi-task model, GLS training with its streaming metric, evaluation, TensorBoard panels,
`python -m models.predict --import MODULE` pictures and arrays, and a `.keras` round trip in a fresh process."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import data
import models
import tasks
from training.callbacks import PredictionPanels, task_metrics

FIXTURE = "tests.fixtures.surface_normals"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = (64, 96)


@pytest.fixture(scope="module")
def normals():
    import importlib

    return importlib.import_module(FIXTURE)


@pytest.fixture(scope="module")
def dataset(normals, tmp_path_factory):
    options = dict(layout="kitti", num=6, seed=1, cache_dir=str(tmp_path_factory.mktemp("synthetic")),
                   image_size=SIZE)
    return {split: data.load("synthetic", None, split, ["segmentation", "normals"], batch_size=2, **options)
            for split in ("train", "val")}


def _run(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          **kwargs)


def test_the_new_task_trains_evaluates_draws_predicts_and_reloads(normals, dataset, tmp_path):
    assert "normals" in tasks.registered() and "normals" in data.pipeline.target_names()
    inputs, targets = next(iter(dataset["train"]))
    # its target is derived from the depth field, which is read for it and not handed on
    assert sorted(targets) == ["normals", "segmentation"] and targets["normals"].shape == (2, *SIZE, 3)
    lengths = np.linalg.norm(targets["normals"].numpy(), axis=-1)
    assert ((np.abs(lengths - 1) < 1e-4) | (lengths == 0)).all() and (lengths > 0).mean() > 0.5

    model = models.build_multitask({"segmentation": 20, "normals": 3}, input_shape=(*SIZE, 3), backbone="resnet10")
    assert model.output["normals"].shape[-1] == 3
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting="gls", metrics=task_metrics(model))
    assert isinstance(model.task_losses["normals"], normals.MaskedCosineLoss)
    history = model.fit(dataset["train"], validation_data=dataset["val"], epochs=1, verbose=0).history
    for key in ("normals_loss", "normals_weight", "val_normals_mean_angle", "val_segmentation_loss"):
        assert key in history and np.isfinite(history[key][-1]), key
    assert 0 < history["val_normals_mean_angle"][-1] <= 180

    # whole-split scores from the task's evaluator, as reproduce.evaluation collects them
    evaluator = tasks.get_task("normals").evaluator(3, context=None)
    for index, (batch_inputs, batch_targets) in enumerate(dataset["val"]):
        evaluator.update(np.asarray(model.predict_on_batch(batch_inputs)["normals"]),
                         {k: v.numpy() for k, v in batch_targets.items()}, 2 * index)
    scores = evaluator.scores()
    assert 0 < scores["normals/mean_angle"] <= 180 and 0 <= scores["normals/within_11.25"] <= 1

    panels = PredictionPanels(inputs, targets, str(tmp_path / "logs"), max_images=2)
    panels.set_model(model)
    written = panels.write(0)
    assert written["normals"].shape == (2, SIZE[0], 3 * SIZE[1] + 2 * 4, 3)
    assert os.listdir(tmp_path / "logs" / "validation")

    # .keras round trip and prediction in fresh processes, loading the task with --import
    path = str(tmp_path / "normals.keras")
    model.save(path)
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    picture = np.clip(inputs["image"].numpy()[0], 0, 255).astype(np.uint8)
    Image.fromarray(np.repeat(np.repeat(picture, 2, 0), 2, 1)).save(images / "frame.png")  # 128x192
    out = tmp_path / "predicted"
    result = _run("-m", "models.predict", "--import", FIXTURE, "--model", path, "--input", str(images),
                  "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    saved = np.load(out / "normals" / "frame.npy")
    assert saved.shape == (128, 192, 3) and np.allclose(np.linalg.norm(saved, axis=-1), 1, atol=1e-3)
    with Image.open(out / "normals" / "frame.png") as drawn:
        assert drawn.size == (192, 128)
    assert json.loads((out / "summary.json").read_text())["tasks"] == ["segmentation", "normals"]

    expected = np.asarray(model.predict_on_batch({"image": inputs["image"].numpy()[:1]})["normals"])
    np.save(tmp_path / "expected.npy", expected)
    np.save(tmp_path / "image.npy", inputs["image"].numpy()[:1])
    check = (f"import keras, numpy as np, models, {FIXTURE} as fixture\n"
             f"model = keras.saving.load_model({path!r})\n"
             f"assert isinstance(model.task_losses['normals'], fixture.MaskedCosineLoss)\n"
             f"got = model.predict_on_batch({{'image': np.load({str(tmp_path / 'image.npy')!r})}})['normals']\n"
             f"np.testing.assert_allclose(got, np.load({str(tmp_path / 'expected.npy')!r}), atol=1e-5)\n")
    result = _run("-c", check)
    assert result.returncode == 0, result.stderr[-3000:]


def test_without_the_module_a_command_line_says_what_to_import(dataset, tmp_path):
    result = _run("-m", "models.predict", "--import", "no_such_task_module", "--model", "m.keras", "--input", ".",
                  "--out", str(tmp_path))
    assert result.returncode == 2 and "--import no_such_task_module: no module of that name" in result.stderr


def test_an_unregistered_output_fails_loudly_instead_of_being_drawn_as_another_task():
    image = keras.Input((32, 32, 3), name="image")
    model = models.MultiTaskModel({"image": image}, {"edges": keras.layers.Conv2D(1, 1, name="edges")(image)})
    panels = PredictionPanels(np.zeros((1, 32, 32, 3), np.float32), {}, "unused")
    panels.set_model(model)
    with pytest.raises(ValueError, match="unknown task 'edges'; registered tasks"):
        panels.render()
    with pytest.raises(ValueError, match="unknown task 'edges'"):
        model.compile(weighting="equal")
