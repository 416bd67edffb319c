"""metrics.cityscapes against the official cityscapesScripts evaluation (evalPixelLevelSemanticLabeling).

Every agreement test writes ground truth and predictions as PNG files and runs the official ``evaluateImgLists`` on
them (quiet, no json, no multiprocessing), since that is what the benchmark numbers come from. cityscapesscripts
2.3.0 calls ``np.in1d``, which numpy 2.4 removed: the tests patch that one name to ``np.isin`` (monkeypatch restores
it), the rest of the script runs unchanged.
"""
import copy
import glob
import os
import time

import numpy as np
import pytest
from PIL import Image

import data
import data.synthetic
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official
from cityscapesscripts.helpers import labels as official_labels
from data import labels
from metrics import cityscapes, segmentation_scores
from metrics.cityscapes import CityscapesEvaluator, upsample_prediction, write_submission_png
from tests import data_trees

TRAIN_ID_OF_LABEL_ID = labels.cityscapes_lookup()[0]
INSTANCE_LABEL_IDS = [l.id for l in labels.CITYSCAPES_LABELS if l.has_instances]  # 24..33, caravan/trailer included


@pytest.fixture
def official_args(monkeypatch, tmp_path):
    """The script's module-level ``args``, copied and configured for a quiet in-process run."""
    monkeypatch.setattr(np, "in1d", np.isin, raising=False)
    args = copy.copy(official.args)
    args.avgClassSize = dict(official.args.avgClassSize)
    args.quiet = True
    args.JSONOutput = False
    args.colorized, args.bold, args.nocol = False, "", ""
    args.evalInstLevelScore = True
    args.evalPixelAccuracy = False
    args.exportFile = str(tmp_path / "official.json")
    args.predictionPath, args.predictionWalk = None, None
    return args


def write_pairs(folder, ground_truth, predictions):
    """Writes (label_ids, instance_ids) and labelId predictions as files; returns (prediction files, gt files)."""
    prediction_files, gt_files = [], []
    for index, ((label_ids, instance_ids), predicted) in enumerate(zip(ground_truth, predictions)):
        stem = os.path.join(folder, f"city_{index:06d}_000019")
        data_trees.write_png(stem + "_gtFine_labelIds.png", label_ids.astype(np.uint8))
        data_trees.write_png(stem + "_gtFine_instanceIds.png", instance_ids.astype(np.uint16))
        data_trees.write_png(stem + "_pred.png", predicted.astype(np.uint8))
        prediction_files.append(stem + "_pred.png")
        gt_files.append(stem + "_gtFine_labelIds.png")
    return prediction_files, gt_files


def random_ground_truth(rng, shape, label_ids=range(34), instances_per_class=4, crowd_share=0.2):
    """Random labelIds (void and ignored ids included) and matching instanceIds (labelId * 1000 + k on instance
    classes, a bare labelId on crowd pixels and stuff, as gtFine stores them)."""
    label_ids = rng.choice(np.asarray(list(label_ids)), shape).astype(np.int64)
    instance_ids = label_ids.copy()
    has_instances = np.isin(label_ids, INSTANCE_LABEL_IDS) & (rng.random(shape) >= crowd_share)
    numbers = rng.integers(0, instances_per_class, shape)
    instance_ids[has_instances] = label_ids[has_instances] * 1000 + numbers[has_instances]
    return label_ids, instance_ids


def noisy_copy(rng, label_ids, choices, keep=0.6):
    """Predictions that agree with the ground truth on about ``keep`` of the pixels, else random ``choices``."""
    random = rng.choice(np.asarray(choices), label_ids.shape)
    return np.where(rng.random(label_ids.shape) < keep, label_ids, random)


def assert_matches_official(ours, theirs):
    """Every score of ours equals the script's result dict (``createResultDict``) to 1e-9, NaN where it is NaN."""
    def close(a, b):
        np.testing.assert_allclose(np.array(a, np.float64), np.array(b, np.float64), rtol=0, atol=1e-9, equal_nan=True)

    np.testing.assert_array_equal(ours["confusion_matrix"], np.array(theirs["confMatrix"]))
    pairs = (("iou_per_class", "classScores"), ("iou_per_category", "categoryScores"),
             ("iiou_per_class", "classInstScores"), ("iiou_per_category", "categoryInstScores"))
    for our_key, their_key in pairs:
        close([ours[our_key][name] for name in ours[our_key]], [theirs[their_key][name] for name in ours[our_key]])
        # the script's entries that we leave out are all NaN (ignored classes, void, categories without instances)
        assert all(np.isnan(value) for name, value in theirs[their_key].items() if name not in ours[our_key])
    close(ours["miou"], theirs["averageScoreClasses"])
    close(ours["iiou"], theirs["averageScoreInstClasses"])
    close(ours["category_miou"], theirs["averageScoreCategories"])
    close(ours["category_iiou"], theirs["averageScoreInstCategories"])


