"""Object detection (Leang et al. 2020): the YOLO-style one-box-per-cell head's raw output (B, Hc, Wc, 5 + C),
trained on padded box rows [ymin, xmin, ymax, xmax, class] (common/box_codec.py), scored by mAP at IoU 0.5."""
import numpy as np

from common import box_codec, overlays
from tasks.base import Task, register


class DetectionScores:
    def __init__(self, num_classes, image_size):
        from metrics.detection import DetectionEvaluator

        self.evaluator = DetectionEvaluator(num_classes, image_size=image_size)

    def update(self, predicted, targets, first_index):
        self.evaluator.update(targets["detection"], predicted)

    def scores(self):
        return {"detection/map": float(self.evaluator.result()["map"])}


class DetectionTask(Task):
    name = "detection"
    activation = None  # its own head: models.build_detseg puts models.detection.YoloHead on P5
    ignore_value = -1  # the class of a padding row

    def loss(self, **options):
        from losses.detection import DetectionLoss

        return DetectionLoss(**options)

    def loss_options(self, channels):
        return {"num_classes": channels - box_codec.BOX_FIELDS}

    def evaluator(self, channels, context):
        return DetectionScores(channels - box_codec.BOX_FIELDS, context.image_size)

    def panel(self, prediction, truth, image, painter):
        """Boxes above the painter's score threshold on the image, in the class's palette colour; ground-truth rows
        with a class outside [0, C) are padding."""
        num_classes = prediction.shape[-1] - box_codec.BOX_FIELDS
        palette = painter.palette(self.name, num_classes)
        to_pixels = np.array(image.shape[:2] * 2, np.float64)
        found = box_codec.decode_detections(prediction[None], score_threshold=painter.score_threshold)[0]
        drawn = overlays.draw_detections(image, np.clip(found["boxes"], 0, 1) * to_pixels, found["classes"],
                                         palette=palette)
        if truth is None:
            return drawn, None
        rows = np.asarray(truth, np.float64).reshape(-1, 5)
        real = (rows[:, 4] >= 0) & (rows[:, 4] < num_classes)
        return drawn, overlays.draw_detections(image, rows[real, :4] * to_pixels, rows[real, 4].astype(int),
                                               palette=palette)

    def output_at_size(self, value, image, renderer):
        """(n, 6) float32 [ymin, xmin, ymax, xmax, score, class] in pixels, clipped to the image."""
        height, width = image.shape[:2]
        found = box_codec.decode_detections(np.asarray(value, np.float32)[None],
                                            score_threshold=renderer.score_threshold)[0]
        boxes = np.clip(found["boxes"], 0.0, 1.0) * np.array([height, width, height, width], np.float32)
        return np.concatenate([boxes, found["scores"][:, None], found["classes"][:, None].astype(np.float32)], axis=1)

    def picture(self, image, output, renderer):
        return overlays.draw_detections(image, output[:, :4], output[:, 5].astype(int), output[:, 4],
                                        renderer.detection_names)


DETECTION = register(DetectionTask())
