"""Offline (whole-set) depth / disparity scores: AbsRel, SqRel, RMSE, RMSE_log, delta1.

The standard metrics of Eigen et al. as used by monodepth (Godard et al. 2017), which Novosel et al. 2019
(Table 1) report for disparity "capped at 50", and which MultiNet++ / AuxNet depth outputs are scored with:

    abs_rel  = mean(|g - p| / g)            sq_rel   = mean((g - p)^2 / g)
    rmse     = sqrt(mean((g - p)^2))        rmse_log = sqrt(mean((log g - log p)^2))
    delta1   = share of pixels with max(p / g, g / p) < 1.25

Choices:
- Valid pixels: g > 0 (0 = no measurement). Predictions are clipped to >= ``min_depth`` (1e-3) so ratios and logs
  stay finite.
- ``cap`` ("capped at 50"): as monodepth's ``max_depth``, only pixels with g <= cap are evaluated and predictions
  are clipped to [min_depth, cap]. ``cap=None`` evaluates every valid pixel.
- Averaging: by default the means run over all valid pixels of the set (``per_image=False``, consistent with the
  segmentation scores and the streaming Keras metrics). monodepth averages per image instead; ``per_image=True``
  computes each score per image (leading axis) and averages over images with at least one valid pixel.
"""
import numpy as np

SCORE_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1")
DELTA_THRESHOLD = 1.25


def _valid_pairs(gt, pred, cap, min_depth):
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.shape != pred.shape:
        if gt.shape + (1,) == pred.shape:
            pred = pred[..., 0]
        elif pred.shape + (1,) == gt.shape:
            gt = gt[..., 0]
        else:
            raise ValueError(f"gt and pred must have the same shape, got gt {gt.shape} and pred {pred.shape}")
    valid = np.isfinite(gt) & (gt > 0)
    upper = np.inf
    if cap is not None:
        valid &= gt <= cap
        upper = cap
    return gt, np.clip(pred, min_depth, upper), valid


def _sums(gt, pred):
    """Per-score sums over the given valid pixels (rmse, rmse_log: sums of squares)."""
    error = gt - pred
    log_error = np.log(gt) - np.log(pred)
    ratio = np.maximum(pred / gt, gt / pred)
    return {
        "abs_rel": np.sum(np.abs(error) / gt),
        "sq_rel": np.sum(error**2 / gt),
        "rmse": np.sum(error**2),
        "rmse_log": np.sum(log_error**2),
        "delta1": np.sum(ratio < DELTA_THRESHOLD),
    }


def _scores_from_sums(sums, count):
    if count == 0:
        return {name: float("nan") for name in SCORE_NAMES}
    means = {name: float(sums[name]) / count for name in SCORE_NAMES}
    means["rmse"] = float(np.sqrt(means["rmse"]))
    means["rmse_log"] = float(np.sqrt(means["rmse_log"]))
    return means


class DepthEvaluator:
    """Accumulates depth scores over a dataset batch by batch (see the module docstring for the options).

    ``update(gt, pred)`` takes (B, H, W) or (B, H, W, 1) arrays; ``result()`` returns the five scores plus
    ``num_valid`` (pixels evaluated) and, with ``per_image=True``, ``num_images``. Scores are NaN when nothing
    was valid.
    """

    def __init__(self, cap=None, min_depth=1e-3, per_image=False):
        if cap is not None and not float(cap) > float(min_depth):
            raise ValueError(f"cap must be None or > min_depth={min_depth}, got {cap!r}")
        if not float(min_depth) > 0:
            raise ValueError(f"min_depth must be > 0, got {min_depth!r}")
        self.cap = None if cap is None else float(cap)
        self.min_depth = float(min_depth)
        self.per_image = bool(per_image)
        self.reset()

    def reset(self):
        self.sums = {name: 0.0 for name in SCORE_NAMES}
        self.num_valid = 0
        self.num_images = 0

    def update(self, gt, pred):
        gt, pred, valid = _valid_pairs(gt, pred, self.cap, self.min_depth)
        if not self.per_image:
            for name, value in _sums(gt[valid], pred[valid]).items():
                self.sums[name] += float(value)
            self.num_valid += int(valid.sum())
            return self
        if gt.ndim < 3:
            raise ValueError(f"per_image=True needs a leading batch axis, (B, H, W[, 1]); got shape {gt.shape}")
        for image_gt, image_pred, image_valid in zip(gt, pred, valid):
            count = int(image_valid.sum())
            if count == 0:
                continue
            image_scores = _scores_from_sums(_sums(image_gt[image_valid], image_pred[image_valid]), count)
            for name in SCORE_NAMES:
                self.sums[name] += image_scores[name]
            self.num_valid += count
            self.num_images += 1
        return self

    def result(self):
        if not self.per_image:
            scores = _scores_from_sums(self.sums, self.num_valid)
            scores["num_valid"] = self.num_valid
            return scores
        if self.num_images == 0:
            scores = {name: float("nan") for name in SCORE_NAMES}
        else:
            scores = {name: self.sums[name] / self.num_images for name in SCORE_NAMES}
        scores.update(num_valid=self.num_valid, num_images=self.num_images)
        return scores


def depth_scores(gt, pred, cap=None, min_depth=1e-3, per_image=False):
    """AbsRel, SqRel, RMSE, RMSE_log, delta1 of ``pred`` against ``gt`` (gt <= 0 invalid); see module docstring.

    Returns a dict with the five scores (floats, NaN when no pixel is valid) and ``num_valid``.
    """
    return DepthEvaluator(cap=cap, min_depth=min_depth, per_image=per_image).update(gt, pred).result()
