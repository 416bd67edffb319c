"""Offline (whole-set) semantic segmentation scores: confusion matrix, per-class IoU, mIoU, pixel accuracy, and
the other "IoU"-like scores a 2018-2019 paper may have printed under that name.

The metric of every paper reproduced here (NeurAll, MultiNet++, AuxNet, Leang et al., Novosel et al.: "standard
class mean intersection over union"), as the Cityscapes and PASCAL VOC benchmarks define it:

    IoU_c = TP_c / (TP_c + FP_c + FN_c)      accumulated over all pixels of the set, not averaged per image
    mIoU  = mean of IoU_c over the classes with a non-zero union (present in ground truth or prediction)

A class absent from both ground truth and prediction has IoU NaN and does not enter the mean; a class only
predicted (all false positives) has IoU 0 and does. Pixels labelled ``ignore_index`` are skipped.
Confusion matrix rows are ground-truth classes, columns predicted classes.

Further scores (extra keys; ``reproduce/iou_definition.py`` tests which of them AuxNet Table 1 / NeurAll Tables I-II
print as "IoU"). G_c = TP_c + FN_c are the ground-truth pixels of class c, G = sum_c G_c.

From the whole-set confusion matrix (always returned):

    frequency_weighted_iou = sum_c (G_c / G) IoU_c     Long et al. 2015 (FCN), Sec. 5, "frequency weighted IU"
    mean_class_accuracy    = mean_c TP_c / G_c         Long et al. 2015, "mean accuracy" (mean recall); over the
                                                       classes present in ground truth
    pixel_accuracy         = sum_c TP_c / G            Long et al. 2015, "pixel accuracy"
    mean_dice              = mean_c 2 TP_c / (2 TP_c + FP_c + FN_c)    Dice (1945), per-class F1; over the classes
                                                       with a non-zero union, as ``miou``

Per image, then averaged over the images (``per_image=True``: the first axis indexes images), with the prediction as
a one-hot vector per pixel and s = ``smooth`` (1 by default, as in the Keras code cited):

    image_mean_iou_smoothed = mean_images mean_c (I_c + s) / (U_c + s)
        I_c, U_c: the image's intersection and union of class c, so a class absent from both the image's ground
        truth and its prediction counts as 1. The "naive" mean IoU of ilmonteux.github.io, "Metrics for semantic
        segmentation" (2019-05-10, s = 0.001), and the Keras ``iou_coef`` written with ``axis=[1, 2]`` (a per-class
        vector averaged over the batch; Keras' metric wrapper averages it to one number).
    pooled_jaccard = mean_images (I + s) / (U + s)
        I = sum of y_true * y_pred over all pixels AND channels (y_true one-hot), U = sum y_true + sum y_pred - I:
        the Keras ``iou_coef(y_true, y_pred, smooth=1)`` with ``axis=[1, 2, 3]`` and ``K.mean(..., axis=0)`` of
        E. Tiu, "Metrics to Evaluate your Semantic Segmentation Model" (towardsdatascience.com, 2019), copied e.g.
        into umd-fire-coml/2020-Object-Detection-In-Aerial-Images (accuracy.py); Red-Eyed/ID-Card-Segmentation
        (model/iou_loss.py) uses it, negated, as a loss. Each valid pixel adds 1 to sum y_true and 1 to sum y_pred,
        so with hard predictions U = 2 n - I and the score is acc / (2 - acc) of the image (up to s): it does not
        look at classes at all. The function ``pooled_jaccard`` also takes softmax probabilities, as the Keras
        metric saw them; acc is then the mean probability given to the true class.

The flattened ``dice_coef`` of the same repositories, 2 I / (sum y_true + sum y_pred), is the pixel accuracy for hard
one-hot predictions, so ``pixel_accuracy`` stands for it. Ignored pixels are left out of both y_true and y_pred in
the per-image scores (the Keras metrics had no ignore label); an image without valid pixels scores s / s = 1, as
the Keras metrics would.
"""
import numpy as np

IGNORE_INDEX = 255


def _class_ids(y_true, y_pred, num_classes):
    """Returns ground-truth and predicted class ids shaped like ``y_true`` (less a trailing label axis of 1);
    ``y_pred`` may be ids or per-class scores."""
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
    return y_true.astype(np.int64), pred_ids.astype(np.int64)


def _check_num_classes(num_classes):
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
    return int(num_classes)


def _valid_ids(true_ids, pred_ids, num_classes, ignore_index):
    """Boolean mask of the non-ignored pixels, after checking every id is in range."""
    keep = true_ids != ignore_index
    bad_true = keep & ((true_ids < 0) | (true_ids >= num_classes))
    if bad_true.any():
        raise ValueError(
            f"y_true holds labels outside [0, {num_classes}) other than ignore_index={ignore_index}: "
            f"{sorted(np.unique(true_ids[bad_true]).tolist())[:10]}"
        )
    if ((pred_ids[keep] < 0) | (pred_ids[keep] >= num_classes)).any():
        raise ValueError(f"y_pred holds class ids outside [0, {num_classes})")
    return keep


