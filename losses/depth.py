"""Supervised depth losses that skip invalid pixels (target <= 0).

- ``MaskedHuber``: MultiNet++ (Chennupati et al. 2019) eq. 5 with delta = 250. The paper's equation is the
  standard Huber loss (quadratic for small residuals, linear for large ones), not the reverse Huber (berHu):

      L = 1/2 (y - y_hat)^2                 if |y - y_hat| <= delta
      L = delta (|y - y_hat| - delta / 2)   otherwise

- ``MaskedMeanAbsoluteError``: AuxNet (Chennupati et al. 2019, Sec. 3.2/4) "mean absolute error between estimated
  depth and true depth".

Both average over the valid pixels of the whole batch (target > 0; KITTI/Cityscapes disparity and SYNTHIA depth
use 0 for "no measurement") and give 0 when no pixel is valid.
y_true: float (B, H, W, 1) or (B, H, W); y_pred: float (B, H, W, 1).
"""
import keras
from keras import ops

from losses.segmentation import MaskedPixelLoss


def _residuals_and_validity(y_true, y_pred):
    y_true = ops.cast(y_true, y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = ops.expand_dims(y_true, axis=-1)
    valid = ops.cast(ops.greater(y_true, 0.0), y_pred.dtype)
    # Invalid targets are replaced by the prediction so no large residual (or NaN) enters the graph there.
    residuals = ops.where(ops.greater(y_true, 0.0), y_true - y_pred, ops.zeros_like(y_pred))
    return ops.squeeze(residuals, axis=-1), ops.squeeze(valid, axis=-1)


@keras.saving.register_keras_serializable(package="mtl")
class MaskedHuber(MaskedPixelLoss):
    """Standard Huber loss (MultiNet++ eq. 5), mean over pixels with target > 0.

    Args:
        delta: residual magnitude where the loss turns from quadratic to linear (MultiNet++: 250).
    """

    def __init__(self, delta=250.0, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not float(delta) > 0:
            raise ValueError(f"delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def pixel_losses(self, y_true, y_pred):
        residuals, valid = _residuals_and_validity(y_true, y_pred)
        absolute = ops.abs(residuals)
        quadratic = 0.5 * ops.square(residuals)
        linear = self.delta * (absolute - 0.5 * self.delta)
        return ops.where(absolute <= self.delta, quadratic, linear), valid, valid

    def get_config(self):
        config = super().get_config()
        config.update(delta=self.delta)
        return config


@keras.saving.register_keras_serializable(package="mtl")
class MaskedMeanAbsoluteError(MaskedPixelLoss):
    """Mean absolute error (AuxNet), mean over pixels with target > 0."""

    def pixel_losses(self, y_true, y_pred):
        residuals, valid = _residuals_and_validity(y_true, y_pred)
        return ops.abs(residuals), valid, valid
