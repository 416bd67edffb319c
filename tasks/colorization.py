"""Colorization (Novosel et al. 2019, section 3.1): the a/b plane of CIE Lab quantised into 6 x 6 bins over the
training set's mean +- standard deviation; the target is made from the image itself, after augmentation."""
import numpy as np

from data import color
from losses.segmentation import ClassWeightedCrossEntropy
from tasks.base import register
from tasks.labels import LabelEvaluator, LabelTask, resized

COLOR_BINS = 6


def colorization_target(image, stats, bins=COLOR_BINS):
    """int32 (H, W) colorization class of a float RGB image in [0, 255] (TensorFlow graph version)."""
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    lab = color.rgb_to_lab_with(image, tnp)
    return tf.cast(color.quantize_ab_with(lab, stats, tnp, bins), tf.int32)


class ColorizationTask(LabelTask):
    name = "colorization"
    channels = COLOR_BINS * COLOR_BINS
    fields = ()
    from_images = True
    #: data.load computes the a/b statistics of the train split for it (option colorization_stats)
    uses_colorization_stats = True

    def derive(self, inputs, targets, options):
        return colorization_target(inputs["image"], options["colorization_stats"])

    def loss(self, **options):
        return ClassWeightedCrossEntropy(**options)

    def evaluator(self, channels, context):
        return LabelEvaluator(self.name, channels, per_image=False)

    def output_at_size(self, value, image, renderer):
        """(H, W, 2) float32 (a, b): the expectation over the colour bins. The bins come from --ab-stats or, without
        it, from the image's own a/b statistics (a picture only: the bins' meaning depends on the training set)."""
        import skimage.color

        probabilities = resized(value, *image.shape[:2])
        lab = skimage.color.rgb2lab(image / 255.0)
        stats = renderer.ab_stats or (lab[..., 1].mean(), max(lab[..., 1].std(), 1.0),
                                      lab[..., 2].mean(), max(lab[..., 2].std(), 1.0))
        bins = int(round(np.sqrt(probabilities.shape[-1])))
        return (probabilities @ color.bin_centers_ab(stats, bins)).astype(np.float32)

    def picture(self, image, output, renderer):
        """The image's lightness with the predicted colours."""
        import skimage.color

        lab = skimage.color.rgb2lab(image / 255.0)
        lab[..., 1:] = output
        return np.round(skimage.color.lab2rgb(lab) * 255).astype(np.uint8)


COLORIZATION = register(ColorizationTask())
