"""The analysis of what the papers' "IoU" column measures (reproduce/iou_definition.py): its machinery on sets with
known answers, and its conclusions on the printed rows of AuxNet Table 1 / NeurAll Table I."""
import dataclasses

import numpy as np
import pytest

from metrics import pooled_jaccard, scores_from_confusion, segmentation_scores
from reproduce import iou_definition as analysis

SAMPLE = analysis.kitti_sample()
needs_real_kitti = pytest.mark.skipif(SAMPLE is None, reason="no real KITTI labels in shared/real-samples")


@pytest.fixture(scope="module")
def verdicts():
    return analysis.analyse()


def _rows_from(iou, printed, names, visible):
    """PrintedRows of one or more synthetic rows: ``iou`` (rows, classes) over all classes, ``visible`` shown."""
    index = [names.index(name) for name in visible]
    return analysis.PrintedRows("test", tuple(names), tuple(f"row{r}" for r in range(len(printed))), tuple(visible),
                                np.asarray(iou)[:, index], np.asarray(printed, dtype=float))


def _synthetic_set(seed, images=6, classes=5):
    """Labels and predictions of a small synthetic validation set with unequal class shares."""
    generator = np.random.default_rng(seed)
    labels = generator.choice(classes, size=(images, 12, 16), p=[0.4, 0.25, 0.2, 0.1, 0.05])
    wrong = generator.integers(0, classes, labels.shape)
    predictions = np.where(generator.random(labels.shape) < 0.75, labels, wrong)
    return labels, predictions


NAMES = ("a", "b", "c", "d", "e")
VISIBLE = ("a", "b", "c")


def test_printed_rows_read_both_tables_once_per_row():
    kitti, synthia = analysis.printed_rows("KITTI"), analysis.printed_rows("SYNTHIA")
    assert kitti.rows == synthia.rows == ("SegNet", "AuxNet400", "AuxNet1000", "AuxNetTWB", "AuxNetFTWB", "MSNet2",
                                          "RNNet2")
    assert kitti.hidden == ("pole", "traffic sign", "pedestrian", "bicycle", "traffic light")
    assert synthia.hidden == ("traffic sign", "pedestrian", "bicycle", "traffic light")
    assert synthia.printed[synthia.row("SegNet")] == pytest.approx(0.897)
    assert synthia.iou[synthia.row("SegNet")].mean() == pytest.approx(0.6652, abs=1e-4)
    assert analysis.printed_rows("KITTI", analysis.AUXNET_ONLY).rows == kitti.rows[:5]


def test_the_linear_programs_accept_the_true_definition_of_a_synthetic_set():
    """Scores metrics.segmentation computes on a synthetic set, with two classes hidden, must be found feasible at
    the set's own class frequencies; a printed value beyond what the hidden classes allow must not."""
    rows_iou, fw, accuracy, jaccard, frequencies = [], [], [], [], None
    for seed in range(3):  # three "models" on the same labels
        labels, _ = _synthetic_set(0)
        _, predictions = _synthetic_set(seed + 1)
        predictions = np.where(np.random.default_rng(seed).random(labels.shape) < 0.7, labels, predictions)
        scores = segmentation_scores(labels, predictions, len(NAMES))
        rows_iou.append(scores["iou"])
        fw.append(scores["frequency_weighted_iou"])
        accuracy.append(scores["pixel_accuracy"])
        jaccard.append(pooled_jaccard(labels, predictions, len(NAMES), smooth=0.0))
        frequencies = scores["confusion_matrix"].sum(axis=1) / scores["confusion_matrix"].sum()
    fw_rows = _rows_from(rows_iou, fw, NAMES, VISIBLE)
    assert analysis.frequency_weighted_program(fw_rows, frequencies=frequencies)[0]
    accuracy_rows = dataclasses.replace(fw_rows, printed=np.array(accuracy))
    assert analysis.confusion_program(accuracy_rows, analysis.accuracy_is_printed, frequencies=frequencies)[0]
    jaccard_rows = dataclasses.replace(fw_rows, printed=np.array(jaccard))
    assert analysis.confusion_program(jaccard_rows, analysis.accuracy_for_pooled_jaccard, frequencies=frequencies)[0]
    # FW can exceed the visible part by at most the hidden share (hidden IoU 1)
    too_high = fw_rows.iou[0] @ frequencies[:3] + frequencies[3:].sum() + 0.01
    assert not analysis.frequency_weighted_program(dataclasses.replace(fw_rows, printed=np.array(
        [too_high, fw[1], fw[2]])), frequencies=frequencies)[0]
    # pixel accuracy is at least FW of the visible classes (recall >= IoU)
    too_low = fw_rows.iou[0] @ frequencies[:3] - 0.01
    assert not analysis.confusion_program(dataclasses.replace(accuracy_rows, printed=np.array(
        [too_low, accuracy[1], accuracy[2]])), analysis.accuracy_is_printed, frequencies=frequencies)[0]


