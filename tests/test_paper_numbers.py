"""The papers' printed numbers: key scheme, value types, and cells checked by hand against the paper texts."""
import math

import pytest

from reproduce import paper_numbers
from reproduce.paper_numbers import DASH, NA, PAPER_NUMBERS, TEXT_VALUES, paper_number, table_labels

PAPERS = {"auxnet", "neurall", "multinet_pp", "task_weighting", "selfsup"}


def test_keys_are_five_strings_naming_a_known_paper():
    assert PAPER_NUMBERS
    for key in PAPER_NUMBERS:
        assert isinstance(key, tuple) and len(key) == 5, key
        assert all(isinstance(part, str) for part in key), key
        assert key[0] in PAPERS, key
        assert key[1].startswith("table"), key


def test_values_are_numbers_dash_or_na():
    for key, value in PAPER_NUMBERS.items():
        if value in TEXT_VALUES:
            assert isinstance(value, str)
            continue
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value >= 0, (key, value)


def test_every_requested_table_is_present():
    tables = {key[:2] for key in PAPER_NUMBERS}
    assert tables == {
        ("auxnet", "table1"), ("auxnet", "table2"),
        ("neurall", "table1"), ("neurall", "table2"), ("neurall", "table3"),
        ("multinet_pp", "table1"), ("multinet_pp", "table2"), ("multinet_pp", "table3"), ("multinet_pp", "table4"),
        ("task_weighting", "table1"), ("task_weighting", "table2"),
        ("selfsup", "table1"), ("selfsup", "table1_text"), ("selfsup", "table2"), ("selfsup", "table3"),
        ("selfsup", "table4"),
    }


@pytest.mark.parametrize("key, printed", [
    (("auxnet", "table1", "KITTI", "SegNet", "Sky"), 46.79),
    (("auxnet", "table1", "KITTI", "SegNet", "Pole"), DASH),
    (("auxnet", "table1", "SYNTHIA", "SegNet", "Sidewalk"), 9.82),  # printed "09.82"
    (("auxnet", "table1", "SYNTHIA", "AuxNetFTWB", "IoU"), 92.05),
    (("auxnet", "table2", "KITTI", "FuseNet", "Params"), 47_259_976),
    (("auxnet", "table2", "SYNTHIA", "AuxNet", "IoU"), 92.60),
    (("neurall", "table1", "KITTI", "MSNet2", "Fence"), 62.60),
    (("neurall", "table1", "SYNTHIA", "RNNet2", "Params"), 31_861_968),  # printed "31,861968"
    (("neurall", "table1", "SYNTHIA", "MSNet2", "Vegetation"), 78.01),
    (("neurall", "table2", "SYNTHIA", "AuxNetTWB", "Pole"), 21.83),
    (("neurall", "table3", "", "3-Task / Product of Losses", "Cityscapes Motion"), 98.72),
    (("neurall", "table3", "", "Seg+Depth / Sum of Losses", "Cityscapes Depth"), 59.38),
    (("multinet_pp", "table2", "", "3-Task / 2-Frames", "Params"), 23_870_000),
    (("multinet_pp", "table2", "", "Seg+Depth / 1-Frame", "SYNTHIA Segmentation"), 95_340),
    (("multinet_pp", "table2", "", "1-Task Motion", "SYNTHIA Params"), DASH),
    (("multinet_pp", "table3", "", "3-Task / MultiNet++", "Cityscapes Segmentation"), 82.36),
    (("multinet_pp", "table3", "", "Seg+Depth / MultiNet++", "SYNTHIA Depth"), 78.39),
    (("multinet_pp", "table3", "", "Seg+Motion / GLS", "SYNTHIA Segmentation"), DASH),
    (("multinet_pp", "table3", "", "1-Task", "SYNTHIA Segmentation"), 84.08),
    (("multinet_pp", "table4", "", "DWA", "KITTI Depth"), 74.48),
    (("multinet_pp", "table4", "", "Uncertainty", "Cityscapes Motion"), 98.63),
    (("task_weighting", "table1", "KITTI", "ws", "Handcrafted task weighting"), 70),
    (("task_weighting", "table1", "WoodScape", "async fd", "Meta-learning task weighting async backprop"), 2),
    (("task_weighting", "table1", "Cityscapes", "async fs", "No task weighting"), DASH),
    (("task_weighting", "table2", "KITTI", "Geometric mean", "No task weighting"), 0.7282),
    (("task_weighting", "table2", "Overall", "Geometric mean", "Meta-learning task weighting async backprop"), 0.6095),
    (("selfsup", "table1", "", "SS+D (GS) / ImageNet", "Sem. mIOU"), 0.64),
    (("selfsup", "table1", "", "SS+C+D (GS) / CoarseCTS", "SqRel"), 2.72),
    (("selfsup", "table1", "", "SSrandom", "Color mIOU"), NA),
    (("selfsup", "table3", "", "SS+D (UW) / ImageNet", "Sem. mIOU"), 0.49),
    (("selfsup", "table3", "", "SS+C+D (UW) / CoarseCTS", "Sem. mIOU"), 0.41),
])
def test_hand_checked_cells(key, printed):
    assert paper_number(*key) == printed