def evaluate_ours(ground_truth, predictions, prediction_ids):
    evaluator = CityscapesEvaluator(prediction_ids=prediction_ids)
    for (label_ids, instance_ids), predicted in zip(ground_truth, predictions):
        evaluator.update(label_ids, predicted, instance_ids)
    return evaluator.result()


# ------------------------------------------------------------------------------------------------ tables
def test_label_table_and_instance_weights_are_the_official_ones():
    ours = [(l.name, l.id, l.train_id, l.category, l.category_id, l.has_instances, l.ignore_in_eval, l.color)
            for l in labels.CITYSCAPES_LABELS]
    theirs = [(l.name, l.id, l.trainId, l.category, l.categoryId, l.hasInstances, l.ignoreInEval, l.color)
              for l in official_labels.labels]
    assert ours == theirs
    assert cityscapes.AVERAGE_INSTANCE_SIZES == official.args.avgClassSize
    assert cityscapes.EVALUATED_CLASSES == labels.CITYSCAPES_CLASSES
    assert cityscapes.INSTANCE_CLASSES == ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
    assert cityscapes.EVALUATED_CATEGORIES == ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
    assert cityscapes.INSTANCE_CATEGORIES == ("human", "vehicle")
    for train_id, label_id in enumerate(cityscapes.TRAIN_ID_TO_LABEL_ID[:19]):
        assert official_labels.trainId2label[train_id].id == label_id
    assert cityscapes.train_ids_to_label_ids(np.array([255]))[0] == 0


# ----------------------------------------------------------------------------------------- (a) class IoU
@pytest.mark.parametrize("seed, gt_ids", [(0, range(34)), (1, range(34)), (2, (0, 1, 7, 8, 11, 21, 24, 26, 29))])
def test_class_iou_equals_official_on_train_id_predictions(seed, gt_ids, tmp_path, official_args):
    """Random trainId predictions on random ground truth with void and ignored labels; with gt_ids restricted, most
    classes are absent from the ground truth (NaN, or 0 when only predicted)."""
    rng = np.random.default_rng(seed)
    ground_truth = [random_ground_truth(rng, (64, 128), gt_ids) for _ in range(3)]
    predictions = [noisy_copy(rng, TRAIN_ID_OF_LABEL_ID[g], range(19)) for g, _ in ground_truth]
    predictions = [np.where(p == 255, rng.integers(0, 19, p.shape), p) for p in predictions]  # a model predicts 0..18
    theirs = official.evaluateImgLists(
        *write_pairs(str(tmp_path), ground_truth, [cityscapes.train_ids_to_label_ids(p) for p in predictions]),
        official_args)
    ours = evaluate_ours(ground_truth, predictions, "train_ids")
    assert_matches_official(ours, theirs)

    train_scores = segmentation_scores(np.stack([TRAIN_ID_OF_LABEL_ID[g] for g, _ in ground_truth]),
                                       np.stack(predictions), 19)
    np.testing.assert_allclose(train_scores["iou"], [theirs["classScores"][n] for n in labels.CITYSCAPES_CLASSES],
                               rtol=0, atol=1e-9, equal_nan=True)
    assert abs(train_scores["miou"] - theirs["averageScoreClasses"]) < 1e-9
    if len(gt_ids) < 34:
        assert np.isnan(ours["iou_per_class"]["terrain"]) or ours["iou_per_class"]["terrain"] == 0.0


def test_all_void_ground_truth_gives_nan_like_official(tmp_path, official_args):
    ground_truth = [(np.zeros((16, 32), np.int64), np.zeros((16, 32), np.int64))]
    predictions = [np.full((16, 32), 26)]
    theirs = official.evaluateImgLists(*write_pairs(str(tmp_path), ground_truth, predictions), official_args)
    ours = evaluate_ours(ground_truth, predictions, "label_ids")
    assert_matches_official(ours, theirs)
    assert np.isnan(ours["miou"]) and np.isnan(ours["iiou"])


