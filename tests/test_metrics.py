"""Segmentation and depth scores (offline and streaming) on hand-computed cases."""
import math

import keras
import numpy as np
import pytest
from keras import ops

import metrics
from metrics import (
    DepthAbsRel,
    DepthDelta1,
    DepthEvaluator,
    DepthRMSE,
    DepthRMSELog,
    DepthSqRel,
    SegmentationEvaluator,
    SegmentationMeanIoU,
    depth_scores,
    segmentation_scores,
)

# A 2x3 image, one ignored pixel. Pairs (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,0).
GT = np.array([[0, 0, 1], [1, 2, 255]])
PRED = np.array([[0, 1, 1], [1, 0, 2]])
CONFUSION = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])


def test_segmentation_scores_on_a_2x3_example():
    scores = segmentation_scores(GT, PRED, num_classes=3)
    np.testing.assert_array_equal(scores["confusion_matrix"], CONFUSION)
    # IoU = TP / (row + column - TP): 1/3, 2/3, 0/1.
    np.testing.assert_allclose(scores["iou"], [1 / 3, 2 / 3, 0.0])
    assert scores["miou"] == pytest.approx(1 / 3)
    assert scores["pixel_accuracy"] == pytest.approx(3 / 5)


def test_absent_classes_are_nan_and_excluded_but_predicted_only_classes_count():
    scores = segmentation_scores(GT, PRED, num_classes=5)
    assert np.isnan(scores["iou"][3]) and np.isnan(scores["iou"][4])
    assert scores["miou"] == pytest.approx(1 / 3)
    predicted_only = np.array([[0, 3]])
    scores = segmentation_scores(np.array([[0, 0]]), predicted_only, num_classes=4)
    np.testing.assert_allclose(scores["iou"][[0, 3]], [0.5, 0.0])
    assert scores["miou"] == pytest.approx(0.25)


def test_probabilities_and_trailing_label_axis_give_the_same_scores():
    probabilities = np.eye(3)[PRED] * 0.7 + 0.1
    scores = segmentation_scores(GT[..., None], probabilities, num_classes=3)
    np.testing.assert_array_equal(scores["confusion_matrix"], CONFUSION)


def test_segmentation_scores_accumulate_pixels_not_images():
    # Image 1: 1 pixel of class 1, correct. Image 2: 3 pixels of class 1, all predicted 0.
    gt = np.array([[1, 0, 0, 0], [1, 1, 1, 255]])
    pred = np.array([[1, 0, 0, 0], [0, 0, 0, 0]])
    evaluator = SegmentationEvaluator(2)
    for image_gt, image_pred in zip(gt, pred):
        evaluator.update(image_gt[None], image_pred[None])
    whole = segmentation_scores(gt, pred, 2)
    np.testing.assert_array_equal(evaluator.result()["confusion_matrix"], whole["confusion_matrix"])
    # Pooled: class 0 IoU 3/6, class 1 IoU 1/4.
    assert whole["miou"] == pytest.approx((3 / 6 + 1 / 4) / 2)


def test_segmentation_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="y_true"):
        segmentation_scores(np.array([[0, 7]]), np.array([[0, 1]]), num_classes=3)
    with pytest.raises(ValueError, match="y_pred"):
        segmentation_scores(np.array([[0, 1]]), np.array([[0, 5]]), num_classes=3)
    with pytest.raises(ValueError, match="y_pred"):
        segmentation_scores(np.array([[0, 1]]), np.zeros((1, 3, 3)), num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationEvaluator(0)


# Four pixels, the last one invalid (gt 0).
DEPTH_GT = np.array([[1.0, 2.0, 4.0, 0.0]])
DEPTH_PRED = np.array([[1.0, 4.0, 3.0, 5.0]])


def test_depth_scores_on_four_pixels():
    scores = depth_scores(DEPTH_GT, DEPTH_PRED)
    assert scores["abs_rel"] == pytest.approx((0 + 2 / 2 + 1 / 4) / 3)
    assert scores["sq_rel"] == pytest.approx((0 + 4 / 2 + 1 / 4) / 3)
    assert scores["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert scores["rmse_log"] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(4 / 3) ** 2) / 3))
    assert scores["delta1"] == pytest.approx(1 / 3)  # ratios 1, 2, 1.33
    assert scores["num_valid"] == 3


def test_depth_cap_evaluates_gt_up_to_cap_and_clips_predictions():
    gt = np.array([10.0, 60.0, 30.0, 0.0])
    pred = np.array([100.0, 5.0, 30.0, 7.0])
    scores = depth_scores(gt, pred, cap=50)
    # Only gt 10 and 30 count; the prediction 100 is clipped to 50.
    assert scores["abs_rel"] == pytest.approx((40 / 10 + 0) / 2)
    assert scores["num_valid"] == 2


def test_depth_zero_predictions_are_clipped_to_min_depth_and_empty_sets_give_nan():
    scores = depth_scores(np.array([1.0]), np.array([0.0]))
    assert scores["abs_rel"] == pytest.approx(1 - 1e-3)
    assert np.isfinite(scores["rmse_log"])
    assert np.isnan(depth_scores(np.zeros(3), np.ones(3))["rmse"])


def test_depth_per_image_option_averages_image_scores():
    gt = np.array([[[1.0, 1.0]], [[1.0, 0.0]]])  # (2, 1, 2): 2 valid pixels, then 1
    pred = np.array([[[1.0, 1.0]], [[2.0, 9.0]]])
    assert depth_scores(gt, pred)["abs_rel"] == pytest.approx(1 / 3)
    assert depth_scores(gt, pred, per_image=True)["abs_rel"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="gt and pred"):
        depth_scores(gt, pred[:, :, :1])


def test_depth_evaluator_over_batches_equals_whole_set():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 80, size=(4, 6, 8, 1)) * (rng.uniform(size=(4, 6, 8, 1)) > 0.3)
    pred = rng.uniform(0.0, 90, size=(4, 6, 8, 1))
    evaluator = DepthEvaluator(cap=50)
    for batch in (slice(0, 1), slice(1, 3), slice(3, 4)):
        evaluator.update(gt[batch], pred[batch])
    whole = depth_scores(gt, pred, cap=50)
    for name in ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1"):
        assert evaluator.result()[name] == pytest.approx(whole[name], rel=1e-12)


def test_streaming_mean_iou_over_batches_equals_offline_scores():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(6, 8, 10))
    labels[rng.uniform(size=labels.shape) < 0.2] = 255
    probabilities = rng.dirichlet(np.ones(4), size=(6, 8, 10)).astype("float32")
    metric = SegmentationMeanIoU(num_classes=4)
    for start in range(0, 6, 2):
        metric.update_state(labels[start : start + 2, ..., None], probabilities[start : start + 2])
    offline = segmentation_scores(labels, probabilities, num_classes=4)
    assert float(ops.convert_to_numpy(metric.result())) == pytest.approx(offline["miou"], rel=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(metric.confusion), offline["confusion_matrix"])
    metric.reset_state()
    metric.update_state(GT[None], PRED[None])  # int class ids work too
    assert float(ops.convert_to_numpy(metric.result())) == pytest.approx(1 / 3, rel=1e-6)


