"""The candidate "IoU" scores of metrics.segmentation on hand-computed cases (reproduce/iou_definition.py tests
which of them the papers print)."""
import numpy as np
import pytest

from metrics import (
    SegmentationEvaluator,
    image_confusion_matrices,
    image_mean_iou_smoothed,
    pooled_jaccard,
    segmentation_scores,
)

# Two images of three pixels, one ignored pixel. Pairs (gt, pred): image 1 (0,0) (0,1) (1,1); image 2 (1,1) (2,0).
GT = np.array([[0, 0, 1], [1, 2, 255]])
PRED = np.array([[0, 1, 1], [1, 0, 2]])
# Whole set: confusion [[1, 1, 0], [0, 2, 0], [1, 0, 0]], ground truth per class (2, 2, 1), IoU (1/3, 2/3, 0).
TINY = 1e-9  # a smoothing term that changes nothing but 0 / 0


def test_confusion_scores_on_the_2x3_example():
    scores = segmentation_scores(GT, PRED, num_classes=3)
    # f.w. IU = (2 * 1/3 + 2 * 2/3 + 1 * 0) / 5
    assert scores["frequency_weighted_iou"] == pytest.approx(2 / 5)
    # recalls 1/2, 2/2, 0/1
    assert scores["mean_class_accuracy"] == pytest.approx(1 / 2)
    # Dice = 2 TP / (2 TP + FP + FN): 2/4, 4/5, 0/1
    assert scores["mean_dice"] == pytest.approx((1 / 2 + 4 / 5 + 0) / 3)
    # the existing keys are unchanged
    assert scores["miou"] == pytest.approx(1 / 3) and scores["pixel_accuracy"] == pytest.approx(3 / 5)
    assert "pooled_jaccard" not in scores and "image_mean_iou_smoothed" not in scores


def test_classes_absent_from_ground_truth_stay_out_of_the_new_means():
    # class 3 only predicted (IoU 0, enters mean_dice as miou does), class 4 absent everywhere
    scores = segmentation_scores(np.array([[0, 0]]), np.array([[0, 3]]), num_classes=5)
    assert scores["mean_class_accuracy"] == pytest.approx(1 / 2)  # class 0 only: recall 1/2
    assert scores["frequency_weighted_iou"] == pytest.approx(1 / 2)  # all ground truth is class 0, IoU 1/2
    assert scores["mean_dice"] == pytest.approx((2 / 3 + 0) / 2)


def test_per_image_scores_on_the_2x3_example():
    # pooled Jaccard: image 1 I = 2, U = 3 + 3 - 2 = 4; image 2 (two valid pixels) I = 1, U = 2 + 2 - 1 = 3
    assert pooled_jaccard(GT, PRED, 3, smooth=TINY) == pytest.approx((2 / 4 + 1 / 3) / 2)
    assert pooled_jaccard(GT, PRED, 3, smooth=1.0) == pytest.approx((3 / 5 + 2 / 4) / 2)
    # per image and class: image 1 (1/2, 1/2, class 2 absent from both -> 1); image 2 (0/1, 1/1, 0/1)
    assert image_mean_iou_smoothed(GT, PRED, 3, smooth=TINY) == pytest.approx(((1 / 2 + 1 / 2 + 1) / 3 + 1 / 3) / 2)
    # smooth 1: image 1 (2/3, 2/3, 1/1), image 2 (1/2, 2/2, 1/2)
    assert image_mean_iou_smoothed(GT, PRED, 3) == pytest.approx((7 / 9 + 2 / 3) / 2)
    scores = segmentation_scores(GT, PRED, 3, per_image=True)
    assert scores["pooled_jaccard"] == pytest.approx(0.55)
    assert scores["image_mean_iou_smoothed"] == pytest.approx(13 / 18)
    assert scores["images"] == 2 and scores["miou"] == pytest.approx(1 / 3)


def test_pooled_jaccard_is_accuracy_over_two_minus_accuracy_per_image():
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 5, size=(4, 6, 7))
    predictions = np.where(generator.random(labels.shape) < 0.7, labels, generator.integers(0, 5, labels.shape))
    accuracy = (labels == predictions).mean(axis=(1, 2))
    assert pooled_jaccard(labels, predictions, 5, smooth=0.0) == pytest.approx(np.mean(accuracy / (2 - accuracy)))


