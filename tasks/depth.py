"""Depth: one linear channel regressed on the dataset's depth target (disparity in pixels for KITTI / Cityscapes,
metres for SYNTHIA, or the papers' 16-bit PNG values; data/depth_units.py), 0 = invalid; MultiNet++'s Huber
(delta 250) or AuxNet's mean absolute error."""
import numpy as np

from common import overlays
from data import depth_units
from losses.depth import MaskedHuber, MaskedMeanAbsoluteError
from tasks.base import Task, register
from tasks.labels import resized

DEPTH_KINDS = {"huber": MaskedHuber, "mae": MaskedMeanAbsoluteError}
DEPTH_SCORES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1")


def depth_tiles(value, truth, colorize_depth):
    """Prediction and ground truth through one colour range: the valid ground truth's 2nd-98th percentile."""
    vmin = vmax = None
    if truth is not None:
        truth = np.asarray(truth, np.float64)
        truth = truth[..., 0] if truth.ndim == 3 else truth
        valid = truth[np.isfinite(truth) & (truth > 0)]
        if valid.size:
            vmin, vmax = (float(v) for v in np.percentile(valid, [2, 98]))
    prediction = colorize_depth(value, vmin=vmin, vmax=vmax)
    return prediction, None if truth is None else colorize_depth(truth, vmin=vmin, vmax=vmax)


class DepthScores:
    """metrics.DepthEvaluator over a split, keyed `{task}/<score>`."""

    def __init__(self, task, cap=None):
        from metrics import DepthEvaluator

        self.task = task
        self.evaluator = DepthEvaluator(cap=cap)

    def scores(self):
        result = self.evaluator.result()
        return {f"{self.task}/{score}": float(result[score]) for score in DEPTH_SCORES}


class DepthEvaluation(DepthScores):
    """Scored in the metric's unit of the dataset's depth, whatever unit the network trained on."""

    def __init__(self, task, unit):
        super().__init__(task)
        self.unit = unit

    def update(self, predicted, targets, first_index):
        true, _ = depth_units.to_scored(targets[self.task], self.unit)
        scored, _ = depth_units.to_scored(predicted, self.unit)
        self.evaluator.update(true, scored)

    def scores(self):
        return {**super().scores(), f"{self.task}/unit": depth_units.to_scored(0.0, self.unit)[1]}


class DepthTask(Task):
    name = "depth"
    channels = 1

    def loss(self, kind="huber", **options):
        """kind="huber" (MultiNet++, default) or "mae" (AuxNet)."""
        if kind not in DEPTH_KINDS:
            raise ValueError(f"kind for task 'depth' must be one of {sorted(DEPTH_KINDS)}, got {kind!r}")
        return DEPTH_KINDS[kind](**options)

    def streaming_metrics(self, channels, prefix, depth_cap=None, **options):
        from metrics import DepthAbsRel, DepthDelta1, DepthRMSE

        return [DepthAbsRel(cap=depth_cap, name=f"{prefix}abs_rel"), DepthRMSE(cap=depth_cap, name=f"{prefix}rmse"),
                DepthDelta1(cap=depth_cap, name=f"{prefix}delta1")]

    def evaluator(self, channels, context):
        return DepthEvaluation(self.name, context.depth_unit)

    def panel(self, prediction, truth, image, painter):
        return depth_tiles(prediction[..., 0], truth, painter.renderers()["depth"])

    def unit(self, renderer):
        return renderer.depth_unit

    def output_at_size(self, value, image, renderer):
        """Values at the image's size; a disparity scales with the width it is measured at."""
        height, width = image.shape[:2]
        scale = width / renderer.input_size[1] if depth_units.UNITS[self.unit(renderer)].scales_with_width else 1.0
        return resized(value, height, width)[..., 0] * scale

    def picture(self, image, output, renderer):
        return overlays.depth_with_colorbar(output, label=depth_units.label(self.unit(renderer)))


DEPTH = register(DepthTask())
