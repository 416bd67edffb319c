"""Self-supervised stereo reconstruction (Novosel et al. 2019, eq. 2-3).

Eq. 2 reconstructs the left image from the right one and the predicted disparity d by bilinear sampling,
eq. 3 is the L2 (mean squared) difference between the left image and its reconstruction:

    I_hat^l(x, y) = I^r(x - d(x, y), y)               (bilinear along the row)
    L_depth       = 1/N * sum_i (I^l_i - I_hat^l_i)^2

Choices:
- Disparity scale: the decoder ends in a sigmoid, so d in (0, 1) is a fraction of the image width, converted to
  pixels as ``d_px = d * max_disparity * W`` with ``max_disparity = 0.3`` (monodepth, Godard et al. 2017, the
  paper's reference [21], whose decoder uses 0.3 x sigmoid). The paper gives no scale; it is an option.
- Images are scaled from [0, 255] to [0, 1]; N counts pixels *and* channels (a plain mean of the squared error).
- Border: source positions outside the right image are clamped to the nearest column (edge replication,
  as ``grid_sample(padding_mode="border")``); such pixels stay in the loss, as in monodepth.
"""
import keras
from keras import ops

from losses.segmentation import MaskedPixelLoss


def warp_right_to_left(right, disparity):
    """Reconstructs the left image: ``left(x, y) = right(x - disparity(x, y), y)``, bilinear along the row.

    Args:
        right: (B, H, W, C) float right image (any value range).
        disparity: (B, H, W, 1) or (B, H, W) disparity of the *left* view, in pixels (positive: the point
            appears further left in the right image).

    Returns:
        (B, H, W, C) reconstructed left image. Source columns are clamped to [0, W - 1] (border replication).
        The result is differentiable w.r.t. ``disparity`` through the interpolation weight (and w.r.t.
        ``right``).
    """
    right = ops.convert_to_tensor(right)
    disparity = ops.cast(ops.convert_to_tensor(disparity), right.dtype)
    if len(right.shape) != 4:
        raise ValueError(f"right must have shape (B, H, W, C), got {right.shape}")
    if len(disparity.shape) == 3:
        disparity = ops.expand_dims(disparity, axis=-1)
    if len(disparity.shape) != 4 or (disparity.shape[-1] is not None and disparity.shape[-1] != 1):
        raise ValueError(f"disparity must have shape (B, H, W, 1) or (B, H, W), got {disparity.shape}")

    shape = ops.shape(right)
    width = shape[2]
    columns = ops.cast(ops.arange(width), right.dtype)
    source = ops.reshape(columns, (1, 1, -1, 1)) - disparity
    left_column = ops.floor(source)
    fraction = source - left_column  # floor has no gradient, so d(fraction)/d(disparity) = -1
    last = ops.cast(width - 1, right.dtype)
    gather_shape = (shape[0], shape[1], shape[2], shape[3])

    def gather(column):
        index = ops.cast(ops.clip(column, 0.0, last), "int32")
        return ops.take_along_axis(right, ops.broadcast_to(index, gather_shape), axis=2)

    return (1.0 - fraction) * gather(left_column) + fraction * gather(left_column + 1.0)


@keras.saving.register_keras_serializable(package="mtl")
class StereoReconstructionLoss(MaskedPixelLoss):
    """L2 photometric loss between the left image and the right image warped by the predicted disparity.

    Args:
        max_disparity: disparity in pixels is ``y_pred * max_disparity * W`` (monodepth: 0.3).
        image_scale: the images are divided by this before the loss (255: raw [0, 255] inputs -> [0, 1]).

    y_true: (B, H, W, 6) = concat([left, right], -1), raw [0, 255]; y_pred: (B, H, W, 1) sigmoid output.
    """

    def __init__(self, max_disparity=0.3, image_scale=255.0, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not float(max_disparity) > 0:
            raise ValueError(f"max_disparity must be > 0 (a fraction of the width), got {max_disparity!r}")
        if not float(image_scale) > 0:
            raise ValueError(f"image_scale must be > 0, got {image_scale!r}")
        self.max_disparity = float(max_disparity)
        self.image_scale = float(image_scale)

    def disparity_in_pixels(self, y_pred):
        width = ops.cast(ops.shape(y_pred)[2], y_pred.dtype)
        return y_pred * self.max_disparity * width

    def pixel_losses(self, y_true, y_pred):
        if y_true.shape[-1] is not None and y_true.shape[-1] != 6:
            raise ValueError(
                f"y_true must be concat([left, right], axis=-1) with 6 channels, got shape {y_true.shape}"
            )
        y_true = ops.cast(y_true, y_pred.dtype) / self.image_scale
        left, right = y_true[..., :3], y_true[..., 3:]
        reconstructed = warp_right_to_left(right, self.disparity_in_pixels(y_pred))
        losses = ops.mean(ops.square(left - reconstructed), axis=-1)
        ones = ops.ones_like(losses)
        return losses, ones, ones

    def get_config(self):
        config = super().get_config()
        config.update(max_disparity=self.max_disparity, image_scale=self.image_scale)
        return config
