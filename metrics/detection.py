"""Detection mAP at IoU 0.5 and the detection/segmentation compromise score of Leang et al. 2020.

Leang et al. report detection mAP (IoU 0.5) and use the geometric mean sqrt(mAP * mIoU) as the target metric of
their meta-learning and as the summary row of Table II (e.g. KITTI, no weighting: sqrt(0.6535 * 0.8114) =
0.7282). The AP is computed by pycocotools' COCOeval (101-point interpolated precision, greedy matching of
detections by descending score), restricted to one IoU threshold, one area range (all) and 100 detections per
image and class; the COCO dictionaries are built in memory. mAP is the mean AP over classes that have at least
one ground-truth box; classes without ground truth get AP NaN and are left out of the mean.

Detection mAP is a whole-dataset, offline score: there is no streaming Keras metric for it. Use
`DetectionEvaluator` (update per batch, result at the end) after `predict`.
"""
import contextlib
import io
import math

import numpy as np

from common.sizes import IMAGE_SIZE
from common import box_codec


def _check_image_size(image_size):
    try:
        height, width = (float(size) for size in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be a pair of positive numbers (H, W), got {image_size!r}") from None
    if not (height > 0 and width > 0):
        raise ValueError(f"image_size must be a pair of positive numbers (H, W), got {image_size!r}")
    return height, width


def _to_coco_box(box, height, width):
    ymin, xmin, ymax, xmax = (float(value) for value in box)
    return [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height]


def detection_map(ground_truth, detections, num_classes, iou_threshold=0.5, image_size=IMAGE_SIZE,
                  max_detections=100):
    """Mean average precision over a set of images, by pycocotools' COCOeval.

    Args:
        ground_truth: per image, an array (N, 5) of rows [ymin, xmin, ymax, xmax, class_id] normalised
            (class_id -1 = padding, dropped), e.g. the `detection` target batch (B, N_max, 5).
        detections: per image, a dict with `boxes` (n, 4) [ymin, xmin, ymax, xmax] normalised, `scores` (n,)
            and `classes` (n,), as `models.detection.decode_detections` returns.
        num_classes: number of classes; ids outside [0, num_classes) are ignored.
        iou_threshold: the single IoU threshold of a true positive (0.5 in Leang et al.).
        image_size: (H, W) in pixels the normalised boxes are scaled to; it only sets the areas COCOeval
            records (the area range is "all" and IoU does not change under axis scaling).
        max_detections: detections kept per image and class, highest score first.

    Returns:
        dict with `map` (float; NaN when no class has ground truth) and `ap` (numpy (num_classes,), NaN for
        classes without ground truth).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    num_classes = box_codec.check_num_classes(num_classes)
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    height, width = _check_image_size(image_size)
    ground_truth = list(ground_truth)
    detections = list(detections)
    if len(ground_truth) != len(detections):
        raise ValueError(f"ground_truth and detections must list the same images, got {len(ground_truth)} "
                         f"and {len(detections)} images")

    images = [{"id": image_id, "height": height, "width": width} for image_id in range(1, len(ground_truth) + 1)]
    categories = [{"id": class_id + 1, "name": str(class_id)} for class_id in range(num_classes)]
    gt_annotations, dt_annotations = [], []
    for image_id, (image_boxes, image_detections) in enumerate(zip(ground_truth, detections), start=1):
        for row in np.asarray(image_boxes, dtype="float64").reshape(-1, 5):
            if 0 <= row[4] < num_classes:
                bbox = _to_coco_box(row[:4], height, width)
                gt_annotations.append({"id": len(gt_annotations) + 1, "image_id": image_id,
                                       "category_id": int(row[4]) + 1, "bbox": bbox,
                                       "area": bbox[2] * bbox[3], "iscrowd": 0})
        boxes = np.asarray(image_detections["boxes"], dtype="float64").reshape(-1, 4)
        scores = np.asarray(image_detections["scores"], dtype="float64").reshape(-1)
        classes = np.asarray(image_detections["classes"]).reshape(-1)
        if not len(boxes) == len(scores) == len(classes):
            raise ValueError(f"detections of image {image_id - 1} must have as many boxes, scores and classes, "
                             f"got {len(boxes)}, {len(scores)}, {len(classes)}")
        for box, score, class_id in zip(boxes, scores, classes):
            if 0 <= class_id < num_classes:
                bbox = _to_coco_box(box, height, width)
                # ids start at 1: COCOeval reads a match id of 0 as "unmatched".
                dt_annotations.append({"id": len(dt_annotations) + 1, "image_id": image_id,
                                       "category_id": int(class_id) + 1, "bbox": bbox,
                                       "area": bbox[2] * bbox[3], "iscrowd": 0, "score": float(score)})

    ap = np.full(num_classes, np.nan)
    if gt_annotations:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco_gt, coco_dt = COCO(), COCO()
            coco_gt.dataset = {"images": images, "categories": categories, "annotations": gt_annotations}
            coco_dt.dataset = {"images": images, "categories": categories, "annotations": dt_annotations}
            coco_gt.createIndex()
            coco_dt.createIndex()
            evaluation = COCOeval(coco_gt, coco_dt, iouType="bbox")
            evaluation.params.imgIds = [image["id"] for image in images]
            evaluation.params.catIds = [category["id"] for category in categories]
            evaluation.params.iouThrs = np.array([float(iou_threshold)])
            evaluation.params.areaRng = [[0.0, 1e10]]
            evaluation.params.areaRngLbl = ["all"]
            evaluation.params.maxDets = [int(max_detections)]
            evaluation.evaluate()
            evaluation.accumulate()
        precision = evaluation.eval["precision"][0, :, :, 0, 0]  # (recall thresholds, classes)
        for class_id in range(num_classes):
            class_precision = precision[:, class_id]
            if np.all(class_precision > -1):  # -1: the class has no ground truth
                ap[class_id] = float(class_precision.mean())
    has_ground_truth = ~np.isnan(ap)
    mean_ap = float(ap[has_ground_truth].mean()) if has_ground_truth.any() else float("nan")
    return {"map": mean_ap, "ap": ap}


def geometric_mean_score(map, miou):
    """sqrt(mAP * mIoU), the compromise score of Leang et al. 2020 (Table II "Geometric mean")."""
    for argument, value in (("map", map), ("miou", miou)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{argument} must be in [0, 1], got {value!r}")
    return math.sqrt(float(map) * float(miou))


class DetectionEvaluator:
    """Accumulates ground truth and decoded predictions over a dataset; `result()` gives the mAP.

    Args:
        num_classes: number of object classes.
        class_names: optional names; `result()["ap_by_class"]` then maps names to AP.
        score_threshold: decoding threshold; low (0.01) by default because a high threshold cuts the
            precision-recall curve short and lowers the AP.
        nms_iou_threshold, max_detections: decoding options (see models.detection.decode_detections).
        iou_threshold: IoU of a true positive (0.5).
        image_size: (H, W) passed to `detection_map`.
    """

    def __init__(self, num_classes, class_names=None, score_threshold=0.01, nms_iou_threshold=0.5,
                 max_detections=100, iou_threshold=0.5, image_size=IMAGE_SIZE):
        self.num_classes = box_codec.check_num_classes(num_classes)
        if class_names is not None:
            class_names = [str(name) for name in class_names]
            if len(class_names) != self.num_classes:
                raise ValueError(f"class_names must have num_classes = {self.num_classes} names, "
                                 f"got {len(class_names)}")
        self.class_names = class_names
        self.score_threshold = score_threshold
        self.nms_iou_threshold = nms_iou_threshold
        self.max_detections = max_detections
        self.iou_threshold = iou_threshold
        self.image_size = _check_image_size(image_size)
        self.reset()

    def reset(self):
        self.ground_truth = []
        self.detections = []

    def update(self, gt_boxes_batch, raw_predictions_batch):
        """Add a batch: `gt_boxes_batch` (B, N_max, 5) padded boxes, `raw_predictions_batch` the raw head
        output (B, Hc, Wc, 5 + num_classes)."""
        from keras import ops

        gt_boxes_batch = np.asarray(ops.convert_to_numpy(gt_boxes_batch), dtype="float32")
        if gt_boxes_batch.ndim != 3 or gt_boxes_batch.shape[-1] != 5:
            raise ValueError(f"gt_boxes_batch must have shape (batch, N_max, 5), got {gt_boxes_batch.shape}")
        raw_predictions_batch = ops.convert_to_numpy(raw_predictions_batch)
        expected_channels = box_codec.BOX_FIELDS + self.num_classes
        if raw_predictions_batch.ndim != 4 or raw_predictions_batch.shape[-1] != expected_channels:
            raise ValueError(f"raw_predictions_batch must have shape (batch, Hc, Wc, {expected_channels}), "
                             f"got {raw_predictions_batch.shape}")
        if len(gt_boxes_batch) != len(raw_predictions_batch):
            raise ValueError(f"gt_boxes_batch and raw_predictions_batch must have the same batch size, got "
                             f"{len(gt_boxes_batch)} and {len(raw_predictions_batch)}")
        decoded = box_codec.decode_detections(
            raw_predictions_batch, score_threshold=self.score_threshold,
            iou_threshold=self.nms_iou_threshold, max_detections=self.max_detections)
        self.ground_truth.extend(gt_boxes_batch)
        self.detections.extend(decoded)

    def result(self):
        """dict with `map`, `ap` (per class) and, with class_names, `ap_by_class`."""
        scores = detection_map(self.ground_truth, self.detections, self.num_classes,
                               iou_threshold=self.iou_threshold, image_size=self.image_size,
                               max_detections=self.max_detections)
        if self.class_names is not None:
            scores["ap_by_class"] = dict(zip(self.class_names, (float(value) for value in scores["ap"])))
        return scores
