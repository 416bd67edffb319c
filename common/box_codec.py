"""The box codec of the YOLO-style detection head (Leang et al. 2020): target encoding, decoding, NMS.

A leaf module (keras.ops and numpy only) shared by the head (models/detection.py), its loss
(losses/detection.py), its mAP (metrics/detection.py) and the detection task (tasks/detection.py), so none of them
imports another layer for it. The coding itself is documented in models/detection.py, beside the head.
"""
import numpy as np
from keras import ops

BOX_FIELDS = 5  # [objectness, ty, tx, th, tw] before the class logits
_LOGIT_EPSILON = 1e-6


def check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    return int(num_classes)


def check_grid_shape(grid_shape):
    try:
        grid_height, grid_width = (int(size) for size in grid_shape)
    except (TypeError, ValueError):
        raise ValueError(f"grid_shape must be a pair of positive integers (Hc, Wc), got {grid_shape!r}") from None
    if grid_height < 1 or grid_width < 1:
        raise ValueError(f"grid_shape must be a pair of positive integers (Hc, Wc), got {grid_shape!r}")
    return grid_height, grid_width


def check_box_tensor(boxes, argument="boxes"):
    shape = tuple(boxes.shape)
    if len(shape) != 3 or (shape[-1] is not None and shape[-1] != 5):
        raise ValueError(
            f"{argument} must have shape (batch, N_max, 5) with rows [ymin, xmin, ymax, xmax, class_id], "
            f"got shape {shape}"
        )


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
    num_classes = check_num_classes(num_classes)
    grid_height, grid_width = check_grid_shape(grid_shape)
    check_box_tensor(boxes)
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
    boxes, class_scores = (np.asarray(ops.convert_to_numpy(value), "float32") for value in decode_boxes(raw))
    best_class = class_scores.argmax(axis=-1)
    scores = class_scores.max(axis=-1)
    batch = raw.shape[0]
    results = []
    for image in range(batch):
        candidate = scores[image].reshape(-1) >= score_threshold
        image_boxes = boxes[image].reshape(-1, 4)[candidate]
        image_scores = scores[image].reshape(-1)[candidate]
        image_classes = best_class[image].reshape(-1)[candidate].astype("int32")
        keep = non_max_suppression(image_boxes, image_scores, image_classes, iou_threshold, max_detections)
        results.append({"boxes": image_boxes[keep], "scores": image_scores[keep], "classes": image_classes[keep]})
    return results