def test_pooled_jaccard_takes_probabilities_as_they_are():
    # one image, two pixels of class 0 and 1; probabilities of the true class 0.8 and 0.6 (soft accuracy 0.7)
    labels = np.array([[0, 1]])
    probabilities = np.array([[[0.8, 0.2], [0.4, 0.6]]])
    assert pooled_jaccard(labels, probabilities, 2, smooth=0.0) == pytest.approx(0.7 / 1.3)
    # per class: I (0.8, 0.6), U (1 + 1.2 - 0.8, 1 + 0.8 - 0.6)
    assert image_mean_iou_smoothed(labels, probabilities, 2, smooth=0.0) == pytest.approx((0.8 / 1.4 + 0.6 / 1.2) / 2)
    # the evaluator and segmentation_scores arg-max them (both pixels right)
    assert segmentation_scores(labels, probabilities, 2, per_image=True)["pooled_jaccard"] == pytest.approx(1.0)


def test_evaluator_per_image_over_batches_equals_the_functions():
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 4, size=(5, 8, 8))
    labels[0, :2] = 255
    predictions = np.where(generator.random(labels.shape) < 0.6, labels, generator.integers(0, 4, labels.shape))
    predictions[labels == 255] = 0
    evaluator = SegmentationEvaluator(4, per_image=True)
    for start in (0, 2, 3):  # batches of 2, 1 and 2 images
        stop = {0: 2, 2: 3, 3: 5}[start]
        evaluator.update(labels[start:stop], predictions[start:stop])
    result = evaluator.result()
    assert result["images"] == 5
    assert result["pooled_jaccard"] == pytest.approx(pooled_jaccard(labels, predictions, 4))
    assert result["image_mean_iou_smoothed"] == pytest.approx(image_mean_iou_smoothed(labels, predictions, 4))
    whole = segmentation_scores(labels, predictions, 4)
    np.testing.assert_array_equal(result["confusion_matrix"], whole["confusion_matrix"])
    assert result["frequency_weighted_iou"] == pytest.approx(whole["frequency_weighted_iou"])


def test_image_confusion_matrices_sum_to_the_whole_set_and_need_a_batch_axis():
    confusions = image_confusion_matrices(GT[..., None], PRED, 3)
    assert confusions.shape == (2, 3, 3)
    np.testing.assert_array_equal(confusions.sum(axis=0), segmentation_scores(GT, PRED, 3)["confusion_matrix"])
    np.testing.assert_array_equal(confusions[1], [[0, 0, 0], [0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="batch axis"):
        image_confusion_matrices(np.array([0, 1]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="y_pred"):
        pooled_jaccard(np.array([[0, 1]]), np.array([[0, 4]]), 2)


def test_score_orderings_that_hold_for_every_confusion_matrix():
    # recall >= IoU per class, so mean accuracy >= miou; pixel accuracy = FW IoU + sum_c IoU_c FP_c / G >= FW IoU;
    # Dice >= IoU.
    generator = np.random.default_rng(2)
    for _ in range(20):
        labels = generator.integers(0, 6, size=(2, 10, 10))
        predictions = np.where(generator.random(labels.shape) < 0.5, labels, generator.integers(0, 6, labels.shape))
        scores = segmentation_scores(labels, predictions, 6)
        assert scores["mean_class_accuracy"] >= scores["miou"] - 1e-12
        assert scores["pixel_accuracy"] >= scores["frequency_weighted_iou"] - 1e-12
        assert scores["mean_dice"] >= scores["miou"] - 1e-12


def test_evaluator_without_per_image_keeps_its_old_result_keys():
    evaluator = SegmentationEvaluator(3).update(GT, PRED)
    assert set(evaluator.result()) == {"miou", "iou", "pixel_accuracy", "confusion_matrix", "frequency_weighted_iou",
                                       "mean_class_accuracy", "mean_dice"}
    empty = SegmentationEvaluator(3, per_image=True).result()
    assert np.isnan(empty["pooled_jaccard"]) and empty["images"] == 0