# ---------------------------------------------------------------------- (b) categories, instance-level
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_category_and_instance_scores_equal_official_on_label_id_predictions(seed, tmp_path, official_args):
    """labelId predictions over all 34 ids (void, caravan and trailer too: they matter for the category scores) on
    random instance maps, crowds (bare labelIds of instance classes) and ignored instances (caravan, trailer)."""
    rng = np.random.default_rng(seed)
    ground_truth = [random_ground_truth(rng, (64, 128), instances_per_class=2 + index) for index in range(3)]
    vehicle_heavy = (26, 27, 28, 29, 30, 31, 32, 33, 24, 25, 0, 7)
    predictions = [noisy_copy(rng, g, range(34) if index % 2 else vehicle_heavy, keep=0.5)
                   for index, (g, _) in enumerate(ground_truth)]
    theirs = official.evaluateImgLists(*write_pairs(str(tmp_path), ground_truth, predictions), official_args)
    ours = evaluate_ours(ground_truth, predictions, "label_ids")
    assert_matches_official(ours, theirs)
    assert all(not np.isnan(v) for v in ours["iiou_per_class"].values())


def test_train_id_scores_are_arg_maxed_and_sizes_must_match():
    rng = np.random.default_rng(0)
    label_ids, instance_ids = random_ground_truth(rng, (8, 16))
    scores = rng.random((8, 16, 19))
    by_scores = CityscapesEvaluator().update(label_ids, scores, instance_ids).result()
    by_ids = CityscapesEvaluator().update(label_ids, scores.argmax(-1), instance_ids).result()
    np.testing.assert_array_equal(by_scores["confusion_matrix"], by_ids["confusion_matrix"])
    with pytest.raises(ValueError, match="upsample_prediction"):
        CityscapesEvaluator().update(label_ids, scores[:4], instance_ids)
    with pytest.raises(ValueError, match="instanceIds"):
        CityscapesEvaluator().update(label_ids, scores)
    assert "iiou" not in CityscapesEvaluator(instance_level=False).update(label_ids, scores).result()
    with pytest.raises(ValueError, match="0..33"):
        CityscapesEvaluator(prediction_ids="label_ids").update(label_ids, np.full((8, 16), 34), instance_ids)


# ------------------------------------------------------------------------- (c) submission files, full size
def test_submission_files_are_found_and_scored_by_the_official_script(tmp_path, monkeypatch, official_args):
    """Low-resolution trainId scores -> write_submission_png -> the script's own ground-truth search and
    ``getPrediction`` (CITYSCAPES_RESULTS) -> the same numbers as CityscapesEvaluator, at 2048x1024."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    dataset, results = tmp_path / "cityscapes", tmp_path / "results"
    evaluator = CityscapesEvaluator()
    for index, city in enumerate(("frankfurt", "lindau", "munster")):
        image_id = f"{city}_{index:06d}_000019"
        # blocky ground truth (16x16-pixel cells), so instances are regions as in real maps
        coarse_labels, coarse_instances = random_ground_truth(rng, (64, 128), instances_per_class=3)
        label_ids = np.kron(coarse_labels, np.ones((16, 16), np.int64))
        instance_ids = np.kron(coarse_instances, np.ones((16, 16), np.int64))
        stem = dataset / "gtFine" / "val" / city / f"{image_id}_gtFine"
        data_trees.write_png(f"{stem}_labelIds.png", label_ids.astype(np.uint8))
        data_trees.write_png(f"{stem}_instanceIds.png", instance_ids.astype(np.uint16))
        scores = rng.random((56, 96, 19)).astype(np.float32)  # a model's output at a quarter of 224x384
        scores[..., 13] += 0.3  # a car-loving model, so the instance scores are not all zero
        path = write_submission_png(results, image_id, scores)
        assert path == str(results / city / f"{image_id}_leftImg8bit.png")
        written = Image.open(path)
        assert written.mode == "L" and written.size == (2048, 1024)
        evaluator.update(label_ids, upsample_prediction(scores), instance_ids)
    assert not [p for p in os.listdir(results / "frankfurt") if p.startswith(".")]  # no temporary files left

    monkeypatch.setenv("CITYSCAPES_RESULTS", str(results))
    ground_truth_files = sorted(glob.glob(str(dataset / "gtFine" / "val" / "*" / "*_gtFine_labelIds.png")))
    prediction_files = [official.getPrediction(official_args, gt) for gt in ground_truth_files]
    assert [os.path.basename(p) for p in prediction_files] == [
        "frankfurt_000000_000019_leftImg8bit.png", "lindau_000001_000019_leftImg8bit.png",
        "munster_000002_000019_leftImg8bit.png"]
    theirs = official.evaluateImgLists(prediction_files, ground_truth_files, official_args)
    assert_matches_official(evaluator.result(), theirs)
    assert time.perf_counter() - start < 30


def test_submission_writer_checks_the_image_id(tmp_path):
    with pytest.raises(ValueError, match="city"):
        write_submission_png(tmp_path, "berlin_19", np.zeros((4, 8), np.uint8))
    path = write_submission_png(tmp_path, "berlin_000000_000019", np.full((4, 8), 13), size=(8, 16))
    np.testing.assert_array_equal(np.array(Image.open(path)), np.full((8, 16), 26))  # car: trainId 13 -> labelId 26


# ------------------------------------------------------------------------------------------ (d) upsampling
def test_upsampling_hand_made_case():
    ids = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(upsample_prediction(ids, (4, 4)),
                                  [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    # one row of two pixels: class 0 sure on the left, class 2 ahead of class 1 on the right. Output pixel x samples
    # the input at t = x / 4 - 0.375 (half-pixel centres), where class 0 scores 1 - t and class 2 0.55 t: class 0
    # wins while t < 1 / 1.55 = 0.645, i.e. for x <= 4 (t = 0.625); nearest of the argmax would split at x = 4.
    scores = np.array([[[1.0, 0.0, 0.0], [0.0, 0.45, 0.55]]])
    np.testing.assert_array_equal(upsample_prediction(scores, (1, 8)), [[0, 0, 0, 0, 0, 2, 2, 2]])
    np.testing.assert_array_equal(upsample_prediction(scores.argmax(-1), (1, 8)), [[0, 0, 0, 0, 2, 2, 2, 2]])


def test_upsampling_follows_tf_image_resize():
    """The same half-pixel sampling as tf.image.resize (what data/pipeline.py uses), on non-integer factors."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    scores = rng.random((7, 12, 5)).astype(np.float32)
    expected = tf.image.resize(scores, (31, 50), method="bilinear").numpy().argmax(-1)
    np.testing.assert_array_equal(upsample_prediction(scores, (31, 50), rows_per_chunk=4), expected)
    ids = rng.integers(0, 19, (7, 12))
    expected = tf.image.resize(ids[..., None], (31, 50), method="nearest").numpy()[..., 0]
    np.testing.assert_array_equal(upsample_prediction(ids, (31, 50)), expected)


