"""Streaming Keras metrics for ``fit``/``evaluate``: the whole-set scores of metrics.segmentation and
metrics.depth, accumulated batch by batch in metric variables (keras.ops only, any backend).

Same definitions as the offline scores (see those modules), except: a result with nothing to average is 0
(Keras logs avoid NaN) where the offline score is NaN, and labels outside [0, num_classes) are skipped as
ignored (no data-dependent error can be raised inside a compiled step). Counts live in float32 variables, as in
``keras.metrics.MeanIoU``: exact up to 2^24 per cell, relative rounding ~1e-7 beyond.
"""
import keras
from keras import ops

IGNORE_INDEX = 255


def _pixel_weights(sample_weight, reference):
    """(B, H, W) weights from None, (B,), (B, H, W) or (B, H, W, 1) ``sample_weight``."""
    if sample_weight is None:
        return ops.ones_like(reference)
    weight = ops.cast(sample_weight, reference.dtype)
    if len(weight.shape) == len(reference.shape) + 1:
        weight = ops.squeeze(weight, axis=-1)
    while len(weight.shape) < len(reference.shape):
        weight = ops.expand_dims(weight, axis=-1)
    return ops.broadcast_to(weight, ops.shape(reference))


@keras.saving.register_keras_serializable(package="mtl")
class SegmentationMeanIoU(keras.metrics.Metric):
    """Mean IoU over classes with a non-zero union, from a confusion matrix accumulated over all batches.

    y_true: int (B, H, W) or (B, H, W, 1), ``ignore_index`` skipped; y_pred: float (B, H, W, C) probabilities
    or scores (arg-maxed; any floating y_pred is read as scores) or int class ids (B, H, W) / (B, H, W, 1).
    """

    def __init__(self, num_classes, ignore_index=IGNORE_INDEX, name="mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes), initializer="zeros", dtype="float32", name="confusion"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if "float" in keras.backend.standardize_dtype(y_pred.dtype):
            predicted = ops.argmax(y_pred, axis=-1)
        else:
            predicted = y_pred
        if len(y_true.shape) == len(predicted.shape) + 1:
            y_true = ops.squeeze(y_true, axis=-1)
        elif len(predicted.shape) == len(y_true.shape) + 1:
            predicted = ops.squeeze(predicted, axis=-1)
        labels = ops.cast(y_true, "int32")
        predicted = ops.cast(predicted, "int32")
        valid = ops.logical_and(
            ops.not_equal(labels, self.ignore_index),
            ops.logical_and(ops.greater_equal(labels, 0), ops.less(labels, self.num_classes)),
        )
        weights = ops.cast(valid, "float32") * _pixel_weights(sample_weight, ops.cast(labels, "float32"))
        labels = ops.where(valid, labels, ops.zeros_like(labels))
        true_one_hot = ops.reshape(ops.one_hot(labels, self.num_classes, dtype="float32"), (-1, self.num_classes))
        pred_one_hot = ops.reshape(
            ops.one_hot(predicted, self.num_classes, dtype="float32"), (-1, self.num_classes)
        )
        weighted_true = true_one_hot * ops.reshape(weights, (-1, 1))
        self.confusion.assign_add(ops.matmul(ops.transpose(weighted_true), pred_one_hot))

    def per_class_iou(self):
        """IoU of each class (0 for classes with an empty union)."""
        true_positives = ops.diagonal(self.confusion)
        union = ops.sum(self.confusion, axis=0) + ops.sum(self.confusion, axis=1) - true_positives
        return ops.divide_no_nan(true_positives, union)

    def result(self):
        true_positives = ops.diagonal(self.confusion)
        union = ops.sum(self.confusion, axis=0) + ops.sum(self.confusion, axis=1) - true_positives
        present = ops.cast(ops.greater(union, 0), "float32")
        return ops.cast(ops.divide_no_nan(ops.sum(self.per_class_iou()), ops.sum(present)), self.dtype)

    def reset_state(self):
        self.confusion.assign(ops.zeros((self.num_classes, self.num_classes), dtype="float32"))

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, ignore_index=self.ignore_index)
        return config


