"""Detection head, box coding, decoding/NMS, YOLO loss and mAP (Leang et al. 2020)."""
import math

import keras
import numpy as np
import pytest

from losses.detection import DetectionLoss
from metrics.detection import DetectionEvaluator, detection_map, geometric_mean_score
from models.detection import (
    YoloHead, build_yolo_head, decode_boxes, decode_detections, encode_raw_predictions, encode_targets,
    non_max_suppression)

NUM_CLASSES = 3
GRID = (2, 3)  # a 64x96 input at stride 32
PAD = [-1.0] * 5


def _boxes(*images, n_max=4):
    padded = [list(rows) + [PAD] * (n_max - len(rows)) for rows in images]
    return np.asarray(padded, dtype="float32")


# Boxes on a 1/16 lattice so centres, offsets and areas are exact in float32.
IMAGE_A = [[0.125, 0.375, 0.375, 0.625, 2],   # centre (0.25, 0.5): cell (0, 1), offsets (0.5, 0.5)
           [0.625, 0.6875, 0.875, 0.9375, 1]]  # centre (0.75, 0.8125): cell (1, 2), offsets (0.5, 0.4375)


# ---------------------------------------------------------------- head

def test_head_output_shape_and_name():
    features = np.random.default_rng(0).normal(size=(2, 2, 3, 512)).astype("float32")
    head = YoloHead(NUM_CLASSES, hidden_filters=16)
    assert tuple(head(features).shape) == (2, 2, 3, 5 + NUM_CLASSES)

    inputs = keras.Input((2, 3, 512))
    model = keras.Model(inputs, {"detection": build_yolo_head(inputs, NUM_CLASSES, hidden_filters=16)})
    assert model.get_layer("detection").num_classes == NUM_CLASSES
    assert tuple(model(features)["detection"].shape) == (2, 2, 3, 8)


def test_head_objectness_starts_at_prior():
    head = YoloHead(2, hidden_filters=4, objectness_prior=0.01)
    head.build((None, 2, 3, 8))
    bias = keras.ops.convert_to_numpy(head.output_conv.bias)
    assert bias[0] == pytest.approx(math.log(0.01 / 0.99), rel=1e-5)
    np.testing.assert_array_equal(bias[1:], 0.0)


def test_head_get_config_round_trip_and_keras_file(tmp_path):
    head = YoloHead(4, hidden_filters=8, leaky_slope=0.2, objectness_prior=None, name="detection")
    clone = YoloHead.from_config(head.get_config())
    assert clone.get_config() == head.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
    assert isinstance(restored, YoloHead) and restored.hidden_filters == 8 and restored.leaky_slope == 0.2

    inputs = keras.Input((2, 3, 16))
    model = keras.Model(inputs, {"detection": head(inputs)})
    features = np.random.default_rng(1).normal(size=(1, 2, 3, 16)).astype("float32")
    path = tmp_path / "head.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(features)["detection"]),
                               keras.ops.convert_to_numpy(model(features)["detection"]), atol=1e-6)


# ---------------------------------------------------------------- target encoding

def test_encode_targets_places_boxes_in_centre_cells():
    targets = {k: keras.ops.convert_to_numpy(v) for k, v in encode_targets(_boxes(IMAGE_A), GRID, 3).items()}
    expected_objectness = np.zeros((1, 2, 3))
    expected_objectness[0, 0, 1] = expected_objectness[0, 1, 2] = 1
    np.testing.assert_array_equal(targets["objectness"], expected_objectness)  # padding rows ignored
    expected_classes = np.full((1, 2, 3), -1)
    expected_classes[0, 0, 1], expected_classes[0, 1, 2] = 2, 1
    np.testing.assert_array_equal(targets["class_id"], expected_classes)
    np.testing.assert_allclose(targets["box"][0, 0, 1], [0.5, 0.5, 0.25, 0.25], atol=1e-6)
    np.testing.assert_allclose(targets["box"][0, 1, 2], [0.5, 0.4375, 0.25, 0.25], atol=1e-6)
    assert targets["box"][0, 0, 0].tolist() == [0, 0, 0, 0]


