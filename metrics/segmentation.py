"""Offline (whole-set) semantic segmentation scores: confusion matrix, per-class IoU, mIoU, pixel accuracy.

The metric of every paper reproduced here (NeurAll, MultiNet++, AuxNet, Leang et al., Novosel et al.: "standard
class mean intersection over union"), as the Cityscapes and PASCAL VOC benchmarks define it:

    IoU_c = TP_c / (TP_c + FP_c + FN_c)      accumulated over all pixels of the set, not averaged per image
    mIoU  = mean of IoU_c over the classes with a non-zero union (present in ground truth or prediction)

A class absent from both ground truth and prediction has IoU NaN and does not enter the mean; a class only
predicted (all false positives) has IoU 0 and does. Pixels labelled ``ignore_index`` are skipped.
Confusion matrix rows are ground-truth classes, columns predicted classes.
"""
import numpy as np

IGNORE_INDEX = 255


def _class_ids(y_true, y_pred, num_classes):
    """Returns flat ground-truth and predicted class ids; ``y_pred`` may be ids or per-class scores."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.shape == y_true.shape:
        pred_ids = y_pred
    elif y_true.shape[-1:] == (1,) and y_pred.shape == y_true.shape[:-1]:
        y_true, pred_ids = y_true[..., 0], y_pred
    elif y_pred.shape[:-1] == y_true.shape and y_pred.shape[-1:] == (num_classes,):
        pred_ids = np.argmax(y_pred, axis=-1)
    elif y_true.shape[-1:] == (1,) and y_pred.shape[:-1] == y_true.shape[:-1] and y_pred.shape[-1] == num_classes:
        y_true, pred_ids = y_true[..., 0], np.argmax(y_pred, axis=-1)
    else:
        raise ValueError(
            f"y_pred must be class ids shaped like y_true {y_true.shape} or scores shaped y_true.shape + "
            f"({num_classes},), got {y_pred.shape}"
        )
    if not np.issubdtype(pred_ids.dtype, np.integer):
        if not np.all(np.equal(np.mod(pred_ids, 1), 0)):
            raise ValueError("y_pred with the shape of y_true must hold integer class ids")
    return y_true.reshape(-1).astype(np.int64), pred_ids.reshape(-1).astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX):
    """(num_classes, num_classes) int64 pixel counts, rows ground truth, columns prediction."""
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
    num_classes = int(num_classes)
    true_ids, pred_ids = _class_ids(y_true, y_pred, num_classes)
    keep = true_ids != ignore_index
    true_ids, pred_ids = true_ids[keep], pred_ids[keep]
    if true_ids.size and (true_ids.min() < 0 or true_ids.max() >= num_classes):
        raise ValueError(
            f"y_true holds labels outside [0, {num_classes}) other than ignore_index={ignore_index}: "
            f"{sorted(set(np.unique(true_ids[(true_ids < 0) | (true_ids >= num_classes)]).tolist()))[:10]}"
        )
    if pred_ids.size and (pred_ids.min() < 0 or pred_ids.max() >= num_classes):
        raise ValueError(f"y_pred holds class ids outside [0, {num_classes})")
    counts = np.bincount(true_ids * num_classes + pred_ids, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def scores_from_confusion(confusion):
    """Scores dict (``miou``, ``iou``, ``pixel_accuracy``, ``confusion_matrix``) from a confusion matrix."""
    confusion = np.asarray(confusion)
    true_positives = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positives
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, true_positives / np.maximum(union, 1), np.nan)
    total = confusion.sum()
    present = union > 0
    return {
        "miou": float(iou[present].mean()) if present.any() else float("nan"),
        "iou": iou,
        "pixel_accuracy": float(true_positives.sum() / total) if total else float("nan"),
        "confusion_matrix": confusion,
    }


def segmentation_scores(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX):
    """Whole-set scores of class-id ground truth against predicted ids or per-class probabilities.

    Args:
        y_true: int array of any shape (e.g. (N, H, W) or (N, H, W, 1)); ``ignore_index`` pixels are skipped.
        y_pred: int class ids shaped like ``y_true``, or scores shaped ``y_true.shape + (num_classes,)``
            (arg-maxed).
        num_classes: number of classes C.

    Returns:
        dict: ``miou`` (float, mean IoU over classes with a non-zero union, NaN when there is none),
        ``iou`` (C floats, NaN for classes absent from ground truth and prediction), ``pixel_accuracy``,
        ``confusion_matrix`` (C x C int64, rows ground truth).
    """
    return scores_from_confusion(confusion_matrix(y_true, y_pred, num_classes, ignore_index))


class SegmentationEvaluator:
    """Accumulates the confusion matrix over a dataset, batch by batch.

    >>> evaluator = SegmentationEvaluator(19)
    >>> for images, labels in dataset: evaluator.update(labels, model.predict(images))
    >>> evaluator.result()["miou"]
    """

    def __init__(self, num_classes, ignore_index=IGNORE_INDEX):
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self):
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true, y_pred):
        self.confusion += confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_index)
        return self

    def result(self):
        return scores_from_confusion(self.confusion.copy())