class _DepthScore(keras.metrics.Metric):
    """Sum of a per-pixel term and the valid-pixel count; result = reduce(sum / count). gt <= 0 is invalid,
    gt > cap skipped when ``cap`` is set, predictions clipped to [min_depth, cap] (as metrics.depth)."""

    def __init__(self, cap=None, min_depth=1e-3, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not float(min_depth) > 0:
            raise ValueError(f"min_depth must be > 0, got {min_depth!r}")
        if cap is not None and not float(cap) > float(min_depth):
            raise ValueError(f"cap must be None or > min_depth={min_depth}, got {cap!r}")
        self.cap = None if cap is None else float(cap)
        self.min_depth = float(min_depth)
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def pixel_term(self, gt, pred):
        raise NotImplementedError

    def finish(self, mean):
        return mean

    def update_state(self, y_true, y_pred, sample_weight=None):
        pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        gt = ops.cast(ops.convert_to_tensor(y_true), "float32")
        if len(gt.shape) == len(pred.shape) - 1:
            gt = ops.expand_dims(gt, axis=-1)
        elif len(pred.shape) == len(gt.shape) - 1:
            pred = ops.expand_dims(pred, axis=-1)
        valid = ops.greater(gt, 0.0)
        upper = float("inf") if self.cap is None else self.cap
        if self.cap is not None:
            valid = ops.logical_and(valid, ops.less_equal(gt, self.cap))
        pred = ops.clip(pred, self.min_depth, upper)
        # Invalid pixels get gt = pred = 1 so no NaN/inf enters the sums before masking.
        safe_gt = ops.where(valid, gt, ops.ones_like(gt))
        safe_pred = ops.where(valid, pred, ops.ones_like(pred))
        weights = ops.cast(valid, "float32")
        if sample_weight is not None:
            weights = weights * _pixel_weights(sample_weight, ops.squeeze(gt, axis=-1))[..., None]
        self.total.assign_add(ops.sum(self.pixel_term(safe_gt, safe_pred) * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.cast(self.finish(ops.divide_no_nan(self.total, self.count)), self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(cap=self.cap, min_depth=self.min_depth)
        return config


@keras.saving.register_keras_serializable(package="mtl")
class DepthAbsRel(_DepthScore):
    """mean(|g - p| / g) over valid pixels."""

    def __init__(self, cap=None, min_depth=1e-3, name="abs_rel", dtype=None):
        super().__init__(cap=cap, min_depth=min_depth, name=name, dtype=dtype)

    def pixel_term(self, gt, pred):
        return ops.abs(gt - pred) / gt


@keras.saving.register_keras_serializable(package="mtl")
class DepthSqRel(_DepthScore):
    """mean((g - p)^2 / g) over valid pixels."""

    def __init__(self, cap=None, min_depth=1e-3, name="sq_rel", dtype=None):
        super().__init__(cap=cap, min_depth=min_depth, name=name, dtype=dtype)

    def pixel_term(self, gt, pred):
        return ops.square(gt - pred) / gt


@keras.saving.register_keras_serializable(package="mtl")
class DepthRMSE(_DepthScore):
    """sqrt(mean((g - p)^2)) over valid pixels."""

    def __init__(self, cap=None, min_depth=1e-3, name="rmse", dtype=None):
        super().__init__(cap=cap, min_depth=min_depth, name=name, dtype=dtype)

    def pixel_term(self, gt, pred):
        return ops.square(gt - pred)

    def finish(self, mean):
        return ops.sqrt(mean)


@keras.saving.register_keras_serializable(package="mtl")
class DepthRMSELog(_DepthScore):
    """sqrt(mean((log g - log p)^2)) over valid pixels."""

    def __init__(self, cap=None, min_depth=1e-3, name="rmse_log", dtype=None):
        super().__init__(cap=cap, min_depth=min_depth, name=name, dtype=dtype)

    def pixel_term(self, gt, pred):
        return ops.square(ops.log(gt) - ops.log(pred))

    def finish(self, mean):
        return ops.sqrt(mean)


@keras.saving.register_keras_serializable(package="mtl")
class DepthDelta1(_DepthScore):
    """Share of valid pixels with max(p / g, g / p) < 1.25."""

    def __init__(self, cap=None, min_depth=1e-3, name="delta1", dtype=None):
        super().__init__(cap=cap, min_depth=min_depth, name=name, dtype=dtype)

    def pixel_term(self, gt, pred):
        ratio = ops.maximum(pred / gt, gt / pred)
        return ops.cast(ops.less(ratio, 1.25), "float32")
