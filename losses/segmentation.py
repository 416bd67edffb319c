"""Pixel-wise cross-entropy losses with an ignore label.

Implements the segmentation/motion loss of MultiNet++ (Chennupati et al. 2019, eq. 4), AuxNet and Novosel et al.
2019 (eq. 4), and Novosel et al.'s class-weighted colorization loss (eq. 1):

    L_color = -1/N * sum_i w_{C_i} * log(p_i[C_i])

Choices where the papers are silent or ambiguous:
- N counts the *valid* pixels of the whole batch (label != ``ignore_index``); the loss is averaged over pixels of
  the batch, not per image then over images. A batch without a valid pixel gives 0, not NaN.
- Labels outside ``[0, num_classes)`` are ignored like ``ignore_index`` (a data-dependent check cannot raise
  inside a compiled graph; the offline metrics do raise on such labels).
- Eq. 1 divides the weighted sum by N (``normalization="pixels"``, the default). Dividing by the sum of the
  weights of the valid pixels (``normalization="weights"``, PyTorch's ``CrossEntropyLoss(weight=...)``) keeps the
  loss scale independent of the weights' scale; both are offered.
- ``y_pred`` holds softmax probabilities (the models end in a softmax). With the default epsilon (Keras'
  ``config.epsilon()``, 1e-7) the loss is ``keras.ops.sparse_categorical_crossentropy``, which under TensorFlow
  finds the logits behind the softmax and computes the fused log-softmax cross-entropy (cheaper, and steady for
  confident wrong pixels); under other backends, or with another epsilon, the probabilities are clipped to
  ``[epsilon, 1 - epsilon]`` before the log.

The median-frequency class weights (Eigen & Fergus, used by Novosel et al.) are computed by
``data.statistics.median_frequency_weights``; pass the result as ``class_weights``.

``MaskedPixelLoss`` is the shared base of all per-pixel losses in this package: subclasses return per-pixel
losses plus numerator and denominator weights, and the base reduces them to the weighted mean over valid pixels.
"""
import keras
from keras import ops

IGNORE_INDEX = 255
_NORMALIZATIONS = ("pixels", "weights")