def test_repeated_tables_agree_between_papers():
    # NeurAll Table II repeats AuxNet Table 1 (without the FTWB row).
    for key, value in PAPER_NUMBERS.items():
        if key[:2] == ("neurall", "table2"):
            assert paper_number("auxnet", "table1", *key[2:]) == value, key
    # NeurAll Table III's sum / product of losses are MultiNet++ Table 3's equal weights / GLS.
    for key, value in PAPER_NUMBERS.items():
        if key[:2] == ("neurall", "table3"):
            row = key[3].replace("Sum of Losses", "Equal weights").replace("Product of Losses", "GLS")
            assert paper_number("multinet_pp", "table3", "", row, key[4]) == value, key


def test_missing_cells_are_none():
    assert paper_number("neurall", "table2", "KITTI", "SegNet", "Params") is None  # Table II has no Params
    assert paper_number("neurall", "table3", "", "Seg+Depth / Sum of Losses", "KITTI Motion") is None
    assert paper_number("neurall", "table2", "KITTI", "AuxNetFTWB", "IoU") is None
    assert paper_number("auxnet", "table3", "", "SegNet", "IoU") is None
    assert paper_number("nope", "table1", "KITTI", "SegNet", "Sky") is None


def test_table_labels_in_printed_order():
    sections, rows, columns = table_labels("multinet_pp", "table3")
    assert sections == [""]
    assert rows[0] == "1-Task" and rows[-1] == "3-Task / MultiNet++" and len(rows) == 10
    assert columns[-1] == "SYNTHIA Depth"
    sections, rows, columns = table_labels("task_weighting", "table2")
    assert sections == ["KITTI", "Cityscapes", "WoodScape", "Overall"]


def test_multinet_table2_printed_strings_match_values():
    for row, printed in paper_numbers.MULTINET_PP_TABLE2_PRINTED.items():
        assert paper_number("multinet_pp", "table2", "", row, "Params") == paper_numbers._suffixed(printed[4])
    assert paper_numbers._suffixed("15.50K") == 15_500
    assert paper_numbers._suffixed("0.18M") == 180_000


@pytest.mark.parametrize("count, text, matches", [
    (23_774_712, "23.77M", True), (23_587_712, "23.58M", True),  # the encoder: truncated, not rounded
    (3_878, "3.88K", True), (3_878, "3.87K", True), (187_000, "0.18M", True), (95_342, "0.14M", False),
    (23_778_590, "23.77M", True), (23_853_854, "23.86M", False), (15_500, "15.50K", True)])
def test_matches_printed_accepts_rounding_and_truncation_only(count, text, matches):
    assert paper_numbers.matches_printed(count, text) is matches


def test_new_tables_as_printed():
    assert paper_number("multinet_pp", "table1", "", "# Train", "SYNTHIA") == 888
    assert paper_number("multinet_pp", "table1", "", "Motion", "SYNTHIA") == paper_numbers.CROSS
    assert paper_number("selfsup", "table2", "", "Best", "Category iIOU") == 0.65
    assert paper_number("selfsup", "table4", "", "ENet", "Test mIOU") == 0.58
    assert paper_number("selfsup", "table4", "", "SegNet", "Validation mIOU") is None
    assert paper_number("selfsup", "table1_text", "", "D / CoarseCTS", "SqRel") == 2.44


def test_grid_weights():
    assert paper_numbers.SELFSUP_GRID_WEIGHTS["SS+D"] == {"segmentation": 1, "depth": 100}
    for weights in paper_numbers.SELFSUP_GRID_WEIGHTS.values():
        assert weights["segmentation"] == 1
        assert set(weights.values()) <= {0.1, 1, 10, 100}


def test_module_imports_no_framework():
    source = open(paper_numbers.__file__).read()
    assert "tensorflow" not in source and "keras" not in source.lower()
