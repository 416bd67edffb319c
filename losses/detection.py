"""YOLO-style detection loss for the one-box-per-cell head of Leang et al. 2020 (after YOLOv1, Redmon et al.
2016, Eq. 3, with cross-entropies in place of YOLOv1's squared errors on confidence and class).

Per image, summed over the Hc x Wc cells (1_obj = the cell holds a box centre, see models/detection.py):

    L = lambda_obj   * sum_obj    BCE(objectness_logit, 1)
      + lambda_noobj * sum_noobj  BCE(objectness_logit, 0)
      + lambda_coord * sum_obj    [(sig(ty) - dy)^2 + (sig(tx) - dx)^2
                                   + (sqrt(sig(th)) - sqrt(h))^2 + (sqrt(sig(tw)) - sqrt(w))^2]
      + lambda_class * sum_obj    CE(softmax(class logits), class_id)

(`sqrt_sizes=False` regresses h and w directly). Normalisation: the per-image sums are averaged over the batch
(Keras' default "sum_over_batch_size" reduction on the (B,) per-image losses), so the loss does not change
with the batch size, and it is not divided by the number of objects (as YOLOv1). Defaults lambda_coord=5,
lambda_noobj=0.5 are YOLOv1's.

y_true is the padded box tensor (B, N_max, 5) [ymin, xmin, ymax, xmax, class_id] (class_id -1 = padding);
y_pred the raw head output (B, Hc, Wc, 5 + num_classes). keras.ops only.

An image whose first row has class_id UNLABELLED (-2) has no detection labels at all (e.g. a KITTI semantics image
trained beside KITTI object images, Leang et al.); its loss is 0, so its empty grid does not teach "no objects".
"""
import keras
from keras import ops

from common import box_codec

UNLABELLED = -2



def _binary_cross_entropy_with_logits(logits, labels):
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def detection_loss_terms(y_true, y_pred, num_classes, lambda_coord=5.0, lambda_noobj=0.5, lambda_obj=1.0,
                         lambda_class=1.0, sqrt_sizes=True):
    """The weighted loss terms per image, dict of (B,) tensors: `objectness`, `no_objectness`, `box`, `class`."""
    num_classes = box_codec.check_num_classes(num_classes)
    box_codec.check_box_tensor(y_true, argument="y_true")
    expected_channels = box_codec.BOX_FIELDS + num_classes
    if len(y_pred.shape) != 4 or (y_pred.shape[-1] is not None and y_pred.shape[-1] != expected_channels):
        raise ValueError(
            f"y_pred must have shape (batch, Hc, Wc, 5 + num_classes = {expected_channels}), got {y_pred.shape}")
    grid_shape = tuple(y_pred.shape[1:3])
    if None in grid_shape:
        raise ValueError(f"y_pred needs a static grid size (Hc, Wc), got shape {tuple(y_pred.shape)}")
    y_pred = ops.cast(y_pred, "float32")
    targets = box_codec.encode_targets(y_true, grid_shape, num_classes)
    has_object = targets["objectness"]
    no_object = 1.0 - has_object

    objectness_bce = _binary_cross_entropy_with_logits(y_pred[..., 0], has_object)
    predicted_geometry = ops.sigmoid(y_pred[..., 1:5])
    target_geometry = targets["box"]
    if sqrt_sizes:
        predicted_geometry = ops.concatenate(
            [predicted_geometry[..., :2], ops.sqrt(predicted_geometry[..., 2:])], axis=-1)
        target_geometry = ops.concatenate([target_geometry[..., :2], ops.sqrt(target_geometry[..., 2:])], axis=-1)
    box_error = ops.sum(ops.square(predicted_geometry - target_geometry), axis=-1)
    class_ids = ops.maximum(targets["class_id"], 0)  # empty cells are masked out below
    class_ce = ops.sparse_categorical_crossentropy(class_ids, y_pred[..., box_codec.BOX_FIELDS:], from_logits=True)

    def per_image(values):
        return ops.sum(values, axis=(1, 2))

    return {
        "objectness": lambda_obj * per_image(has_object * objectness_bce),
        "no_objectness": lambda_noobj * per_image(no_object * objectness_bce),
        "box": lambda_coord * per_image(has_object * box_error),
        "class": lambda_class * per_image(has_object * class_ce),
    }


@keras.saving.register_keras_serializable(package="mtl")
class DetectionLoss(keras.losses.Loss):
    """YOLO-style detection loss (see the module docstring); returns one value per image, averaged over the
    batch by the default reduction.

    Args:
        num_classes: number of object classes (>= 1).
        lambda_coord: weight of the box regression on cells that hold an object (YOLOv1: 5).
        lambda_noobj: weight of the objectness BCE on empty cells (YOLOv1: 0.5).
        lambda_obj: weight of the objectness BCE on cells that hold an object.
        lambda_class: weight of the class cross-entropy on cells that hold an object.
        sqrt_sizes: regress sqrt(height), sqrt(width) (YOLOv1) instead of the sizes.
    """

    def __init__(self, num_classes, lambda_coord=5.0, lambda_noobj=0.5, lambda_obj=1.0, lambda_class=1.0,
                 sqrt_sizes=True, name="detection_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_classes = box_codec.check_num_classes(num_classes)
        for argument, value in (("lambda_coord", lambda_coord), ("lambda_noobj", lambda_noobj),
                                ("lambda_obj", lambda_obj), ("lambda_class", lambda_class)):
            if not value >= 0:
                raise ValueError(f"{argument} must be a number >= 0, got {value!r}")
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)
        self.lambda_obj = float(lambda_obj)
        self.lambda_class = float(lambda_class)
        self.sqrt_sizes = bool(sqrt_sizes)

    def terms(self, y_true, y_pred):
        """The weighted terms per image (dict of (B,) tensors), e.g. for logging which term dominates."""
        return detection_loss_terms(
            y_true, y_pred, self.num_classes, lambda_coord=self.lambda_coord, lambda_noobj=self.lambda_noobj,
            lambda_obj=self.lambda_obj, lambda_class=self.lambda_class, sqrt_sizes=self.sqrt_sizes)

    def call(self, y_true, y_pred):
        terms = self.terms(y_true, y_pred)
        labelled = ops.cast(ops.not_equal(ops.cast(y_true[:, 0, 4], "float32"), float(UNLABELLED)), "float32")
        return labelled * (terms["objectness"] + terms["no_objectness"] + terms["box"] + terms["class"])

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            lambda_coord=self.lambda_coord,
            lambda_noobj=self.lambda_noobj,
            lambda_obj=self.lambda_obj,
            lambda_class=self.lambda_class,
            sqrt_sizes=self.sqrt_sizes,
        )
        return config
