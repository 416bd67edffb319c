"""Cityscapes pixel-level scores exactly as the official benchmark computes them, and its submission files.

The papers report "class mIoU" on Cityscapes, and the benchmark's numbers come from cityscapesScripts'
``evaluation/evalPixelLevelSemanticLabeling.py`` run on labelIds at the label resolution (2048x1024).
``CityscapesEvaluator`` reproduces that script's definitions (checked against it in
tests/test_cityscapes_evaluation.py), so our numbers and the server's can be compared:

- confusion matrix over labelIds 0..33, every pixel included (``evaluatePair``): rows ground truth, columns
  prediction; void and other ``ignoreInEval`` ground-truth rows are kept in the matrix but never count;
- class IoU (``getIouScoreForLabel``) for the 19 evaluated classes: TP = C[c, c]; FN = the whole ground-truth row
  minus TP, so predicting a void id (e.g. 0 "unlabeled") on a road pixel is a miss for road; FP = column c over the
  evaluated ground-truth rows only, so predictions on void ground truth are free. TP + FP + FN = 0 gives NaN;
- class iIoU (``getInstanceIouScoreForLabel``) for the 8 evaluated instance classes: every ground-truth instance
  (instanceIds > 1000, labelId = id // 1000, ``ignoreInEval`` classes skipped) adds its TP and FN pixels weighted
  by avgClassSize[class] / instance size (``AVERAGE_INSTANCE_SIZES``, the script's ``args.avgClassSize``), so large
  and small objects count alike; FP is the class IoU's, unweighted;
- category IoU (``getIouScoreForCategory``) for the 7 categories with evaluated classes (void has none): TP sums
  C over the category's evaluated classes on both axes, FN their rows minus TP, FP their columns over the evaluated
  rows of other categories; a predicted caravan or trailer (ignored classes of "vehicle") on a car is a miss;
- category iIoU (``getInstanceIouScoreForCategory``) for "human" and "vehicle" (the categories whose classes all
  have instances): as class iIoU, with a pixel of an instance a hit when its prediction is any labelId of the
  category, caravan and trailer included (the script's ``categoryMasks``);
- means (``getScoreAverage``): over the entries that are not NaN; NaN when all are.

Predictions are trainIds by default (what our 19-class models predict; ``prediction_ids="label_ids"`` takes
labelIds, void ids included). A trainId prediction is mapped to labelIds first (255 -> 0 "unlabeled", a miss), so
on trainIds 0..18 the class IoU equals ``metrics.segmentation_scores`` on trainId ground truth.

Numpy and PIL only: the label table is data/labels.py's copy of cityscapesScripts' ``helpers/labels.py``;
cityscapesscripts itself is a test dependency (requirements.txt), not imported here.
"""
import math
import os
import re

import numpy as np
from PIL import Image

from common.atomic import atomic_path
from data import labels

#: (height, width) of the Cityscapes labels; the official evaluation and the test server score at this size.
LABEL_SIZE = (1024, 2048)

#: Mean instance size in pixels per class over the training set, the iIoU weights of evalPixelLevelSemanticLabeling
#: (``args.avgClassSize``); caravan and trailer are listed there too but are ignored in evaluation.
AVERAGE_INSTANCE_SIZES = {
    "bicycle": 4672.3249222261,
    "caravan": 36771.8241758242,
    "motorcycle": 6298.7200839748,
    "rider": 3930.4788056518,
    "bus": 35732.1511111111,
    "train": 67583.7075812274,
    "car": 12794.0202738185,
    "person": 3462.4756337644,
    "truck": 27855.1264367816,
    "trailer": 16926.9763313609,
}

#: The script's threshold: instanceIds above it are labelId * 1000 + instance number, below it bare labelIds
#: (stuff, and crowds of instance classes such as "cargroup").
INSTANCE_ID_OFFSET = 1000