def test_encode_targets_shared_cell_keeps_larger_box_then_earlier_row():
    small = [0.0625, 0.0625, 0.125, 0.125, 0]   # centre (0.09375, 0.09375): cell (0, 0)
    large = [0.0, 0.0, 0.375, 0.25, 1]          # centre (0.1875, 0.125): cell (0, 0), larger
    tie_first = [0.5625, 0.0, 0.8125, 0.25, 2]  # centre (0.6875, 0.125): cell (1, 0)
    tie_second = [0.625, 0.0625, 0.875, 0.3125, 0]  # same size, centre (0.75, 0.1875): cell (1, 0)
    targets = encode_targets(_boxes([small, large, tie_first, tie_second]), GRID, 3)
    classes = keras.ops.convert_to_numpy(targets["class_id"])[0]
    boxes = keras.ops.convert_to_numpy(targets["box"])[0]
    assert classes[0, 0] == 1 and classes[1, 0] == 2
    np.testing.assert_allclose(boxes[0, 0], [0.375, 0.375, 0.375, 0.25], atol=1e-6)
    np.testing.assert_allclose(boxes[1, 0], [0.375, 0.375, 0.25, 0.25], atol=1e-6)
    assert keras.ops.convert_to_numpy(targets["objectness"]).sum() == 2


# ---------------------------------------------------------------- decoding and NMS

def test_inverted_coding_decodes_back_to_the_boxes():
    boxes = _boxes(IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])
    raw = encode_raw_predictions(boxes, GRID, NUM_CLASSES)
    assert tuple(raw.shape) == (2, 2, 3, 8)
    decoded = decode_detections(raw, score_threshold=0.3)
    for image, rows in enumerate((IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])):
        order = np.lexsort((decoded[image]["boxes"][:, 1], decoded[image]["boxes"][:, 0]))
        expected = np.asarray(sorted(rows), dtype="float32")
        np.testing.assert_allclose(decoded[image]["boxes"][order], expected[:, :4], atol=1e-4)
        np.testing.assert_array_equal(decoded[image]["classes"][order], expected[:, 4])
        np.testing.assert_allclose(decoded[image]["scores"], 1.0, atol=1e-4)

    dense_boxes, dense_scores = decode_boxes(raw)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dense_boxes)[0, 0, 1], IMAGE_A[0][:4], atol=1e-4)
    assert keras.ops.convert_to_numpy(dense_scores)[0, 0, 1].argmax() == 2


def test_nms_removes_same_class_duplicate_and_keeps_other_class():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.1, 0.12, 0.5, 0.52], [0.6, 0.6, 0.9, 0.9]])
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    classes = np.array([0, 0, 1, 0])
    keep = non_max_suppression(boxes, scores, classes, iou_threshold=0.5)
    assert keep.tolist() == [1, 2, 3]  # box 0 duplicates box 1 (same class); box 2 is another class
    assert non_max_suppression(boxes, scores, classes, max_detections=2).tolist() == [1, 2]


def test_decode_drops_low_scores():
    raw = np.full((1, 2, 3, 5 + 2), -8.0, dtype="float32")
    assert decode_detections(raw, score_threshold=0.3)[0]["boxes"].shape == (0, 4)


# ---------------------------------------------------------------- loss

def test_loss_near_zero_for_perfect_prediction_and_larger_when_perturbed():
    boxes = _boxes(IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])
    raw = keras.ops.convert_to_numpy(encode_raw_predictions(boxes, GRID, NUM_CLASSES))
    loss = DetectionLoss(NUM_CLASSES)
    perfect = float(loss(boxes, raw))
    assert perfect < 1e-3
    perturbed = raw.copy()
    perturbed[0, 0, 1, 1:5] += 0.5
    assert float(loss(boxes, perturbed)) > perfect + 1e-2


def test_loss_hand_computed_terms_and_batch_normalisation():
    one_object = _boxes([[0.125, 0.375, 0.375, 0.625, 2]])  # cell (0, 1), offsets 0.5, sizes 0.25
    raw = np.zeros((1, 2, 3, 5 + NUM_CLASSES), dtype="float32")
    # objectness log 2 + 0.5 * 5 empty cells * log 2; box 5 * 2 * (sqrt(0.5) - 0.5)^2; class log 3
    expected = math.log(2) + 2.5 * math.log(2) + 10 * (math.sqrt(0.5) - 0.5) ** 2 + math.log(3)
    loss = DetectionLoss(NUM_CLASSES)
    assert float(loss(one_object, raw)) == pytest.approx(expected, rel=1e-5)
    doubled = float(loss(np.concatenate([one_object] * 2), np.concatenate([raw] * 2)))
    assert doubled == pytest.approx(expected, rel=1e-5)  # averaged over the batch, not summed


