"""Colour maps, curve and panel figures, and the HTML report, on tiny hand-made inputs (no TensorFlow)."""
import json
import os
import pathlib

import numpy as np
from PIL import Image

from reproduce.figures import (
    MOVING_COLOR,
    STATIC_COLOR,
    colorize_depth,
    colorize_motion,
    colorize_segmentation,
    plot_curves,
    plot_panel,
)
from reproduce.report import write_report

PALETTE = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142]], dtype=np.uint8)


def _read_png(path):
    with Image.open(path) as image:
        image.load()
        return image.size


def test_colorize_segmentation_looks_up_the_palette_and_blacks_out_unknown_ids():
    ids = np.array([[0, 1, 2], [255, 3, -1]])
    rgb = colorize_segmentation(ids, PALETTE)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0], PALETTE)
    np.testing.assert_array_equal(rgb[1], np.zeros((3, 3), np.uint8))


def test_colorize_segmentation_blacks_out_the_ignore_index_even_inside_the_palette():
    palette = np.full((256, 3), 200, dtype=np.uint8)
    rgb = colorize_segmentation(np.array([[5, 255]]), palette, ignore_index=255)
    np.testing.assert_array_equal(rgb[0], [[200, 200, 200], [0, 0, 0]])


def test_colorize_depth_maps_valid_pixels_and_blacks_out_invalid_ones():
    depth = np.array([[0.0, 1.0, 2.0], [np.nan, 3.0, -1.0]], dtype=np.float32)[..., None]
    rgb = colorize_depth(depth)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    for row, column in [(0, 0), (1, 0), (1, 2)]:
        np.testing.assert_array_equal(rgb[row, column], [0, 0, 0])
    # magma runs from dark to bright: the largest value is the brightest valid pixel.
    assert rgb[1, 1].sum() > rgb[0, 2].sum() > rgb[0, 1].sum()


def test_colorize_depth_handles_all_invalid_and_constant_images():
    np.testing.assert_array_equal(colorize_depth(np.zeros((4, 5))), np.zeros((4, 5, 3), np.uint8))
    np.testing.assert_array_equal(colorize_depth(np.full((2, 2), np.inf)), np.zeros((2, 2, 3), np.uint8))
    constant = colorize_depth(np.full((2, 2), 7.0))
    assert (constant.reshape(-1, 3) == constant[0, 0]).all()


def test_colorize_depth_respects_an_explicit_range():
    rgb = colorize_depth(np.array([[1.0, 5.0, 50.0]]), vmin=1.0, vmax=5.0)
    np.testing.assert_array_equal(rgb[0, 1], rgb[0, 2])  # 50 clipped to vmax


def test_colorize_motion_colours():
    rgb = colorize_motion(np.array([[0, 1, 255]], dtype=np.uint8))
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0], [STATIC_COLOR, MOVING_COLOR, (0, 0, 0)])


def test_plot_curves_writes_a_png_and_survives_missing_runs(tmp_path):
    path = tmp_path / "fig4.png"
    panels = [
        ("KITTI segmentation", {"1-task": [1.0, 0.8, np.nan, 0.5], "3-task": [1.2, 0.7, 0.6, 0.55]}),
        ("KITTI depth", {"1-task": [np.nan, np.nan], "3-task": [np.nan, 2.0, np.nan]}),
        ("SYNTHIA motion", {"1-task": [np.nan, np.nan]}),
        ("Cityscapes", {}),
    ]
    assert plot_curves(panels, path, title="Validation loss") == path
    width, height = _read_png(path)
    assert width > 0 and height > 0
    assert os.listdir(tmp_path) == ["fig4.png"]


def test_plot_curves_with_no_panels(tmp_path):
    plot_curves([], tmp_path / "empty.png")
    assert min(_read_png(tmp_path / "empty.png")) > 0


def test_plot_panel_writes_a_png_with_blank_tiles(tmp_path):
    tile = np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)
    rows = [[tile, None, tile, tile], [tile, tile, None]]
    path = tmp_path / "fig5.png"
    plot_panel(rows, ["Input", "1-task", "Multi-task", "Ground truth"], path,
               title="Segmentation", row_titles=["KITTI", "Cityscapes"])
    width, height = _read_png(path)
    assert width > 0 and height > 0
    assert os.listdir(tmp_path) == ["fig5.png"]


def test_plot_panel_with_only_missing_tiles(tmp_path):
    plot_panel([[None, None]], ["1-task", "Multi-task"], tmp_path / "blank.png")
    assert min(_read_png(tmp_path / "blank.png")) > 0


def _write_table(folder, key, rows, header=()):
    folder.mkdir(parents=True, exist_ok=True)
    table = {"paper": folder.name, "key": key, "title": f"{folder.name} {key}", "header": list(header),
             "columns": ["Dataset", "Model", "mIoU"], "rows": rows}
    (folder / f"{key}.json").write_text(json.dumps(table))


def _write_png(path):
    Image.new("RGB", (4, 3), (255, 0, 0)).save(path)


def test_write_report_renders_tables_and_figures_in_paper_order(tmp_path):
    _write_table(tmp_path / "selfsup", "table1", [["Cityscapes", "U-Net", "60.00 (61.20)"]])
    _write_table(tmp_path / "auxnet", "table10", [["KITTI", "AuxNet", "not run yet"]])
    _write_table(tmp_path / "auxnet", "table2", [["KITTI", "a<b & c", "failed: out of memory"]],
                 header=["Datasets: KITTI (SYNTHETIC data)", "Commit: abc"])
    _write_png(tmp_path / "auxnet" / "fig1.png")
    _write_table(tmp_path / "runs", "table1", [["KITTI", "secret-run-row", "1"]])
    (tmp_path / "synthetic").mkdir()

    path = write_report(tmp_path)

    assert path == os.path.join(tmp_path, "report.html")
    page = pathlib.Path(path).read_text(encoding="utf-8")
    assert "a&lt;b &amp; c" in page and "a<b" not in page
    assert "60.00 (61.20)" in page
    assert "data:image/png;base64," in page and "fig1.png" in page
    assert "secret-run-row" not in page
    assert page.index("auxnet table2") < page.index("auxnet table10") < page.index("fig1.png")
    assert page.index("auxnet table10") < page.index("selfsup table1")
    assert 'class="synthetic"' in page and 'class="failed"' in page and 'class="not-run"' in page
    assert "ours (paper)" in page
    assert sorted(os.listdir(tmp_path)) == ["auxnet", "report.html", "runs", "selfsup", "synthetic"]


def test_write_report_on_an_empty_tree(tmp_path):
    page = pathlib.Path(write_report(tmp_path)).read_text(encoding="utf-8")
    assert "No tables or figures" in page
    assert os.listdir(tmp_path) == ["report.html"]


def test_write_report_survives_an_unreadable_table(tmp_path):
    (tmp_path / "neurall").mkdir()
    (tmp_path / "neurall" / "table1.json").write_text("{not json")
    page = pathlib.Path(write_report(tmp_path)).read_text(encoding="utf-8")
    assert "Could not read table1.json" in page