_LABELS = tuple(label for label in labels.CITYSCAPES_LABELS if label.id >= 0)  # license plate (-1) is never on disk
_LABEL_BY_ID = {label.id: label for label in _LABELS}
NUM_LABEL_IDS = max(_LABEL_BY_ID) + 1  # 34: the script's confusion matrix is over labelIds 0..33

#: The 19 evaluated classes, in labelId order (= trainId order = data.labels.CITYSCAPES_CLASSES).
EVALUATED_CLASSES = tuple(label.name for label in _LABELS if not label.ignore_in_eval)
#: The 8 evaluated classes with instances (class iIoU).
INSTANCE_CLASSES = tuple(label.name for label in _LABELS if label.has_instances and not label.ignore_in_eval)
_CATEGORIES = tuple(dict.fromkeys(label.category for label in _LABELS))
#: The 7 categories with at least one evaluated class (category IoU); "void" has none.
EVALUATED_CATEGORIES = tuple(c for c in _CATEGORIES if any(l.category == c and not l.ignore_in_eval for l in _LABELS))
#: The categories whose classes all have instances (category iIoU): human, vehicle.
INSTANCE_CATEGORIES = tuple(c for c in _CATEGORIES if all(l.has_instances for l in _LABELS if l.category == c))

_EVALUATED_IDS = np.array([label.id for label in _LABELS if not label.ignore_in_eval])
_CATEGORY_ID_OF_LABEL_ID = np.array([_LABEL_BY_ID[i].category_id for i in range(NUM_LABEL_IDS)])

#: trainId -> labelId (index 255, a void prediction, -> 0 "unlabeled"); the inverse of data.labels' table.
TRAIN_ID_TO_LABEL_ID = np.zeros(256, np.uint8)
for _label in _LABELS:
    if 0 <= _label.train_id < labels.IGNORE_LABEL:
        TRAIN_ID_TO_LABEL_ID[_label.train_id] = _label.id
NUM_TRAIN_IDS = len(EVALUATED_CLASSES)

_IMAGE_ID = re.compile(r"^([^_/\\]+)_(\d{6})_(\d{6})$")


# ------------------------------------------------------------------------------------------ id spaces, sizes
def _integer_ids(array, what):
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.mod(array, 1) == 0):
            raise ValueError(f"{what} must hold integer ids, got dtype {array.dtype}")
        array = array.astype(np.int64)
    return array


def train_ids_to_label_ids(train_ids):
    """uint8 labelIds of trainIds 0..18 (255, no class, -> 0 "unlabeled", which the script counts as a miss)."""
    train_ids = _integer_ids(train_ids, "train_ids")
    valid = ((train_ids >= 0) & (train_ids < NUM_TRAIN_IDS)) | (train_ids == labels.IGNORE_LABEL)
    if not valid.all():
        bad = np.unique(train_ids[~valid])[:10].tolist()
        raise ValueError(f"trainIds must be in 0..{NUM_TRAIN_IDS - 1} or {labels.IGNORE_LABEL}, got {bad}")
    return TRAIN_ID_TO_LABEL_ID[train_ids]


def prediction_label_ids(prediction, prediction_ids="train_ids"):
    """(H, W) labelIds of a prediction: trainIds (H, W), trainId scores (H, W, 19) (arg-maxed) or labelIds (H, W)."""
    prediction = np.asarray(prediction)
    if prediction_ids == "train_ids":
        if prediction.ndim == 3:
            if prediction.shape[-1] != NUM_TRAIN_IDS:
                raise ValueError(f"trainId scores must be (H, W, {NUM_TRAIN_IDS}), got {prediction.shape}")
            prediction = np.argmax(prediction, axis=-1)
        predicted = train_ids_to_label_ids(prediction)
    elif prediction_ids == "label_ids":
        predicted = _integer_ids(prediction, "labelId predictions")
        if predicted.size and (predicted.min() < 0 or predicted.max() >= NUM_LABEL_IDS):
            raise ValueError(f"labelId predictions must be in 0..{NUM_LABEL_IDS - 1} (the script's confusion matrix)")
    else:
        raise ValueError(f"prediction_ids must be 'train_ids' or 'label_ids', got {prediction_ids!r}")
    if predicted.ndim != 2:
        raise ValueError(f"a prediction is one (H, W) image, got shape {np.shape(predicted)}")
    return predicted


