"""Dataset readers for the official layouts, tf.data pipelines (data.load), Lab colour and dataset statistics.

Submodules are imported on first use, so ``import data.synthetic`` or ``data.color`` (reused by the models under
any Keras backend) does not pull in TensorFlow.
"""
import importlib

DATASETS = ("cityscapes", "kitti", "kitti_object", "synthia", "synthetic", "woodscape")

_LAZY = {
    "load": "data.pipeline",
    "synthetic_tree": "data.pipeline",
    "get_reader": "data.readers",
    "READERS": "data.readers",
    "rgb_to_lab": "data.color",
    "estimate_ab_statistics": "data.statistics",
    "median_frequency_weights": "data.statistics",
    "IGNORE_LABEL": "data.labels",
    "CITYSCAPES_CLASSES": "data.labels",
    "CITYSCAPES_DETECTION_CLASSES": "data.labels",
    "KITTI_OBJECT_CLASSES": "data.labels",
    "SYNTHIA_CLASSES": "data.labels",
    "WOODSCAPE_CLASSES": "data.labels",
}

__all__ = ["DATASETS", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")
