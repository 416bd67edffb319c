"""Motion segmentation: 0 static / 1 moving per pixel (255 ignore), two softmax channels (MultiNet++)."""
import numpy as np

from common import overlays
from data.class_sets import MOTION_NAMES
from tasks.base import register
from tasks.labels import LabelEvaluator, LabelTask


class MotionTask(LabelTask):
    name = "motion"
    channels = 2

    def evaluator(self, channels, context):
        return MotionEvaluator(self.name, 2)

    def panel(self, prediction, truth, image, painter):
        colorize = painter.renderers()["motion"]
        return colorize(prediction.argmax(-1)), None if truth is None else colorize(truth)

    def picture(self, image, output, renderer):
        return overlays.blend(image, np.broadcast_to(overlays.MOVING_COLOR, image.shape), renderer.alpha,
                              where=output == 1)


class MotionEvaluator(LabelEvaluator):
    """The IoU readings over both channels, and each channel's IoU by name (static, moving)."""

    def scores(self):
        scores = super().scores()
        for name, value in zip(MOTION_NAMES, self.evaluator.result()["iou"]):
            scores[f"{self.task}/iou/{name}"] = float(value)
        return scores


MOTION = register(MotionTask())