def confusion_matrix(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX):
    """(num_classes, num_classes) int64 pixel counts, rows ground truth, columns prediction."""
    num_classes = _check_num_classes(num_classes)
    true_ids, pred_ids = _class_ids(y_true, y_pred, num_classes)
    keep = _valid_ids(true_ids, pred_ids, num_classes, ignore_index)
    counts = np.bincount(true_ids[keep] * num_classes + pred_ids[keep], minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def image_confusion_matrices(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX):
    """(images, C, C) int64 confusion matrices, one per image; the first axis of ``y_true`` indexes the images."""
    num_classes = _check_num_classes(num_classes)
    true_ids, pred_ids = _class_ids(y_true, y_pred, num_classes)
    if true_ids.ndim < 2:
        raise ValueError(f"per-image scores need a batch axis first, got y_true shaped {np.shape(y_true)}")
    images = true_ids.shape[0]
    true_ids, pred_ids = true_ids.reshape(images, -1), pred_ids.reshape(images, -1)
    keep = _valid_ids(true_ids, pred_ids, num_classes, ignore_index)
    image_index = np.broadcast_to(np.arange(images)[:, None], true_ids.shape)
    cells = (image_index * num_classes + true_ids) * num_classes + pred_ids
    counts = np.bincount(cells[keep], minlength=images * num_classes * num_classes)
    return counts.reshape(images, num_classes, num_classes)


def scores_from_confusion(confusion):
    """Scores dict from a whole-set confusion matrix: ``miou``, ``iou``, ``pixel_accuracy``, ``confusion_matrix``
    and the candidates ``frequency_weighted_iou``, ``mean_class_accuracy``, ``mean_dice`` (module docstring)."""
    confusion = np.asarray(confusion)
    true_positives = np.diag(confusion).astype(np.float64)
    ground_truth = confusion.sum(axis=1).astype(np.float64)
    union = confusion.sum(axis=0) + ground_truth - true_positives
    present = union > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(present, true_positives / np.maximum(union, 1), np.nan)
        dice = np.where(present, 2 * true_positives / np.maximum(union + true_positives, 1), np.nan)
        recall = np.where(ground_truth > 0, true_positives / np.maximum(ground_truth, 1), np.nan)
    total = confusion.sum()
    nan = float("nan")
    return {
        "miou": float(iou[present].mean()) if present.any() else nan,
        "iou": iou,
        "pixel_accuracy": float(true_positives.sum() / total) if total else nan,
        "confusion_matrix": confusion,
        "frequency_weighted_iou": float(np.sum(ground_truth[present] * iou[present]) / total) if total else nan,
        "mean_class_accuracy": float(np.nanmean(recall)) if total else nan,
        "mean_dice": float(dice[present].mean()) if present.any() else nan,
    }


def scores_from_image_confusions(confusions, smooth=1.0):
    """Per-image candidates from (images, C, C) confusion matrices (hard predictions): ``image_mean_iou_smoothed``
    and ``pooled_jaccard``, each the mean over the images (module docstring), and ``images``."""
    confusions = np.asarray(confusions, dtype=np.float64)
    intersection = np.diagonal(confusions, axis1=1, axis2=2)  # (images, C)
    union = confusions.sum(axis=2) + confusions.sum(axis=1) - intersection
    class_iou = (intersection + smooth) / (union + smooth)
    pixels = confusions.sum(axis=(1, 2))
    correct = intersection.sum(axis=1)
    pooled = (correct + smooth) / (2 * pixels - correct + smooth)
    nan = float("nan")
    return {
        "image_mean_iou_smoothed": float(class_iou.mean()) if len(confusions) else nan,
        "pooled_jaccard": float(pooled.mean()) if len(confusions) else nan,
        "images": len(confusions),
    }


def segmentation_scores(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX, per_image=False, smooth=1.0):
    """Whole-set scores of class-id ground truth against predicted ids or per-class probabilities.

    Args:
        y_true: int array of any shape (e.g. (N, H, W) or (N, H, W, 1)); ``ignore_index`` pixels are skipped.
        y_pred: int class ids shaped like ``y_true``, or scores shaped ``y_true.shape + (num_classes,)``
            (arg-maxed).
        num_classes: number of classes C.
        per_image: also return the per-image candidates ``image_mean_iou_smoothed`` and ``pooled_jaccard`` (the
            first axis indexes images), with smoothing term ``smooth``.

    Returns:
        dict: ``miou`` (float, mean IoU over classes with a non-zero union, NaN when there is none),
        ``iou`` (C floats, NaN for classes absent from ground truth and prediction), ``pixel_accuracy``,
        ``confusion_matrix`` (C x C int64, rows ground truth), ``frequency_weighted_iou``, ``mean_class_accuracy``,
        ``mean_dice``; with ``per_image`` also ``image_mean_iou_smoothed``, ``pooled_jaccard`` and ``images``.
    """
    if not per_image:
        return scores_from_confusion(confusion_matrix(y_true, y_pred, num_classes, ignore_index))
    confusions = image_confusion_matrices(y_true, y_pred, num_classes, ignore_index)
    return scores_from_confusion(confusions.sum(axis=0)) | scores_from_image_confusions(confusions, smooth)


def _one_hot_pairs(y_true, y_pred, num_classes, ignore_index):
    """(images, pixels, C) float arrays: one-hot ground truth and the prediction (probabilities as given, ids
    one-hot), both zero on ignored pixels."""
    num_classes = _check_num_classes(num_classes)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape[-1:] == (1,) and y_pred.shape[:-1] == y_true.shape[:-1]:
        y_true = y_true[..., 0]
    if y_pred.shape == y_true.shape + (num_classes,):
        probabilities = y_pred.astype(np.float64)
        true_ids, _ = _class_ids(y_true, y_pred, num_classes)
        keep = _valid_ids(true_ids, np.zeros_like(true_ids), num_classes, ignore_index)
    else:
        true_ids, pred_ids = _class_ids(y_true, y_pred, num_classes)
        keep = _valid_ids(true_ids, pred_ids, num_classes, ignore_index)
        probabilities = np.eye(num_classes)[np.where(keep, pred_ids, 0)]
    if true_ids.ndim < 2:
        raise ValueError(f"per-image scores need a batch axis first, got y_true shaped {np.shape(y_true)}")
    images = true_ids.shape[0]
    one_hot = np.eye(num_classes)[np.where(keep, true_ids, 0)] * keep[..., None]
    probabilities = probabilities * keep[..., None]
    return one_hot.reshape(images, -1, num_classes), probabilities.reshape(images, -1, num_classes)


def pooled_jaccard(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX, smooth=1.0):
    """The Keras ``iou_coef`` "Jaccard coefficient" (module docstring): (I + s) / (U + s) with I and U summed over
    all pixels and channels of each image, averaged over the images (first axis). ``y_pred``: class ids shaped like
    ``y_true`` (hard) or probabilities shaped ``y_true.shape + (C,)``, used as they are (soft, as in training)."""
    one_hot, prediction = _one_hot_pairs(y_true, y_pred, num_classes, ignore_index)
    intersection = np.sum(one_hot * prediction, axis=(1, 2))
    union = one_hot.sum(axis=(1, 2)) + prediction.sum(axis=(1, 2)) - intersection
    return float(np.mean((intersection + smooth) / (union + smooth)))


def image_mean_iou_smoothed(y_true, y_pred, num_classes, ignore_index=IGNORE_INDEX, smooth=1.0):
    """Per image and class (I_c + s) / (U_c + s), a class absent from both counting 1, averaged over the classes
    and the images (first axis); ``y_pred`` as in ``pooled_jaccard``."""
    one_hot, prediction = _one_hot_pairs(y_true, y_pred, num_classes, ignore_index)
    intersection = np.sum(one_hot * prediction, axis=1)
    union = one_hot.sum(axis=1) + prediction.sum(axis=1) - intersection
    return float(np.mean((intersection + smooth) / (union + smooth)))


class SegmentationEvaluator:
    """Accumulates the confusion matrix over a dataset, batch by batch.

    >>> evaluator = SegmentationEvaluator(19)
    >>> for images, labels in dataset: evaluator.update(labels, model.predict(images))
    >>> evaluator.result()["miou"]

    ``per_image=True`` also keeps the running sums of the per-image candidates (``image_mean_iou_smoothed``,
    ``pooled_jaccard``; the first axis of each batch indexes images), so ``result()`` holds their means over all
    images seen, as Keras' ``evaluate`` reported a per-batch mean metric weighted by batch size.
    """

    def __init__(self, num_classes, ignore_index=IGNORE_INDEX, per_image=False, smooth=1.0):
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self.per_image = bool(per_image)
        self.smooth = float(smooth)
        self.reset()

    def reset(self):
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self._image_sums = {"image_mean_iou_smoothed": 0.0, "pooled_jaccard": 0.0}
        self._images = 0

    def update(self, y_true, y_pred):
        if not self.per_image:
            self.confusion += confusion_matrix(y_true, y_pred, self.num_classes, self.ignore_index)
            return self
        confusions = image_confusion_matrices(y_true, y_pred, self.num_classes, self.ignore_index)
        self.confusion += confusions.sum(axis=0)
        batch = scores_from_image_confusions(confusions, self.smooth)
        for key in self._image_sums:
            self._image_sums[key] += batch[key] * batch["images"]
        self._images += batch["images"]
        return self

    def result(self):
        scores = scores_from_confusion(self.confusion.copy())
        if self.per_image:
            for key, total in self._image_sums.items():
                scores[key] = total / self._images if self._images else float("nan")
            scores["images"] = self._images
        return scores