def test_loss_finite_without_objects():
    raw = np.zeros((2, 2, 3, 5 + NUM_CLASSES), dtype="float32")
    value = float(DetectionLoss(NUM_CLASSES)(_boxes([], []), raw))
    assert value == pytest.approx(0.5 * 6 * math.log(2), rel=1e-5)


def test_loss_decreases_when_training_a_tiny_head():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 2, 3, 8)).astype("float32")
    boxes = _boxes(IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])
    inputs = keras.Input((2, 3, 8))
    model = keras.Model(inputs, build_yolo_head(inputs, NUM_CLASSES, hidden_filters=8))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=DetectionLoss(NUM_CLASSES))
    history = model.fit(features, boxes, epochs=8, batch_size=2, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < 0.7 * history[0]


def test_loss_get_config_round_trip():
    loss = DetectionLoss(2, lambda_coord=3.0, lambda_noobj=0.25, sqrt_sizes=False, name="det")
    clone = DetectionLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, DetectionLoss) and restored.lambda_noobj == 0.25 and not restored.sqrt_sizes


# ---------------------------------------------------------------- mAP and geometric mean

def _detections(rows):
    rows = np.asarray(rows, dtype="float64").reshape(-1, 6)
    return {"boxes": rows[:, :4], "scores": rows[:, 4], "classes": rows[:, 5].astype(int)}


def test_map_is_one_for_perfect_and_zero_for_wrong_detections():
    gt = _boxes(IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])
    perfect = [_detections([row[:4] + [0.9, row[4]] for row in image])
               for image in (IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])]
    scores = detection_map(gt, perfect, NUM_CLASSES)
    assert scores["map"] == pytest.approx(1.0)
    np.testing.assert_allclose(scores["ap"], [1.0, 1.0, 1.0])

    wrong_class = [_detections([row[:4] + [0.9, (row[4] + 1) % 3] for row in image])
                   for image in (IMAGE_A, [[0.25, 0.0625, 0.75, 0.3125, 0]])]
    assert detection_map(gt, wrong_class, NUM_CLASSES)["map"] == 0.0
    misplaced = [_detections([[0.0, 0.0, 0.05, 0.05, 0.9, c] for c in range(3)])] * 2
    assert detection_map(gt, misplaced, NUM_CLASSES)["map"] == 0.0
    assert detection_map(gt, [_detections([])] * 2, NUM_CLASSES)["map"] == 0.0


def test_map_mixed_case_false_positive_ranked_first():
    gt = _boxes([[0.1, 0.1, 0.3, 0.3, 0], [0.5, 0.5, 0.7, 0.9, 1]])
    detections = [_detections([[0.1, 0.1, 0.3, 0.3, 0.9, 0],
                               [0.0, 0.0, 0.1, 0.1, 0.95, 1],    # false positive, ranked first
                               [0.5, 0.5, 0.7, 0.9, 0.8, 1]])]
    scores = detection_map(gt, detections, 3)
    # class 1: precision 0 then 1/2 at recall 1 -> interpolated 0.5 at all 101 recall points
    np.testing.assert_allclose(scores["ap"][:2], [1.0, 0.5])
    assert np.isnan(scores["ap"][2])  # no ground truth: left out of the mean
    assert scores["map"] == pytest.approx(0.75)


def test_map_101_point_interpolation_with_partial_recall():
    gt = _boxes([[0.1, 0.1, 0.3, 0.3, 0], [0.5, 0.5, 0.7, 0.9, 1], [0.1, 0.6, 0.4, 0.9, 1]])
    detections = [_detections([[0.1, 0.1, 0.3, 0.3, 0.9, 0],
                               [0.5, 0.5, 0.7, 0.9, 0.9, 1],     # TP: recall 1/2, precision 1
                               [0.8, 0.0, 0.9, 0.1, 0.8, 1],     # FP: precision 1/2
                               [0.1, 0.6, 0.4, 0.9, 0.7, 1]])]   # TP: recall 1, precision 2/3
    # interpolated precision 1 at the 51 recall points 0.00..0.50, 2/3 at the 50 points 0.51..1.00
    expected_class_1 = (51 * 1.0 + 50 * 2.0 / 3.0) / 101
    scores = detection_map(gt, detections, 2)
    np.testing.assert_allclose(scores["ap"], [1.0, expected_class_1])
    assert scores["map"] == pytest.approx((1.0 + expected_class_1) / 2)