def _source_coordinates(in_size, out_size):
    """Half-pixel-centre sampling positions (tf.image.resize, PIL and OpenCV's convention), clipped to the input."""
    return np.clip((np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5, 0, in_size - 1)


def _linear_taps(in_size, out_size):
    position = _source_coordinates(in_size, out_size)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, in_size - 1)
    return lower, upper, position - lower


def _nearest_taps(in_size, out_size):
    # the input pixel whose extent holds the output pixel's centre
    return np.minimum(np.floor((np.arange(out_size) + 0.5) * (in_size / out_size)), in_size - 1).astype(np.int64)


def upsample_prediction(prediction, size=LABEL_SIZE, rows_per_chunk=128):
    """Full-size (H, W) class ids of a low-resolution prediction, for the evaluation at the label resolution.

    The official evaluation needs a prediction of every labelled pixel (its image sizes must match), but our models
    predict at the training size (e.g. 224x384, aspect ratio changed). Both axes are scaled independently:

    - scores (h, w, C) (logits or probabilities): bilinear interpolation of each class's score, then argmax. This is
      the preferred input and what DeepLab / mmsegmentation evaluations do: boundaries fall between the low-resolution
      pixels where the interpolated scores cross, instead of on the staircase of enlarged pixels;
    - ids (h, w): nearest neighbour (ids cannot be interpolated), as data/pipeline.py resizes labels.

    Sampling uses half-pixel centres, the convention of tf.image.resize (bilinear / nearest), PIL and OpenCV.
    Returns uint8 ids in the input's id space (trainIds for our models; pass them to ``train_ids_to_label_ids`` for
    the labelIds the official script reads). Scores are interpolated ``rows_per_chunk`` output rows at a time, so
    a 19-class 2048x1024 upsampling stays at a few tens of MB.
    """
    prediction = np.asarray(prediction)
    height, width = (int(v) for v in size)
    if prediction.ndim == 2:
        rows, cols = _nearest_taps(prediction.shape[0], height), _nearest_taps(prediction.shape[1], width)
        ids = _integer_ids(prediction, "an id prediction")
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise ValueError("class ids must be in 0..255 (uint8 label images)")
        return ids[rows[:, None], cols[None, :]].astype(np.uint8)
    if prediction.ndim != 3:
        raise ValueError(f"prediction must be ids (h, w) or scores (h, w, C), got shape {prediction.shape}")
    scores = prediction.astype(np.result_type(prediction.dtype, np.float32), copy=False)
    top, bottom, row_weight = _linear_taps(scores.shape[0], height)
    left, right, col_weight = _linear_taps(scores.shape[1], width)
    row_weight, col_weight = row_weight.astype(scores.dtype), col_weight.astype(scores.dtype)
    # rows first: (height, w, C) is small; the full (height, width, C) array is only ever built chunk by chunk
    tall = scores[top] * (1 - row_weight)[:, None, None] + scores[bottom] * row_weight[:, None, None]
    out = np.empty((height, width), np.uint8)
    for start in range(0, height, rows_per_chunk):
        chunk = tall[start:start + rows_per_chunk]
        full = chunk[:, left] * (1 - col_weight)[None, :, None] + chunk[:, right] * col_weight[None, :, None]
        out[start:start + rows_per_chunk] = np.argmax(full, axis=-1)
    return out


# ------------------------------------------------------------------------------------------------- evaluator
def _iou(true_positives, false_positives, false_negatives):
    # the script's order of operations: tp + fp + fn, then float(tp) / denominator
    denominator = true_positives + false_positives + false_negatives
    return float(true_positives) / denominator if denominator != 0 else float("nan")


