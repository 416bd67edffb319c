"""Moved to `common.overlays` (the task pictures every layer draws with); kept so existing imports keep working."""
from common.overlays import (  # noqa: F401
    DEPTH_CMAP,
    MOVING_COLOR,
    STATIC_COLOR,
    blend,
    colorize_depth,
    colorize_motion,
    colorize_segmentation,
    depth_with_colorbar,
    draw_detections,
    generic_palette,
)
