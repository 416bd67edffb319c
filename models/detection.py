"""YOLO-style single-box-per-cell detection head, box coding and decoding (Leang et al. 2020, Fig. 2).

Leang et al. 2020 ("Dynamic task weighting methods for multi-task networks in autonomous driving systems")
put a "YOLO style bounding box decoder" (Redmon et al. 2016, YOLOv1) on the stride-32 features of a ResNet-10
encoder without giving its layout; the choices below are ours and are the single place where they are defined.

Head layout (`YoloHead`)
    conv 3x3 (hidden_filters, no bias) -> BatchNorm -> LeakyReLU(0.1) -> conv 1x1 (5 + num_classes, bias).
    Output, raw and unactivated, (B, Hc, Wc, 5 + C) with Hc = H/32, Wc = W/32, channels
    [objectness logit, ty, tx, th, tw, class logits...]: one box per grid cell, as YOLOv1 with B=1.
    The objectness bias starts at logit(objectness_prior) so the first steps are not swamped by the many
    empty cells (the RetinaNet prior trick; `objectness_prior=None` keeps a zero bias).

Box parametrisation (fractions of the image height/width)
    cell (i, j) of the Hc x Wc grid predicts
        center_y = (i + sigmoid(ty)) / Hc        center_x = (j + sigmoid(tx)) / Wc
        height   = sigmoid(th)                   width    = sigmoid(tw)
    Sigmoids keep the centre inside its cell and the size inside the image. The loss (losses/detection.py)
    regresses sqrt(height), sqrt(width) as YOLOv1 does; the decoded box is the plain one above.

Target assignment (`encode_targets`)
    The responsible cell holds the box centre (row = floor(center_y * Hc), clipped to the grid). When two
    boxes share a cell the one with the larger area wins; equal areas go to the earlier row of the padded
    tensor, so the assignment is deterministic. Rows with class_id outside [0, num_classes) are padding.
    Box corners are clipped to [0, 1] first.

Decoding (`decode_detections`)
    score = sigmoid(objectness) * softmax(class logits)[best class]; each cell proposes its best class only
    (one object per cell). Candidates above `score_threshold` go through greedy per-class NMS in numpy; this
    runs offline, after the model. `decode_boxes` is the keras.ops (graph-friendly, dense, pre-NMS) part.
"""
import math

import keras
import numpy as np
from keras import ops

from models.batch_norm import BatchNormalization

BOX_FIELDS = 5  # [objectness, ty, tx, th, tw] before the class logits
_LOGIT_EPSILON = 1e-6


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    return int(num_classes)


def _check_grid_shape(grid_shape):
    try:
        grid_height, grid_width = (int(size) for size in grid_shape)
    except (TypeError, ValueError):
        raise ValueError(f"grid_shape must be a pair of positive integers (Hc, Wc), got {grid_shape!r}") from None
    if grid_height < 1 or grid_width < 1:
        raise ValueError(f"grid_shape must be a pair of positive integers (Hc, Wc), got {grid_shape!r}")
    return grid_height, grid_width


def _check_box_tensor(boxes, argument="boxes"):
    shape = tuple(boxes.shape)
    if len(shape) != 3 or (shape[-1] is not None and shape[-1] != 5):
        raise ValueError(
            f"{argument} must have shape (batch, N_max, 5) with rows [ymin, xmin, ymax, xmax, class_id], "
            f"got shape {shape}"
        )


