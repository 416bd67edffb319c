"""training.callbacks: TensorBoard image panels (input | prediction | ground truth) and per-task validation metrics,
read back from the event files a tiny two-task model writes while it trains."""
import glob
import io
import os
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import models
from metrics import segmentation_scores
from models.overlays import colorize_depth, colorize_segmentation, generic_palette
from training import callbacks

TINY = (64, 96)
PANEL_WIDTH = 3 * TINY[1] + 2 * callbacks.PANEL_GAP


def read_events(run_dir):
    """{tag: [(step, value)]} of every event file in a TensorBoard run folder; images as lists of (H, W, 3)
    uint8 arrays, scalars as floats."""
    import tensorflow as tf

    found = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":
                    width, height = int(array[0]), int(array[1])
                    decoded = [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in array[2:]]
                    assert all(image.shape == (height, width, 3) for image in decoded)
                    found.setdefault(value.tag, []).append((event.step, decoded))
                else:
                    found.setdefault(value.tag, []).append((event.step, float(array)))
    return found


def _examples(count=4):
    rng = np.random.default_rng(0)
    height, width = TINY
    inputs = {"image": rng.uniform(0, 255, (count, height, width, 3)).astype("float32")}
    depth = rng.uniform(1, 50, (count, height, width, 1)).astype("float32")
    depth[:, :4] = 0  # invalid pixels
    targets = {"segmentation": rng.integers(0, 3, (count, height, width)).astype("int32"), "depth": depth}
    targets["segmentation"][:, -4:] = 255  # ignored pixels
    return inputs, targets


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """3 epochs of a ResNet-10 segmentation + depth model with Keras' TensorBoard and panels every 2 epochs."""
    keras.utils.set_random_seed(0)
    log_dir = str(tmp_path_factory.mktemp("tensorboard"))
    model = models.build_multitask({"segmentation": 3, "depth": 1}, input_shape=TINY + (3,), backbone="resnet10")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=callbacks.task_metrics(model), run_eagerly=True)
    inputs, targets = _examples()
    panels = callbacks.PredictionPanels(inputs, targets, log_dir, every=2, max_images=2)
    history = model.fit(inputs, targets, validation_data=(inputs, targets), batch_size=2, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0), panels])
    return {"model": model, "panels": panels, "history": history.history, "log_dir": log_dir, "inputs": inputs,
            "targets": targets, "validation": read_events(os.path.join(log_dir, "validation")),
            "train": read_events(os.path.join(log_dir, "train"))}


def test_panels_are_written_every_n_epochs_and_after_the_last(trained):
    events = trained["validation"]
    for task in ("segmentation", "depth"):
        written = events[f"panels/{task}"]
        assert [step for step, _ in written] == [1, 2]  # the 2nd epoch (every=2) and the 3rd, the last
        for _, images in written:
            assert [image.shape for image in images] == [(TINY[0], PANEL_WIDTH, 3)] * 2
    assert trained["panels"].written_steps == [1, 2]


def test_a_panel_is_input_prediction_and_ground_truth(trained):
    model, inputs, targets = trained["model"], trained["inputs"], trained["targets"]
    width, gap = TINY[1], callbacks.PANEL_GAP
    predicted = model(inputs, training=False)
    segmentation = trained["validation"]["panels/segmentation"][-1][1]  # the last epoch: the model as it is now
    depth = trained["validation"]["panels/depth"][-1][1]
    palette = generic_palette(3)
    for index in range(2):
        image = np.round(inputs["image"][index]).astype(np.uint8)
        tiles = [segmentation[index][:, k * (width + gap): k * (width + gap) + width] for k in range(3)]
        np.testing.assert_array_equal(tiles[0], image)
        np.testing.assert_array_equal(tiles[1], colorize_segmentation(
            np.asarray(predicted["segmentation"][index]).argmax(-1), palette))
        np.testing.assert_array_equal(tiles[2], colorize_segmentation(targets["segmentation"][index], palette))
        assert (tiles[2][-4:] == 0).all() and (segmentation[index][:, width:width + gap] == 255).all()
        truth = targets["depth"][index, ..., 0]
        low, high = np.percentile(truth[truth > 0], [2, 98])  # one colour range for prediction and truth
        depth_tiles = [depth[index][:, k * (width + gap): k * (width + gap) + width] for k in range(3)]
        np.testing.assert_array_equal(depth_tiles[0], image)
        np.testing.assert_array_equal(depth_tiles[1], colorize_depth(
            np.asarray(predicted["depth"][index]), vmin=low, vmax=high))
        np.testing.assert_array_equal(depth_tiles[2], colorize_depth(truth, vmin=low, vmax=high))


def test_task_losses_weights_and_validation_metrics_are_logged(trained):
    history, train, validation = trained["history"], trained["train"], trained["validation"]
    for task in ("segmentation", "depth"):
        for name in (f"{task}_loss", f"{task}_weight"):
            assert [step for step, _ in train[f"epoch_{name}"]] == [0, 1, 2]
            np.testing.assert_allclose([v for _, v in train[f"epoch_{name}"]], history[name], rtol=1e-6)
    for name in ("segmentation_miou", "depth_abs_rel", "depth_rmse", "depth_delta1"):
        assert [step for step, _ in validation[f"epoch_{name}"]] == [0, 1, 2], name
        np.testing.assert_allclose([v for _, v in validation[f"epoch_{name}"]], history[f"val_{name}"], rtol=1e-6)
        assert name in history  # on the training batches too
    # the last epoch's validation mIoU is the offline score of the final model on the same images
    model, inputs, targets = trained["model"], trained["inputs"], trained["targets"]
    predicted = np.asarray(model(inputs, training=False)["segmentation"]).argmax(-1)
    offline = segmentation_scores(targets["segmentation"], predicted, 3)["miou"]
    np.testing.assert_allclose(history["val_segmentation_miou"][-1], offline, rtol=1e-5)
    assert 0 <= history["val_depth_delta1"][-1] <= 1 and history["val_depth_rmse"][-1] > 0


