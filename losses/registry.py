"""Default loss of each task, as the papers train them: each task's `loss` (tasks/), looked up by name.

| task | loss | paper |
|---|---|---|
| segmentation, motion | ``MaskedCrossEntropy`` (ignore 255) | MultiNet++ eq. 4, NeurAll, AuxNet, Novosel eq. 4 |
| depth | ``MaskedHuber(delta=250)``; ``kind="mae"``: ``MaskedMeanAbsoluteError`` | MultiNet++ eq. 5; AuxNet |
| colorization | ``ClassWeightedCrossEntropy`` (weights optional) | Novosel eq. 1 |
| disparity | ``StereoReconstructionLoss(max_disparity=0.3)`` | Novosel eq. 2-3 |
| detection | ``losses.detection.DetectionLoss`` | Leang et al. 2020 (YOLO-style) |
"""
import tasks


def default_loss(task, **options):
    """Returns the default ``keras.losses.Loss`` of ``task``; ``options`` go to the loss constructor.

    ``task="depth"`` also takes ``kind="huber"`` (MultiNet++, default) or ``kind="mae"`` (AuxNet).
    """
    return tasks.get_task(task).loss(**options)


def __getattr__(name):
    if name == "TASKS":  # the built-in tasks, as this module used to list them
        return tasks.registered()
    if name == "DEPTH_KINDS":
        from tasks.depth import DEPTH_KINDS

        return DEPTH_KINDS
    raise AttributeError(f"module 'losses.registry' has no attribute {name!r}")