# ----------------------------------------------------------------------------------------------- reader
def test_reader_gives_instance_ids_paths_on_a_tiny_tree(tmp_path):
    written = data_trees.cityscapes_tree(str(tmp_path), counts={"train": 2, "val": 2})
    for name, entry in written.items():
        city = name.split("_")[0]
        path = tmp_path / "gtFine" / entry["split"] / city / f"{name}_gtFine_instanceIds.png"
        data_trees.write_png(str(path), entry["label"].astype(np.uint16))
    reader = data.get_reader("cityscapes", str(tmp_path))
    for split in ("train", "val"):
        for tasks in (["segmentation"], []):
            for example in reader.list_examples(split, tasks):
                expected = example.files["image"].replace("leftImg8bit", "gtFine", 1).replace(
                    "_leftImg8bit.png", "_gtFine_instanceIds.png")
                assert reader.instance_ids_path(example) == expected
                assert "instance" not in "".join(example.files)  # the pipeline's fields are unchanged
    example = reader.list_examples("val", ["segmentation"])[0]
    os.remove(reader.instance_ids_path(example))
    with pytest.raises(FileNotFoundError, match="gtFine_trainvaltest.zip"):
        reader.instance_ids_path(example)


def test_synthetic_layout_evaluates_like_official(tmp_path, official_args):
    """The synthetic Cityscapes tree through the reader: instance maps from real-looking scenes, official agreement."""
    root = data.synthetic.write_dataset("cityscapes", tmp_path / "synthetic", num=4, progress=False)
    reader = data.get_reader("cityscapes", str(root))
    examples = reader.list_examples("train", ["segmentation"]) + reader.list_examples("val", ["segmentation"])
    assert len(examples) == 4
    rng = np.random.default_rng(0)
    evaluator = CityscapesEvaluator(prediction_ids="label_ids")
    prediction_files, gt_files = [], []
    for example in examples:
        label_ids = np.array(Image.open(example.files["segmentation"]))
        instance_ids = np.array(Image.open(reader.instance_ids_path(example)))
        assert (instance_ids > 1000).any()
        predicted = noisy_copy(rng, label_ids, (7, 8, 11, 21, 23, 24, 25, 26, 27), keep=0.8).astype(np.uint8)
        evaluator.update(label_ids, predicted, instance_ids)
        prediction_files.append(str(tmp_path / "predictions" / f"{example.name}_pred.png"))
        data_trees.write_png(prediction_files[-1], predicted)
        gt_files.append(example.files["segmentation"])
    theirs = official.evaluateImgLists(prediction_files, gt_files, official_args)
    assert_matches_official(evaluator.result(), theirs)