def test_task_metrics_cover_the_scored_tasks_named_as_keras_logs_them():
    class Stub:
        tasks = ("segmentation", "motion", "depth", "disparity", "detection", "colorization")
        output = {"segmentation": keras.KerasTensor((None, 8, 8, 20)),
                  "colorization": keras.KerasTensor((None, 8, 8, 36))}

    chosen = callbacks.task_metrics(Stub())
    assert {task: [m.name for m in ms] for task, ms in chosen.items()} == {
        "segmentation": ["miou"], "motion": ["miou"], "depth": ["abs_rel", "rmse", "delta1"],
        "colorization": ["miou"]}  # Keras adds "{task}_" when two or more outputs are scored
    assert chosen["segmentation"][0].num_classes == 20 and chosen["motion"][0].num_classes == 2
    # one scored task (e.g. SegNet, or colorization beside self-supervised disparity): Keras adds no prefix
    only_depth = callbacks.task_metrics(Stub(), tasks=["depth"])
    assert {task: [m.name for m in ms] for task, ms in only_depth.items()} == {
        "depth": ["depth_abs_rel", "depth_rmse", "depth_delta1"]}
    Stub.tasks = ("colorization", "disparity")
    assert [m.name for m in callbacks.task_metrics(Stub())["colorization"]] == ["colorization_miou"]


def test_detection_panels_draw_predicted_and_true_boxes():
    from models.detection import encode_raw_predictions

    height, width = TINY
    images = np.zeros((2, height, width, 3), np.float32)
    boxes = -np.ones((2, 3, 5), np.float32)
    boxes[0, 0] = [0.25, 0.25, 0.75, 0.5, 1]  # one box of class 1 on the first image, none on the second
    raw = np.asarray(encode_raw_predictions(boxes, (height // 32, width // 32), 2))
    palette = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    panels = callbacks.PredictionPanels(images, {"detection": boxes}, "unused", palettes={"detection": palette})
    rendered = panels.render({"detection": raw})["detection"]
    assert rendered.shape == (2, height, PANEL_WIDTH, 3)
    tile = slice(width + callbacks.PANEL_GAP, 2 * width + callbacks.PANEL_GAP)
    prediction, truth = rendered[0][:, tile], rendered[0][:, -width:]
    np.testing.assert_array_equal(prediction, truth)  # the decoded box is the true one
    top, left, bottom, right = 16, 24, 47, 47  # pixel rows/columns of [0.25, 0.25, 0.75, 0.5] at 64x96
    for y, x in ((top, left + 5), (bottom, left + 5), (top + 5, left), (top + 5, right)):
        assert tuple(truth[y, x]) == (0, 255, 0), (y, x)
    assert not truth[top + 3:bottom - 2, left + 3:right - 2].any()  # an outline, not a filled box
    assert not truth[:top].any() and not truth[:, right + 1:].any()
    assert not rendered[1][:, tile].any() and not rendered[1][:, -width:].any()  # no box: the plain image


def test_missing_ground_truth_gets_a_grey_tile_and_colorize_replaces_the_renderers():
    images = np.zeros((1,) + TINY + (3,), np.float32)
    calls = []

    def labels(ids, palette):
        calls.append(("labels", ids.shape, len(palette)))
        return np.full(ids.shape + (3,), 7, np.uint8)

    colorize = {"segmentation": labels, "depth": None, "motion": None}
    panels = callbacks.PredictionPanels(images, {}, "unused", colorize=colorize)
    rendered = panels.render({"segmentation": np.zeros((1,) + TINY + (5,), np.float32)})["segmentation"][0]
    assert calls == [("labels", TINY, 5)]
    assert (rendered[:, -TINY[1]:] == callbacks.MISSING_GREY).all()
    assert (rendered[:, TINY[1] + callbacks.PANEL_GAP: 2 * TINY[1] + callbacks.PANEL_GAP] == 7).all()


def test_bad_arguments_are_named():
    images = np.zeros((1,) + TINY + (3,), np.float32)
    with pytest.raises(ValueError, match="every and max_images"):
        callbacks.PredictionPanels(images, {}, "unused", every=0)
    with pytest.raises(ValueError, match="no 'image' entry"):
        callbacks.PredictionPanels({"previous_image": images}, {}, "unused")
    with pytest.raises(ValueError, match=r"\(N >= 1, H, W, 3\)"):
        callbacks.PredictionPanels(images[..., 0], {}, "unused")


def test_only_writing_needs_tensorflow_and_its_absence_is_named(monkeypatch):
    import ast

    source = ast.parse(open(callbacks.__file__).read())
    top_level = {alias.name.split(".")[0] for node in source.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])}
    # tensorflow, models: inside the functions using them; the standard library is free
    assert top_level - set(sys.stdlib_module_names) == {"keras", "numpy"}
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` now fails, as without it
    panels = callbacks.PredictionPanels(np.zeros((1,) + TINY + (3,)), {}, "unused",
                                        colorize={"segmentation": None, "depth": None, "motion": None})
    monkeypatch.setattr(panels, "render", lambda: {})
    with pytest.raises(ImportError, match="tf.summary, which needs TensorFlow; the Keras backend is 'tensorflow'"):
        panels.write(0)
