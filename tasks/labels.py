"""What the per-pixel label tasks (segmentation, motion, colorization) share: softmax over classes, cross-entropy
with an ignore label, mean IoU, arg-max pictures."""
import numpy as np

from common import overlays
from losses.segmentation import MaskedCrossEntropy
from tasks.base import Task

IGNORE_LABEL = 255
#: the other readings of "IoU" that reproduce/iou_definition.py weighs (metrics.segmentation); pooled_jaccard is
#: the one the papers' "IoU" columns fit
IOU_READINGS = ("pixel_accuracy", "pooled_jaccard", "frequency_weighted_iou", "mean_class_accuracy",
                "image_mean_iou_smoothed")


def resized(value, height, width):
    """A raw (h, w, C) output at (height, width), bilinear as the images are resized in training."""
    import keras

    return keras.ops.convert_to_numpy(keras.ops.image.resize(np.asarray(value, np.float32), (height, width),
                                                             "bilinear"))


class LabelEvaluator:
    """Whole-split confusion of one label task: `{task}/miou` and the other IoU readings; `names` adds
    `{task}/iou/<name>` and takes the mean over the named classes only."""

    def __init__(self, task, channels, names=None, per_image=True):
        from metrics import SegmentationEvaluator

        self.task, self.names = task, names
        self.evaluator = SegmentationEvaluator(channels, per_image=per_image)

    def update(self, predicted, targets, first_index):
        self.evaluator.update(targets[self.task], np.asarray(predicted).argmax(-1))

    def scores(self):
        result = self.evaluator.result()
        scores = {f"{self.task}/{key}": float(result[key]) for key in IOU_READINGS if key in result}
        if self.names is None:
            scores[f"{self.task}/miou"] = float(result["miou"])
            return scores
        iou = np.asarray(result["iou"], dtype=float)[: len(self.names)]
        for name, value in zip(self.names, iou):
            scores[f"{self.task}/iou/{name}"] = float(value)
        scores[f"{self.task}/miou"] = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
        return scores


class LabelTask(Task):
    """A softmax over classes per pixel, trained on int ids with `ignore_value` unlabelled."""

    activation = "softmax"
    class_probabilities = True
    ignore_value = IGNORE_LABEL

    def loss(self, **options):
        return MaskedCrossEntropy(**options)

    def streaming_metrics(self, channels, prefix, **options):
        from metrics import SegmentationMeanIoU

        return [SegmentationMeanIoU(channels, name=f"{prefix}miou")]

    def evaluator(self, channels, context):
        return LabelEvaluator(self.name, channels)

    def panel(self, prediction, truth, image, painter):
        colorize = painter.renderers()["segmentation"]
        palette = painter.palette(self.name, prediction.shape[-1])
        return (colorize(prediction.argmax(-1), palette),
                None if truth is None else colorize(truth, palette))

    def output_at_size(self, value, image, renderer):
        return resized(value, *image.shape[:2]).argmax(axis=-1).astype(np.uint8)

    def picture(self, image, output, renderer):
        palette = overlays.generic_palette(renderer.channels[self.name])
        return overlays.blend(image, overlays.colorize_segmentation(output, palette), renderer.alpha)
