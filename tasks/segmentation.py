"""Semantic segmentation: class ids per pixel in the dataset's training-id space (255 ignore), scored by mean IoU
over the class set's named classes (NeurAll, AuxNet, MultiNet++, Leang et al., Novosel et al.)."""
from common import overlays
from tasks.base import register
from tasks.labels import LabelEvaluator, LabelTask


class SegmentationTask(LabelTask):
    name = "segmentation"

    def evaluator(self, channels, context):
        class_set = context.class_set
        names = class_set.names if class_set is not None else tuple(str(i) for i in range(channels))
        return LabelEvaluator(self.name, channels, names)

    def picture(self, image, output, renderer):
        return overlays.blend(image, overlays.colorize_segmentation(output, renderer.palette), renderer.alpha)


SEGMENTATION = register(SegmentationTask())