@keras.saving.register_keras_serializable(package="mtl")
class YoloHead(keras.layers.Layer):
    """YOLO-style detection head: conv3x3-BN-LeakyReLU, then a 1x1 conv to 5 + num_classes raw channels.

    Args:
        num_classes: number of object classes (>= 1).
        hidden_filters: channels of the 3x3 conv (256 by default: about 1.2M parameters on a 512-channel map).
        leaky_slope: negative slope of the LeakyReLU (0.1 as YOLO).
        objectness_prior: initial sigmoid(objectness) of every cell, or None for a zero bias.
        kernel_regularizer: optional regularizer of both convolutions.
    """

    def __init__(self, num_classes, hidden_filters=256, leaky_slope=0.1, objectness_prior=0.01,
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)
        if isinstance(hidden_filters, bool) or not isinstance(hidden_filters, (int, np.integer)) \
                or hidden_filters < 1:
            raise ValueError(f"hidden_filters must be an integer >= 1, got {hidden_filters!r}")
        if objectness_prior is not None and not 0.0 < objectness_prior < 1.0:
            raise ValueError(f"objectness_prior must be in (0, 1) or None, got {objectness_prior!r}")
        self.hidden_filters = int(hidden_filters)
        self.leaky_slope = float(leaky_slope)
        self.objectness_prior = None if objectness_prior is None else float(objectness_prior)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.hidden_conv = keras.layers.Conv2D(
            self.hidden_filters, 3, padding="same", use_bias=False,
            kernel_regularizer=self.kernel_regularizer, dtype=self.dtype_policy, name="hidden_conv")
        self.hidden_norm = BatchNormalization(dtype=self.dtype_policy, name="hidden_norm")
        self.hidden_activation = keras.layers.LeakyReLU(
            negative_slope=self.leaky_slope, dtype=self.dtype_policy, name="hidden_activation")
        self.output_conv = keras.layers.Conv2D(
            BOX_FIELDS + self.num_classes, 1, kernel_regularizer=self.kernel_regularizer,
            bias_initializer=self._output_bias_initializer(), dtype="float32", name="output_conv")  # 5 + C outputs

    def _output_bias_initializer(self):
        if self.objectness_prior is None:
            return "zeros"
        bias = np.zeros(BOX_FIELDS + self.num_classes, dtype="float32")
        bias[0] = math.log(self.objectness_prior / (1.0 - self.objectness_prior))
        return keras.initializers.Constant(bias)

    def build(self, input_shape):
        self.hidden_conv.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_filters,)
        self.hidden_norm.build(hidden_shape)
        self.output_conv.build(hidden_shape)

    def call(self, features, training=None):
        hidden = self.hidden_conv(features)
        hidden = self.hidden_norm(hidden, training=training)
        return self.output_conv(self.hidden_activation(hidden))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (BOX_FIELDS + self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            hidden_filters=self.hidden_filters,
            leaky_slope=self.leaky_slope,
            objectness_prior=self.objectness_prior,
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return config


def build_yolo_head(feature, num_classes, name="detection", **head_options):
    """Apply a `YoloHead` named `name` to the stride-32 `feature` map; returns the raw output tensor."""
    return YoloHead(num_classes, name=name, **head_options)(feature)


def encode_targets(boxes, grid_shape, num_classes):
    """Dense per-cell targets from padded boxes (keras.ops only; see the module docstring for the rules).

    Args:
        boxes: (B, N_max, 5) rows [ymin, xmin, ymax, xmax, class_id], normalised; class_id -1 = padding.
        grid_shape: (Hc, Wc) of the head output.
        num_classes: number of classes; ids outside [0, num_classes) count as padding.

    Returns:
        dict with `objectness` float32 (B, Hc, Wc) in {0, 1}; `box` float32 (B, Hc, Wc, 4) =
        [offset_y, offset_x, height, width] (offsets of the centre inside its cell, in [0, 1); sizes as
        fractions of the image), zeros in empty cells; `class_id` int32 (B, Hc, Wc), -1 in empty cells.
    """
    num_classes = _check_num_classes(num_classes)
    grid_height, grid_width = _check_grid_shape(grid_shape)
    _check_box_tensor(boxes)
    boxes = ops.cast(boxes, "float32")
    class_ids = boxes[..., 4]
    valid = ops.logical_and(class_ids >= 0, class_ids < num_classes)
    corners = ops.clip(boxes[..., :4], 0.0, 1.0)
    ymin, xmin, ymax, xmax = (corners[..., k] for k in range(4))
    height = ops.maximum(ymax - ymin, 0.0)
    width = ops.maximum(xmax - xmin, 0.0)
    scaled_y = (ymin + ymax) * 0.5 * grid_height
    scaled_x = (xmin + xmax) * 0.5 * grid_width
    row = ops.clip(ops.floor(scaled_y), 0, grid_height - 1)
    col = ops.clip(ops.floor(scaled_x), 0, grid_width - 1)
    offsets = ops.stack([scaled_y - row, scaled_x - col], axis=-1)
    cell = ops.cast(row * grid_width + col, "int32")

    # A box keeps its cell unless another valid box in that cell is larger, or equal and earlier.
    area = height * width
    num_rows = ops.shape(boxes)[1]
    index = ops.arange(num_rows)
    same_cell = ops.logical_and(ops.expand_dims(cell, 2) == ops.expand_dims(cell, 1),
                                ops.logical_and(ops.expand_dims(valid, 2), ops.expand_dims(valid, 1)))
    other_area = ops.expand_dims(area, 1)  # [b, n, m] = area of box m
    own_area = ops.expand_dims(area, 2)
    other_is_earlier = ops.expand_dims(index, 0) < ops.expand_dims(index, 1)  # [n, m] = m < n
    other_beats_own = ops.logical_or(other_area > own_area,
                                     ops.logical_and(other_area == own_area, other_is_earlier))
    beaten = ops.any(ops.logical_and(same_cell, other_beats_own), axis=2)
    winner = ops.logical_and(valid, ops.logical_not(beaten))

    assignment = ops.cast(
        ops.logical_and(ops.expand_dims(cell, -1) == ops.arange(grid_height * grid_width),
                        ops.expand_dims(winner, -1)), "float32")  # (B, N, cells), one winner per cell
    box_values = ops.concatenate([offsets, ops.stack([height, width], axis=-1)], axis=-1)
    objectness = ops.sum(assignment, axis=1)
    cell_boxes = ops.einsum("bnc,bnk->bck", assignment, box_values)
    cell_classes = ops.einsum("bnc,bn->bc", assignment, class_ids + 1.0) - 1.0
    batch = ops.shape(boxes)[0]
    return {
        "objectness": ops.reshape(objectness, (batch, grid_height, grid_width)),
        "box": ops.reshape(cell_boxes, (batch, grid_height, grid_width, 4)),
        "class_id": ops.reshape(ops.cast(ops.round(cell_classes), "int32"), (batch, grid_height, grid_width)),
    }


def _grid_offsets(grid_height, grid_width):
    rows = ops.reshape(ops.arange(grid_height, dtype="float32"), (1, grid_height, 1))
    cols = ops.reshape(ops.arange(grid_width, dtype="float32"), (1, 1, grid_width))
    return rows, cols


def decode_boxes(raw):
    """Dense decoding with keras.ops: (B, Hc, Wc, 5 + C) raw -> boxes (B, Hc, Wc, 4) [ymin, xmin, ymax,
    xmax] normalised and per-class scores (B, Hc, Wc, C) = sigmoid(objectness) * softmax(class logits)."""
    raw = ops.cast(raw, "float32")
    grid_height, grid_width = raw.shape[1], raw.shape[2]
    if grid_height is None or grid_width is None:
        grid_height, grid_width = ops.shape(raw)[1], ops.shape(raw)[2]
    rows, cols = _grid_offsets(grid_height, grid_width)
    center_y = (rows + ops.sigmoid(raw[..., 1])) / ops.cast(grid_height, "float32")
    center_x = (cols + ops.sigmoid(raw[..., 2])) / ops.cast(grid_width, "float32")
    half_height = ops.sigmoid(raw[..., 3]) * 0.5
    half_width = ops.sigmoid(raw[..., 4]) * 0.5
    boxes = ops.stack([center_y - half_height, center_x - half_width,
                       center_y + half_height, center_x + half_width], axis=-1)
    scores = ops.expand_dims(ops.sigmoid(raw[..., 0]), -1) * ops.softmax(raw[..., BOX_FIELDS:], axis=-1)
    return boxes, scores


def encode_raw_predictions(boxes, grid_shape, num_classes, confidence_logit=12.0):
    """The inverse of the box coding: the raw head output that decodes to `boxes` (a perfect prediction).

    Objectness and the right class get +confidence_logit, the rest -confidence_logit. Offsets or sizes of
    exactly 0 or 1 have no finite logit and are clipped by 1e-6. Useful for tests and for checking the
    evaluation pipeline end to end. Returns float32 (B, Hc, Wc, 5 + num_classes).
    """
    targets = encode_targets(boxes, grid_shape, num_classes)
    has_object = targets["objectness"]
    geometry = ops.clip(targets["box"], _LOGIT_EPSILON, 1.0 - _LOGIT_EPSILON)
    geometry_logits = ops.log(geometry) - ops.log(1.0 - geometry)
    objectness_logit = (2.0 * has_object - 1.0) * confidence_logit
    class_one_hot = ops.one_hot(ops.maximum(targets["class_id"], 0), num_classes)
    class_logits = (2.0 * class_one_hot - 1.0) * confidence_logit
    return ops.concatenate([ops.expand_dims(objectness_logit, -1), geometry_logits, class_logits], axis=-1)


def box_iou(box, others):
    """IoU of one [ymin, xmin, ymax, xmax] box with each row of `others` (numpy)."""
    inter_h = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0.0, None)
    inter_w = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0.0, None)
    intersection = inter_h * inter_w
    area = (box[2] - box[0]) * (box[3] - box[1])
    other_areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + other_areas - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def non_max_suppression(boxes, scores, classes, iou_threshold=0.5, max_detections=100):
    """Greedy per-class NMS in numpy; returns the kept indices, highest score first (ties: lower index).

    A box is dropped when it overlaps a higher-scored kept box of the same class with IoU > iou_threshold.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    if max_detections < 1:
        raise ValueError(f"max_detections must be >= 1, got {max_detections!r}")
    boxes = np.asarray(boxes, dtype="float32").reshape(-1, 4)
    scores = np.asarray(scores, dtype="float32").reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    keep = []
    for class_id in np.unique(classes):
        candidates = np.flatnonzero(classes == class_id)
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        while candidates.size:
            best, candidates = candidates[0], candidates[1:]
            keep.append(best)
            candidates = candidates[box_iou(boxes[best], boxes[candidates]) <= iou_threshold]
    keep = np.asarray(keep, dtype="int64")
    keep = keep[np.lexsort((keep, -scores[keep]))]
    return keep[:max_detections]


def decode_detections(raw, score_threshold=0.3, iou_threshold=0.5, max_detections=100):
    """Raw head output (B, Hc, Wc, 5 + C) -> one dict per image with numpy `boxes` (n, 4) [ymin, xmin,
    ymax, xmax] normalised, `scores` (n,) = objectness * class probability, `classes` (n,) int32,
    after per-class NMS, highest score first. Runs in numpy, after the model."""
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
    raw = np.asarray(ops.convert_to_numpy(raw), dtype="float32")
    if raw.ndim != 4 or raw.shape[-1] < BOX_FIELDS + 1:
        raise ValueError(f"raw must have shape (batch, Hc, Wc, 5 + num_classes), got shape {raw.shape}")
    batch, grid_height, grid_width, _ = raw.shape
    rows = np.arange(grid_height, dtype="float32")[None, :, None]
    cols = np.arange(grid_width, dtype="float32")[None, None, :]
    center_y = (rows + _sigmoid(raw[..., 1])) / grid_height
    center_x = (cols + _sigmoid(raw[..., 2])) / grid_width
    half_height, half_width = _sigmoid(raw[..., 3]) / 2, _sigmoid(raw[..., 4]) / 2
    boxes = np.stack([center_y - half_height, center_x - half_width,
                      center_y + half_height, center_x + half_width], axis=-1)
    class_logits = raw[..., BOX_FIELDS:]
    class_probabilities = np.exp(class_logits - class_logits.max(axis=-1, keepdims=True))
    class_probabilities /= class_probabilities.sum(axis=-1, keepdims=True)
    best_class = class_probabilities.argmax(axis=-1)
    scores = _sigmoid(raw[..., 0]) * class_probabilities.max(axis=-1)
    results = []
    for image in range(batch):
        candidate = scores[image].reshape(-1) >= score_threshold
        image_boxes = boxes[image].reshape(-1, 4)[candidate]
        image_scores = scores[image].reshape(-1)[candidate]
        image_classes = best_class[image].reshape(-1)[candidate].astype("int32")
        keep = non_max_suppression(image_boxes, image_scores, image_classes, iou_threshold, max_detections)
        results.append({"boxes": image_boxes[keep], "scores": image_scores[keep], "classes": image_classes[keep]})
    return results


def _sigmoid(values):
    return 0.5 * (np.tanh(0.5 * values) + 1.0)  # overflow-free logistic