def test_mean_recall_program_accepts_a_synthetic_sets_own_mean_recall():
    labels, predictions = _synthetic_set(4)
    scores = segmentation_scores(labels, predictions, len(NAMES))
    frequencies = scores["confusion_matrix"].sum(axis=1) / scores["confusion_matrix"].sum()
    rows = _rows_from([scores["iou"]], [scores["mean_class_accuracy"]], NAMES, VISIBLE)
    assert analysis.confusion_program(rows, analysis.accuracy_any, frequencies=frequencies, mean_recall=True)[0]
    low, high = analysis.reachable_range(rows, frequencies, score="mean_recall")[0]
    assert low <= scores["mean_class_accuracy"] <= high
    low, high = analysis.reachable_range(rows, frequencies)[0]
    assert low <= scores["pixel_accuracy"] <= high


def test_pooled_jaccard_accuracy_window_is_jensens():
    assert analysis.accuracy_for_pooled_jaccard(0.897) == pytest.approx((0.897, 2 * 0.897 / 1.897))
    accuracies = np.array([0.6, 0.8, 0.95])
    mean_jaccard = np.mean(accuracies / (2 - accuracies))
    low, high = analysis.accuracy_for_pooled_jaccard(mean_jaccard)
    assert low <= accuracies.mean() <= high


def test_a_confusion_matrix_scores_identity_the_analysis_uses():
    # pixel accuracy = FW IoU + sum_c IoU_c FP_c / G, so accuracy >= FW IoU (used for the KITTI hidden-share bound)
    confusion = np.array([[50, 5, 3], [2, 30, 8], [6, 1, 20]])
    scores = scores_from_confusion(confusion)
    false_positives = confusion.sum(axis=0) - np.diag(confusion)
    assert scores["pixel_accuracy"] == pytest.approx(
        scores["frequency_weighted_iou"] + np.sum(scores["iou"] * false_positives) / confusion.sum())


def test_plain_mean_is_ruled_out_on_synthia_by_the_printed_numbers(verdicts):
    verdict = verdicts[("plain_mean", "SYNTHIA")]
    assert verdict.consistent is False
    required = verdict.numbers["required_hidden_mean"]
    assert required["SegNet"] == pytest.approx((13 * 89.70 - 598.66) / 4, abs=0.01)
    assert min(required.values()) > 100
    for candidate in ("printed_mean", "mean_dice", "pixelwise_jaccard"):
        assert verdicts[(candidate, "SYNTHIA")].consistent is False


def test_plain_mean_on_kitti_needs_hidden_small_classes_above_car(verdicts):
    verdict = verdicts[("plain_mean", "KITTI")]
    assert verdict.consistent is True and verdict.plausible is False
    assert min(verdict.numbers["required_hidden_mean"].values()) > 85
    assert min(verdict.numbers["required_minus_car"].values()) > 0
    assert verdicts[("printed_mean", "KITTI")].consistent is False


def test_frequency_weighted_iou_needs_implausible_synthia_shares(verdicts):
    verdict = verdicts[("frequency_weighted_iou", "SYNTHIA")]
    assert verdict.consistent is True and verdict.plausible is False
    assert verdict.numbers["max_building_share"] < 1  # with the small classes <= 10% and sidewalk >= 2%
    # pixel accuracy and pooled Jaccard leave room for a city's buildings
    for candidate in ("pixel_accuracy", "pooled_jaccard"):
        assert verdicts[(candidate, "SYNTHIA")].numbers["max_building_share"] > 15


