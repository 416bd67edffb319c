"""Default loss of each task, as the papers train them.

| task | loss | paper |
|---|---|---|
| segmentation, motion | ``MaskedCrossEntropy`` (ignore 255) | MultiNet++ eq. 4, NeurAll, AuxNet, Novosel eq. 4 |
| depth | ``MaskedHuber(delta=250)``; ``kind="mae"``: ``MaskedMeanAbsoluteError`` | MultiNet++ eq. 5; AuxNet |
| colorization | ``ClassWeightedCrossEntropy`` (weights optional) | Novosel eq. 1 |
| disparity | ``StereoReconstructionLoss(max_disparity=0.3)`` | Novosel eq. 2-3 |
| detection | ``losses.detection.DetectionLoss`` | Leang et al. 2020 (YOLO-style) |
"""
import importlib

from losses.depth import MaskedHuber, MaskedMeanAbsoluteError
from losses.segmentation import ClassWeightedCrossEntropy, MaskedCrossEntropy
from losses.stereo import StereoReconstructionLoss

TASKS = ("segmentation", "motion", "depth", "colorization", "disparity", "detection")
DEPTH_KINDS = {"huber": MaskedHuber, "mae": MaskedMeanAbsoluteError}


def default_loss(task, **options):
    """Returns the default ``keras.losses.Loss`` of ``task``; ``options`` go to the loss constructor.

    ``task="depth"`` also takes ``kind="huber"`` (MultiNet++, default) or ``kind="mae"`` (AuxNet).
    ``task="detection"`` imports ``losses.detection`` only when asked for.
    """
    if task in ("segmentation", "motion"):
        return MaskedCrossEntropy(**options)
    if task == "depth":
        kind = options.pop("kind", "huber")
        if kind not in DEPTH_KINDS:
            raise ValueError(f"kind for task 'depth' must be one of {sorted(DEPTH_KINDS)}, got {kind!r}")
        return DEPTH_KINDS[kind](**options)
    if task == "colorization":
        return ClassWeightedCrossEntropy(**options)
    if task == "disparity":
        return StereoReconstructionLoss(**options)
    if task == "detection":
        return importlib.import_module("losses.detection").DetectionLoss(**options)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")
