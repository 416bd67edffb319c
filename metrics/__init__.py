"""Offline whole-set scores (metrics.segmentation, metrics.depth; metrics.cityscapes: the official Cityscapes
benchmark's), streaming Keras metrics for fit/evaluate (metrics.streaming) and detection scores (metrics.detection,
loaded on first use)."""
import importlib

from metrics.cityscapes import CityscapesEvaluator
from metrics.depth import DepthEvaluator, depth_scores
from metrics.segmentation import (
    SegmentationEvaluator,
    confusion_matrix,
    image_confusion_matrices,
    image_mean_iou_smoothed,
    pooled_jaccard,
    scores_from_confusion,
    scores_from_image_confusions,
    segmentation_scores,
)
from metrics.streaming import (
    DepthAbsRel,
    DepthDelta1,
    DepthRMSE,
    DepthRMSELog,
    DepthSqRel,
    SegmentationMeanIoU,
)

__all__ = [
    "CityscapesEvaluator",
    "DepthAbsRel",
    "DepthDelta1",
    "DepthEvaluator",
    "DepthRMSE",
    "DepthRMSELog",
    "DepthSqRel",
    "SegmentationEvaluator",
    "SegmentationMeanIoU",
    "confusion_matrix",
    "depth_scores",
    "image_confusion_matrices",
    "image_mean_iou_smoothed",
    "pooled_jaccard",
    "scores_from_confusion",
    "scores_from_image_confusions",
    "segmentation_scores",
]


def __getattr__(name):
    # metrics.detection belongs to another module owner; load it only when something from it is asked for, so
    # `import metrics` works without it (and without pycocotools).
    if name == "detection":
        return importlib.import_module("metrics.detection")
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        detection = importlib.import_module("metrics.detection")
    except ModuleNotFoundError as error:
        if error.name != "metrics.detection":
            raise
        raise AttributeError(f"module 'metrics' has no attribute {name!r}") from None
    if hasattr(detection, name):
        return getattr(detection, name)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")