def test_one_class_takes_part_in_at_most_all_errors():
    # With free frequencies the AuxNetFTWB row caps building at (1 - 0.9205) / (1 - 0.5619) for FW (hidden IoU 1)
    # and for pixel accuracy (FN + FP of building <= 1 - accuracy): the LPs hold that bound, no looser.
    rows = analysis.printed_rows("SYNTHIA")
    cap = (1 - 0.9205) / (1 - 0.5619)
    assert analysis.frequency_weighted_program(rows, maximize=("building",))[1] == pytest.approx(cap, abs=0.002)
    assert analysis.confusion_program(rows, analysis.accuracy_is_printed, maximize=("building",))[1] == pytest.approx(
        cap, abs=0.002)


@needs_real_kitti
def test_kitti_real_frequencies_reject_fw_and_pixel_accuracy_but_not_pooled_jaccard(verdicts):
    assert SAMPLE.counts.shape == (2, 12)
    assert SAMPLE.frequencies[[6, 8, 9, 10, 11]].sum() == pytest.approx(0.024, abs=0.001)  # the hidden classes
    for candidate in ("frequency_weighted_iou", "pixel_accuracy"):
        assert verdicts[(candidate, "KITTI")].consistent is True
        assert verdicts[(candidate, "KITTI")].plausible is False
    fw = verdicts[("frequency_weighted_iou", "KITTI")].numbers["visible_fw_at_real_frequencies"]
    assert fw["SegNet"] > 74.52  # the printed classes alone already exceed the printed value
    jaccard = verdicts[("pooled_jaccard", "KITTI")]
    assert jaccard.consistent is True and jaccard.plausible is True
    rows = analysis.printed_rows("KITTI")
    assert analysis.band_needed(rows, SAMPLE.frequencies) > 1.3
    assert analysis.band_needed(rows, SAMPLE.frequencies, analysis.accuracy_for_pooled_jaccard) == 1.0
    assert analysis.distance_to_feasible(rows, SAMPLE.frequencies) > 0.03


def test_per_image_smoothed_miou_is_undecided_and_unlikely(verdicts):
    for dataset in analysis.DATASETS:
        if dataset == "KITTI" and SAMPLE is None:
            continue  # KITTI's evidence is the real label images
        verdict = verdicts[("image_mean_iou_smoothed", dataset)]
        assert verdict.consistent is None and verdict.plausible is False
    synthia = verdicts[("image_mean_iou_smoothed", "SYNTHIA")].numbers["required_present_iou"]
    assert synthia["SegNet"] == pytest.approx(100 * (0.897 - 4 / 13) / (9 / 13), abs=0.01)


@needs_real_kitti
def test_pooled_jaccard_is_the_best_supported_reading(verdicts):
    for dataset in analysis.DATASETS:
        verdict = verdicts[("pooled_jaccard", dataset)]
        assert verdict.consistent is True and verdict.plausible is True
    assert analysis.surviving(verdicts) == ["pooled_jaccard", "mean_class_accuracy"]
    assert analysis.best_supported(verdicts) == ["pooled_jaccard"]


@needs_real_kitti
def test_conclusions_hold_on_auxnet_table_1_alone():
    verdicts = analysis.analyse(tables=analysis.AUXNET_ONLY)
    assert analysis.best_supported(verdicts) == ["pooled_jaccard"]
    assert verdicts[("plain_mean", "SYNTHIA")].consistent is False
    assert verdicts[("frequency_weighted_iou", "SYNTHIA")].plausible is False
    assert verdicts[("frequency_weighted_iou", "SYNTHIA")].numbers["max_building_share"] < 10
    assert verdicts[("pixel_accuracy", "KITTI")].plausible is False


@needs_real_kitti
def test_kitti_pole_dash_is_not_an_undefined_iou():
    dashes = analysis.kitti_dash_columns()
    assert dashes["pole_in_class_set"] and not dashes["lane_in_class_set"]
    assert dashes["pole_present_in_every_image"] and dashes["pole_share"] > 0.005


def test_report_names_every_candidate_and_the_reading(verdicts):
    text = analysis.report(verdicts)
    for candidate in analysis.CANDIDATES:
        assert candidate in text
    assert "Best-supported reading" in text