def _score_average(scores):
    """``getScoreAverage``: the mean of the entries that are not NaN (in the script's order), NaN if none."""
    valid = [value for value in scores.values() if not math.isnan(value)]
    return sum(valid) / len(valid) if valid else float("nan")


class CityscapesEvaluator:
    """Accumulates the official Cityscapes pixel-level scores over full-resolution images, one image per ``update``.

    >>> evaluator = CityscapesEvaluator()                      # trainId predictions
    >>> reader = data.get_reader("cityscapes", root)
    >>> for example in reader.list_examples("val", ["segmentation"]):
    ...     label_ids = np.array(PIL.Image.open(example.files["segmentation"]))      # gtFine labelIds, 2048x1024
    ...     instance_ids = np.array(PIL.Image.open(reader.instance_ids_path(example)))
    ...     scores = model.predict(...)["segmentation"][0]                           # (224, 384, 19)
    ...     evaluator.update(label_ids, upsample_prediction(scores, label_ids.shape), instance_ids)
    >>> evaluator.result()["miou"]

    Args:
        prediction_ids: "train_ids" (ids 0..18, 255 = no class, or (H, W, 19) scores) or "label_ids" (0..33).
        instance_level: also accumulate the instance statistics of iIoU (the script's ``evalInstLevelScore``);
            then every ``update`` needs the image's gtFine instanceIds.
    """

    def __init__(self, prediction_ids="train_ids", instance_level=True):
        if prediction_ids not in ("train_ids", "label_ids"):
            raise ValueError(f"prediction_ids must be 'train_ids' or 'label_ids', got {prediction_ids!r}")
        self.prediction_ids = prediction_ids
        self.instance_level = bool(instance_level)
        self.reset()

    def reset(self):
        self.confusion = np.zeros((NUM_LABEL_IDS, NUM_LABEL_IDS), np.int64)
        # weighted [true positives, false negatives] per instance class / category (``generateInstanceStats``)
        self.class_instance_stats = {name: [0.0, 0.0] for name in INSTANCE_CLASSES}
        self.category_instance_stats = {name: [0.0, 0.0] for name in INSTANCE_CATEGORIES}
        self.num_images = 0

    def update(self, label_ids, prediction, instance_ids=None):
        """Adds one image: gtFine labelIds (H, W), the prediction at the same size, gtFine instanceIds (H, W).

        A prediction at another size is an error, as in the script: upsample it first (``upsample_prediction``).
        """
        label_ids = _integer_ids(label_ids, "label_ids")
        predicted = prediction_label_ids(prediction, self.prediction_ids)
        if label_ids.shape != predicted.shape:
            raise ValueError(
                f"prediction {predicted.shape} and label_ids {label_ids.shape} differ in size; the official "
                f"evaluation scores at the label resolution: upsample_prediction(prediction, {label_ids.shape}) first"
            )
        if label_ids.size and (label_ids.min() < 0 or label_ids.max() >= NUM_LABEL_IDS):
            unknown = np.unique(label_ids[(label_ids < 0) | (label_ids >= NUM_LABEL_IDS)])[:10].tolist()
            raise ValueError(f"label_ids holds ids outside the Cityscapes table 0..{NUM_LABEL_IDS - 1}: {unknown}")
        if self.instance_level:
            if instance_ids is None:
                raise ValueError("instance_level=True needs each image's gtFine instanceIds "
                                 "(or CityscapesEvaluator(instance_level=False))")
            instance_ids = _integer_ids(instance_ids, "instance_ids")
            if instance_ids.shape != label_ids.shape:
                raise ValueError(f"instance_ids {instance_ids.shape} and label_ids {label_ids.shape} differ in size")
        codes = label_ids.reshape(-1).astype(np.int64) * NUM_LABEL_IDS + predicted.reshape(-1)
        self.confusion += np.bincount(codes, minlength=NUM_LABEL_IDS**2).reshape(NUM_LABEL_IDS, NUM_LABEL_IDS)
        if self.instance_level:
            self._add_instances(instance_ids.reshape(-1).astype(np.int64), predicted.reshape(-1))
        self.num_images += 1
        return self

    def _add_instances(self, instance_ids, predicted):
        """The instance part of ``evaluatePair``, one bincount instead of one full-image mask per instance."""
        inside = instance_ids > INSTANCE_ID_OFFSET
        pixel_instances, predicted = instance_ids[inside], predicted[inside]
        pixel_labels = pixel_instances // INSTANCE_ID_OFFSET
        if pixel_labels.size and pixel_labels.max() >= NUM_LABEL_IDS:
            unknown = np.unique(pixel_instances[pixel_labels >= NUM_LABEL_IDS])[:10].tolist()
            raise ValueError(f"instance_ids holds instances of labelIds outside the Cityscapes table: {unknown}")
        instances, index = np.unique(pixel_instances, return_inverse=True)
        sizes = np.bincount(index, minlength=len(instances))
        hits = np.bincount(index, weights=predicted == pixel_labels, minlength=len(instances))
        same_category = _CATEGORY_ID_OF_LABEL_ID[predicted] == _CATEGORY_ID_OF_LABEL_ID[pixel_labels]
        category_hits = np.bincount(index, weights=same_category, minlength=len(instances))
        for instance, size, hit, category_hit in zip(instances.tolist(), sizes.tolist(), hits, category_hits):
            label = _LABEL_BY_ID[instance // INSTANCE_ID_OFFSET]
            if label.ignore_in_eval:
                continue
            if label.name not in self.class_instance_stats:
                raise ValueError(f"instance id {instance}: class {label.name!r} has no instances in Cityscapes")
            weight = AVERAGE_INSTANCE_SIZES[label.name] / float(size)
            true_positives = int(round(hit))
            stats = self.class_instance_stats[label.name]
            stats[0] += float(true_positives) * weight
            stats[1] += float(size - true_positives) * weight
            if label.category in self.category_instance_stats:
                category_true_positives = int(round(category_hit))
                stats = self.category_instance_stats[label.category]
                stats[0] += float(category_true_positives) * weight
                stats[1] += float(size - category_true_positives) * weight

    def result(self):
        """Scores dict; the script's json names in brackets.

        ``miou`` (averageScoreClasses) and ``iou_per_class`` {19 classes} (classScores); ``category_miou``
        (averageScoreCategories) and ``iou_per_category`` {7 categories} (categoryScores); with instance_level:
        ``iiou`` (averageScoreInstClasses), ``iiou_per_class`` {8 instance classes} (classInstScores),
        ``category_iiou`` (averageScoreInstCategories), ``iiou_per_category`` {human, vehicle}
        (categoryInstScores). Also ``confusion_matrix`` (34 x 34 int64 over labelIds, rows ground truth;
        confMatrix) and ``num_images``. Absent classes and categories are NaN and stay out of the means.
        """
        confusion = self.confusion
        evaluated_rows = confusion[_EVALUATED_IDS]
        class_false_positives = {}
        iou_per_class = {}
        for label_id in _EVALUATED_IDS.tolist():
            name = _LABEL_BY_ID[label_id].name
            true_positives = int(confusion[label_id, label_id])
            false_negatives = int(confusion[label_id].sum()) - true_positives
            class_false_positives[name] = int(evaluated_rows[:, label_id].sum()) - true_positives
            iou_per_class[name] = _iou(true_positives, class_false_positives[name], false_negatives)
        iou_per_category, category_false_positives = {}, {}
        for category in EVALUATED_CATEGORIES:
            ids = [l.id for l in _LABELS if l.category == category and not l.ignore_in_eval]
            other_rows = [l.id for l in _LABELS if l.category != category and not l.ignore_in_eval]
            true_positives = int(confusion[np.ix_(ids, ids)].sum())
            false_negatives = int(confusion[ids].sum()) - true_positives
            false_positives = int(confusion[np.ix_(other_rows, ids)].sum())
            iou_per_category[category] = _iou(true_positives, false_positives, false_negatives)
        result = {
            "miou": _score_average(iou_per_class),
            "iou_per_class": iou_per_class,
            "category_miou": _score_average(iou_per_category),
            "iou_per_category": iou_per_category,
            "confusion_matrix": confusion.copy(),
            "num_images": self.num_images,
        }
        if self.instance_level:
            iiou_per_class = {name: _iou(stats[0], class_false_positives[name], stats[1])
                              for name, stats in self.class_instance_stats.items()}
            iiou_per_category = {}
            for category, stats in self.category_instance_stats.items():
                # all the category's labelIds, ignored ones (caravan, trailer) included, as the script's labelIds
                ids = [l.id for l in _LABELS if l.category == category]
                other_rows = [l.id for l in _LABELS if l.category != category and not l.ignore_in_eval]
                false_positives = int(confusion[np.ix_(other_rows, ids)].sum())
                iiou_per_category[category] = _iou(stats[0], false_positives, stats[1])
            result.update(iiou=_score_average(iiou_per_class), iiou_per_class=iiou_per_class,
                          category_iiou=_score_average(iiou_per_category), iiou_per_category=iiou_per_category)
        return result


# ------------------------------------------------------------------------------------------------ submission
def submission_path(folder, image_id):
    """``folder/{city}/{city}_{seq}_{frame}_leftImg8bit.png``: named like the input image, as the benchmark asks.

    evalPixelLevelSemanticLabeling's ``getPrediction`` walks its results folder (``CITYSCAPES_RESULTS``)
    recursively and takes the one file matching ``{city}_{seq}_{frame}*.png`` for each ground-truth file, so the
    city sub-folders are optional for it; they keep a folder of 500 (val) or 1525 (test) files readable.
    """
    match = _IMAGE_ID.match(str(image_id))
    if not match:
        raise ValueError(f"image_id must be '{{city}}_{{seq:06d}}_{{frame:06d}}' (e.g. 'berlin_000000_000019'), "
                         f"got {image_id!r}")
    return os.path.join(os.fspath(folder), match.group(1), f"{image_id}_leftImg8bit.png")


def write_submission_png(folder, image_id, prediction, prediction_ids="train_ids", size=LABEL_SIZE):
    """Writes one prediction in the benchmark's format; returns the path (``submission_path``).

    The format: a grey-level uint8 PNG of labelIds (not trainIds) at the label resolution 2048x1024. A prediction of
    another size (e.g. the 224x384 training size) is upsampled with ``upsample_prediction`` (bilinear on scores,
    nearest on ids). The file is written whole or not at all (``common.atomic``: a hidden temporary name in the same
    folder, which the script's file search skips, then ``os.replace``).

    Args:
        folder: the results folder (zip it for the server, or point ``CITYSCAPES_RESULTS`` at it for the script).
        image_id: ``{city}_{seq:06d}_{frame:06d}``, e.g. a Cityscapes reader example's ``name``.
        prediction: trainIds (h, w), trainId scores (h, w, 19), or labelIds (h, w) with prediction_ids="label_ids".
    """
    path = submission_path(folder, image_id)
    prediction = np.asarray(prediction)
    if prediction.ndim == 3 and prediction_ids != "train_ids":
        raise ValueError("scores (h, w, C) are trainId scores; pass prediction_ids='train_ids'")
    size = tuple(int(v) for v in size)
    if prediction.shape[:2] != size:
        prediction = upsample_prediction(prediction, size)
    label_ids = prediction_label_ids(prediction, prediction_ids).astype(np.uint8)
    with atomic_path(path) as temporary:
        Image.fromarray(label_ids).save(temporary, format="PNG")
    return path