def test_iou_threshold_is_half():
    gt = _boxes([[0.0, 0.0, 0.5, 0.5, 0]])
    half_overlap = [_detections([[0.0, 0.0, 0.5, 0.25, 0.9, 0]])]  # IoU exactly 0.5 counts (>=)
    assert detection_map(gt, half_overlap, 1)["map"] == pytest.approx(1.0)
    below = [_detections([[0.0, 0.0, 0.5, 0.24, 0.9, 0]])]
    assert detection_map(gt, below, 1)["map"] == 0.0


def test_evaluator_end_to_end_on_raw_predictions():
    gt_first = _boxes(IMAGE_A)
    gt_second = _boxes([[0.25, 0.0625, 0.75, 0.3125, 0]])
    evaluator = DetectionEvaluator(NUM_CLASSES, class_names=["car", "pedestrian", "cyclist"])
    evaluator.update(gt_first, encode_raw_predictions(gt_first, GRID, NUM_CLASSES))
    evaluator.update(gt_second, encode_raw_predictions(gt_second, GRID, NUM_CLASSES))
    scores = evaluator.result()
    assert scores["map"] == pytest.approx(1.0)
    assert scores["ap_by_class"] == pytest.approx({"car": 1.0, "pedestrian": 1.0, "cyclist": 1.0})
    evaluator.reset()
    evaluator.update(gt_second, encode_raw_predictions(gt_first, GRID, NUM_CLASSES))  # wrong boxes
    assert evaluator.result()["map"] == 0.0


def test_geometric_mean_matches_leang_table_ii():
    assert geometric_mean_score(0.6535, 0.8114) == pytest.approx(0.7282, abs=1e-4)  # KITTI, no weighting
    assert geometric_mean_score(0.0, 0.9) == 0.0
    assert geometric_mean_score(0.25, 1.0) == pytest.approx(0.5)


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("factory", [
    lambda: YoloHead(0),
    lambda: DetectionLoss(0),
    lambda: encode_targets(_boxes(IMAGE_A), GRID, 0),
    lambda: detection_map([], [], 0),
    lambda: DetectionEvaluator(0),
])
def test_num_classes_below_one_raises(factory):
    with pytest.raises(ValueError, match="num_classes"):
        factory()


def test_wrong_box_tensor_shapes_raise():
    raw = np.zeros((1, 2, 3, 5 + NUM_CLASSES), dtype="float32")
    with pytest.raises(ValueError, match="y_true"):
        DetectionLoss(NUM_CLASSES)(np.zeros((1, 4, 4), dtype="float32"), raw)
    with pytest.raises(ValueError, match="y_pred"):
        DetectionLoss(NUM_CLASSES)(_boxes(IMAGE_A), raw[..., :-1])
    with pytest.raises(ValueError, match="boxes"):
        encode_targets(np.zeros((1, 4, 6), dtype="float32"), GRID, NUM_CLASSES)
    with pytest.raises(ValueError, match="grid_shape"):
        encode_targets(_boxes(IMAGE_A), (0, 3), NUM_CLASSES)


def test_other_bad_arguments_raise():
    with pytest.raises(ValueError, match="map"):
        geometric_mean_score(1.5, 0.5)
    with pytest.raises(ValueError, match="miou"):
        geometric_mean_score(0.5, -0.1)
    with pytest.raises(ValueError, match="class_names"):
        DetectionEvaluator(2, class_names=["car"])
    with pytest.raises(ValueError, match="ground_truth and detections"):
        detection_map([_boxes(IMAGE_A)[0]], [], NUM_CLASSES)
    with pytest.raises(ValueError, match="score_threshold"):
        decode_detections(np.zeros((1, 2, 3, 8)), score_threshold=2.0)
    with pytest.raises(ValueError, match="objectness_prior"):
        YoloHead(2, objectness_prior=1.0)
