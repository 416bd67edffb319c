"""Per-task losses (losses.segmentation, losses.depth, losses.stereo), the per-task defaults (losses.registry)
and the task-weighting strategies (losses.weighting). Detection and weighting modules load on first use."""
import importlib

from losses.depth import MaskedHuber, MaskedMeanAbsoluteError
from losses.segmentation import ClassWeightedCrossEntropy, MaskedCrossEntropy, MaskedPixelLoss
from losses.stereo import StereoReconstructionLoss, warp_right_to_left

_LAZY_SUBMODULES = ("weighting", "detection")

__all__ = [
    "ClassWeightedCrossEntropy",
    "MaskedCrossEntropy",
    "MaskedHuber",
    "MaskedMeanAbsoluteError",
    "MaskedPixelLoss",
    "StereoReconstructionLoss",
    "default_loss",
    "warp_right_to_left",
]


def __getattr__(name):
    # Imported lazily so a missing or broken colleague module never breaks `import losses`.
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"losses.{name}")
    if name == "default_loss":  # reads tasks/, which reads the loss modules above: loaded on first use
        return importlib.import_module("losses.registry").default_loss
    if name == "DetectionLoss":
        return importlib.import_module("losses.detection").DetectionLoss
    raise AttributeError(f"module 'losses' has no attribute {name!r}")
