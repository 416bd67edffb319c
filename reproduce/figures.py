"""Figures for the reproduction: colour maps for task outputs, loss curves and qualitative panels.

Everything renders off-screen (matplotlib's Agg backend) and every PNG is written atomically, so a
reproduction killed mid-save never leaves a truncated image for the report to inline.
"""
import math

import matplotlib

matplotlib.use("Agg")  # no display on training machines; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from common.atomic import atomic_path  # noqa: E402
from common.overlays import (  # noqa: E402  (the colour maps every picture uses; re-exported)
    MOVING_COLOR, STATIC_COLOR, colorize_depth, colorize_motion, colorize_segmentation)

__all__ = ["MOVING_COLOR", "STATIC_COLOR", "colorize_depth", "colorize_motion", "colorize_segmentation",
           "plot_curves", "plot_panel"]
NOT_RUN_TEXT = "not run"
_TILE_INCHES = 3.0
_DPI = 100


def plot_curves(panels, path, title=None, ylabel="validation loss", xlabel="epoch"):
    """Line plots, one subplot per `(panel_title, {series_label: values per epoch})`, saved as a PNG.

    NaN values are missing points; a panel without any finite value reads "not run". Returns `path`.
    """
    panels = list(panels) or [(title or "", {})]
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.8 * columns, 3.4 * rows + (0.5 if title else 0)), squeeze=False,
        layout="constrained",
    )
    try:
        for axis, (panel_title, series) in zip(axes.flat, panels):
            _draw_curves(axis, panel_title, series, xlabel, ylabel)
        for axis in axes.flat[len(panels):]:
            axis.set_visible(False)
        _finish(figure, title, path)
    finally:
        plt.close(figure)
    return path


def plot_panel(rows, column_titles, path, title=None, row_titles=None):
    """A grid of image tiles (H, W, 3) uint8, or None for a blank "not run" tile, saved as a PNG.

    `column_titles` label the columns on top (e.g. "Input", "1-task", "Multi-task", "Ground truth"),
    `row_titles` the rows on the left. Returns `path`.
    """
    rows = [list(row) for row in rows] or [[]]
    column_titles = list(column_titles or [])
    columns = max(1, len(column_titles), *(len(row) for row in rows))
    tile_aspect = _tile_aspect(rows)
    tile_height = _TILE_INCHES * tile_aspect
    figure, axes = plt.subplots(
        len(rows), columns, squeeze=False, layout="constrained",
        figsize=(_TILE_INCHES * columns + (0.4 if row_titles else 0),
                 (tile_height + 0.1) * len(rows) + 0.3 + (0.4 if title else 0)),
    )
    try:
        for row_index, row in enumerate(rows):
            for column_index in range(columns):
                axis = axes[row_index, column_index]
                tile = row[column_index] if column_index < len(row) else None
                _draw_tile(axis, tile, tile_aspect)
                if row_index == 0 and column_index < len(column_titles):
                    axis.set_title(str(column_titles[column_index]), fontsize=11)
                if column_index == 0 and row_titles and row_index < len(row_titles):
                    axis.set_ylabel(str(row_titles[row_index]), fontsize=11)
        _finish(figure, title, path)
    finally:
        plt.close(figure)
    return path


def _finish(figure, title, path):
    if title:
        figure.suptitle(title, fontsize=13)
    _save(figure, path)


def _draw_curves(axis, panel_title, series, xlabel, ylabel):
    axis.set_title(str(panel_title), fontsize=11)
    plotted = False
    for label, values in series.items():
        values = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(values).any():
            continue
        # Markers keep an isolated point (NaN on both sides) visible; a line alone would hide it.
        axis.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=str(label))
        plotted = True
    if not plotted:
        _write_not_run(axis)
        return
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)


def _draw_tile(axis, tile, tile_aspect):
    axis.set_xticks([])
    axis.set_yticks([])
    if tile is None:
        # A blank image with the tiles' aspect keeps the grid regular around missing runs.
        axis.imshow(np.full((int(round(100 * tile_aspect)), 100, 3), 235, dtype=np.uint8))
        axis.text(0.5, 0.5, NOT_RUN_TEXT, transform=axis.transAxes, ha="center", va="center",
                  color="dimgray", fontsize=11)
    else:
        tile = np.asarray(tile)
        axis.imshow(tile, cmap="gray" if tile.ndim == 2 else None, interpolation="nearest")
    for spine in axis.spines.values():
        spine.set_visible(False)


def _write_not_run(axis):
    axis.text(0.5, 0.5, NOT_RUN_TEXT, transform=axis.transAxes, ha="center", va="center",
              color="dimgray", fontsize=12)
    axis.set_xticks([])
    axis.set_yticks([])


def _tile_aspect(rows):
    for row in rows:
        for tile in row:
            if tile is not None:
                height, width = np.shape(tile)[:2]
                if height and width:
                    return height / width
    return 224 / 384  # the papers' input size


def _save(figure, path):
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=_DPI)