class MaskedPixelLoss(keras.losses.Loss):
    """Base class: mean of a per-pixel loss over the valid pixels of the whole batch.

    Subclasses implement ``pixel_losses(y_true, y_pred) -> (losses, loss_weights, count_weights)``, three
    (B, H, W) tensors: the loss of each pixel, its weight in the sum, and its weight in the divisor (0 for
    invalid pixels). The result is ``sum(losses * loss_weights) / sum(count_weights)``, 0 when the divisor is 0.

    ``sample_weight`` (shape (B,), (B, H, W) or (B, H, W, 1)) multiplies both weights, so it re-weights examples
    or pixels without changing the "mean over valid pixels" meaning.
    ``reduction=None`` or ``"none"`` returns the (B, H, W) map ``losses * loss_weights`` instead (for
    visualisation); every other reduction returns the scalar mean described above.
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = ops.convert_to_tensor(y_true)
            losses, loss_weights, count_weights = self.pixel_losses(y_true, y_pred)
            if sample_weight is not None:
                sample_weight = _broadcast_to_pixels(ops.cast(sample_weight, losses.dtype), losses)
                loss_weights = loss_weights * sample_weight
                count_weights = count_weights * sample_weight
            if self.reduction in (None, "none"):
                return losses * loss_weights
            return ops.divide_no_nan(ops.sum(losses * loss_weights), ops.sum(count_weights))

    def call(self, y_true, y_pred):
        losses, loss_weights, count_weights = self.pixel_losses(y_true, y_pred)
        return ops.divide_no_nan(ops.sum(losses * loss_weights), ops.sum(count_weights))

    def pixel_losses(self, y_true, y_pred):
        raise NotImplementedError


def _broadcast_to_pixels(weight, pixel_map):
    """Broadcasts a (B,), (B, H, W) or (B, H, W, 1) weight to the (B, H, W) ``pixel_map``."""
    if len(weight.shape) == len(pixel_map.shape) + 1:
        weight = ops.squeeze(weight, axis=-1)
    while len(weight.shape) < len(pixel_map.shape):
        weight = ops.expand_dims(weight, axis=-1)
    return ops.broadcast_to(weight, ops.shape(pixel_map))


def labels_as_pixel_map(y_true, y_pred):
    """Returns int32 labels of shape (B, H, W) from (B, H, W) or (B, H, W, 1) labels and (B, H, W, C) y_pred."""
    if len(y_true.shape) == len(y_pred.shape):
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.cast(y_true, "int32")


@keras.saving.register_keras_serializable(package="mtl")
class MaskedCrossEntropy(MaskedPixelLoss):
    """Pixel-wise categorical cross-entropy on softmax probabilities, pixels labelled ``ignore_index`` skipped.

    Args:
        ignore_index: label value excluded from the loss and from the pixel count (255 in every dataset here).
        class_weights: optional per-class weights (length C); ``None`` weighs every class 1.
        normalization: ``"pixels"`` divides by the number of valid pixels (Novosel et al. eq. 1),
            ``"weights"`` by the sum of the class weights of the valid pixels.
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]`` before the log.

    y_true: int (B, H, W) or (B, H, W, 1); y_pred: float (B, H, W, C) probabilities.
    """

    def __init__(
        self,
        ignore_index=IGNORE_INDEX,
        class_weights=None,
        normalization="pixels",
        epsilon=1e-7,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
        if not 0.0 < float(epsilon) < 0.5:
            raise ValueError(f"epsilon must be in (0, 0.5), got {epsilon!r}")
        if class_weights is not None:
            class_weights = [float(w) for w in ops.convert_to_numpy(class_weights).reshape(-1)]
            if not class_weights or min(class_weights) < 0:
                raise ValueError(f"class_weights must be a non-empty list of weights >= 0, got {class_weights!r}")
        self.ignore_index = int(ignore_index)
        self.class_weights = class_weights
        self.normalization = normalization
        self.epsilon = float(epsilon)

    def pixel_losses(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        if self.class_weights is not None and num_classes is not None and len(self.class_weights) != num_classes:
            raise ValueError(
                f"class_weights has {len(self.class_weights)} entries but y_pred has {num_classes} classes"
            )
        labels = labels_as_pixel_map(y_true, y_pred)
        valid = ops.logical_and(
            ops.not_equal(labels, self.ignore_index),
            ops.logical_and(ops.greater_equal(labels, 0), ops.less(labels, num_classes)),
        )
        safe_labels = ops.where(valid, labels, ops.zeros_like(labels))
        if self.epsilon == keras.config.epsilon():
            # Keras' sparse cross-entropy takes the logits behind a softmax output where the backend can see them
            # (TensorFlow: the Softmax op's input) and applies the fused log-softmax cross-entropy, which is cheaper
            # and has no clipping; elsewhere it clips the probabilities by this same epsilon and takes the log.
            losses = ops.sparse_categorical_crossentropy(safe_labels, y_pred)
        else:
            log_probs = ops.log(ops.clip(y_pred, self.epsilon, 1.0 - self.epsilon))
            losses = -ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(safe_labels, -1), axis=-1), -1)
        valid = ops.cast(valid, y_pred.dtype)
        if self.class_weights is None:
            return losses, valid, valid
        pixel_weights = ops.take(ops.convert_to_tensor(self.class_weights, dtype=y_pred.dtype), safe_labels)
        loss_weights = pixel_weights * valid
        count_weights = valid if self.normalization == "pixels" else loss_weights
        return losses, loss_weights, count_weights

    def get_config(self):
        config = super().get_config()
        config.update(
            ignore_index=self.ignore_index,
            class_weights=self.class_weights,
            normalization=self.normalization,
            epsilon=self.epsilon,
        )
        return config


@keras.saving.register_keras_serializable(package="mtl")
class ClassWeightedCrossEntropy(MaskedCrossEntropy):
    """Novosel et al. eq. 1: ``MaskedCrossEntropy`` whose natural use is with per-class weights.

    ``class_weights`` is the first argument (typically ``data.statistics.median_frequency_weights(...)``);
    ``None`` falls back to uniform weights so the loss can be built before the statistics exist.
    """

    def __init__(self, class_weights=None, ignore_index=IGNORE_INDEX, normalization="pixels", epsilon=1e-7, **kwargs):
        super().__init__(
            ignore_index=ignore_index,
            class_weights=class_weights,
            normalization=normalization,
            epsilon=epsilon,
            **kwargs,
        )