def test_streaming_depth_metrics_over_batches_equal_offline_scores():
    rng = np.random.default_rng(2)
    gt = (rng.uniform(0.5, 80, size=(6, 5, 7, 1)) * (rng.uniform(size=(6, 5, 7, 1)) > 0.3)).astype("float32")
    pred = rng.uniform(0.0, 90, size=(6, 5, 7, 1)).astype("float32")
    for cap in (None, 50.0):
        streaming = {
            "abs_rel": DepthAbsRel(cap=cap),
            "sq_rel": DepthSqRel(cap=cap),
            "rmse": DepthRMSE(cap=cap),
            "rmse_log": DepthRMSELog(cap=cap),
            "delta1": DepthDelta1(cap=cap),
        }
        offline = depth_scores(gt, pred, cap=cap)
        for name, metric in streaming.items():
            for start in range(0, 6, 3):
                metric.update_state(gt[start : start + 3], pred[start : start + 3])
            assert float(ops.convert_to_numpy(metric.result())) == pytest.approx(offline[name], rel=1e-5), name


def test_streaming_metrics_are_zero_before_any_valid_pixel_and_round_trip_config():
    for metric in (SegmentationMeanIoU(3, ignore_index=7, name="miou"), DepthRMSE(cap=50.0), DepthDelta1()):
        assert float(ops.convert_to_numpy(metric.result())) == 0.0
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        assert type(restored) is type(metric) and restored.get_config() == metric.get_config()
    depth = DepthAbsRel()
    depth.update_state(np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1)))
    assert float(ops.convert_to_numpy(depth.result())) == 0.0


def test_streaming_metrics_work_in_model_evaluate():
    rng = np.random.default_rng(3)
    inputs = keras.Input((6, 8, 3))
    features = keras.layers.Conv2D(4, 1)(inputs)
    outputs = {
        "segmentation": keras.layers.Softmax(name="segmentation")(features[..., :3]),
        "depth": keras.layers.Activation("relu", name="depth")(features[..., 3:]),
    }
    model = keras.Model(inputs, outputs)
    model.compile(
        loss={"segmentation": "sparse_categorical_crossentropy", "depth": "mae"},
        metrics={"segmentation": [SegmentationMeanIoU(3, ignore_index=9)], "depth": [DepthAbsRel(), DepthDelta1()]},
    )
    images = rng.uniform(size=(4, 6, 8, 3)).astype("float32")
    targets = {
        "segmentation": rng.integers(0, 3, size=(4, 6, 8)).astype("int32"),
        "depth": rng.uniform(1, 2, size=(4, 6, 8, 1)).astype("float32"),
    }
    logs = model.evaluate(images, targets, batch_size=2, verbose=0, return_dict=True)
    predictions = model.predict(images, verbose=0)
    offline_miou = segmentation_scores(targets["segmentation"], predictions["segmentation"], 3)["miou"]
    assert logs["segmentation_mean_iou"] == pytest.approx(offline_miou, rel=1e-5)
    offline_depth = depth_scores(targets["depth"], predictions["depth"])
    assert logs["depth_abs_rel"] == pytest.approx(offline_depth["abs_rel"], rel=1e-4)
    assert logs["depth_delta1"] == pytest.approx(offline_depth["delta1"], rel=1e-5)


def test_metrics_package_loads_detection_lazily():
    assert metrics.segmentation_scores is segmentation_scores
    with pytest.raises(AttributeError):
        metrics.no_such_metric
