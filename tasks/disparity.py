"""Self-supervised stereo disparity (Novosel et al. 2019, eq. 2-3): a sigmoid channel, trained by reconstructing
the left image from the right one; scored as depth (focal x baseline / disparity, capped at 50 m) against the
dataset's true disparity."""
import numpy as np

from losses.stereo import StereoReconstructionLoss
from tasks.base import register
from tasks.depth import DepthScores, DepthTask, depth_tiles

DISPARITY_CAP_METRES = 50.0


class DisparityEvaluation(DepthScores):
    def __init__(self, task, focal_baselines, loss):
        super().__init__(task, cap=DISPARITY_CAP_METRES)
        self.focal_baselines, self.loss = focal_baselines, loss

    def update(self, predicted, targets, first_index):
        disparity_px = np.asarray(self.loss.disparity_in_pixels(predicted))
        scale = self.focal_baselines[first_index:first_index + len(disparity_px)].reshape(-1, 1, 1, 1)
        true_disparity = targets["depth"]
        true_depth = np.where(true_disparity > 0, scale / np.maximum(true_disparity, 1e-6), 0.0)
        self.evaluator.update(true_depth, scale / np.maximum(disparity_px, 1e-6))


def _disparity_loss(model):
    # the stereo loss knows how the network's output maps to pixels (the defaults if the model is not compiled)
    loss = getattr(model, "task_losses", {}).get("disparity") if model is not None else None
    return loss or StereoReconstructionLoss()


class DisparityTask(DepthTask):
    name = "disparity"
    activation = "sigmoid"
    fields = ("right_image",)
    target = "right_image"
    truth = "depth"

    def training_target(self, inputs, targets):
        from keras import ops

        left = inputs["image"] if isinstance(inputs, dict) else inputs
        return ops.concatenate([ops.cast(left, "float32"), ops.cast(targets["right_image"], "float32")], axis=-1)

    def loss(self, **options):
        return StereoReconstructionLoss(**options)

    def streaming_metrics(self, channels, prefix, **options):
        return []  # scored against true depth with the camera calibration, after training

    def evaluator(self, channels, context):
        return DisparityEvaluation(self.name, context.focal_baselines(), _disparity_loss(context.model))

    def panel(self, prediction, truth, image, painter):
        value = np.asarray(_disparity_loss(painter.model).disparity_in_pixels(prediction[None]))[0, ..., 0]
        return depth_tiles(value, truth, painter.renderers()["depth"])

    def unit(self, renderer):
        return "disparity_px"


DISPARITY = register(DisparityTask())
