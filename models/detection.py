"""YOLO-style single-box-per-cell detection head, box coding and decoding (Leang et al. 2020, Fig. 2).

Leang et al. 2020 ("Dynamic task weighting methods for multi-task networks in autonomous driving systems")
put a "YOLO style bounding box decoder" (Redmon et al. 2016, YOLOv1) on the stride-32 features of a ResNet-10
encoder without giving its layout; the choices below are ours and are the single place where they are defined.

Head layout (`YoloHead`)
    conv 3x3 (hidden_filters, no bias) -> BatchNorm -> LeakyReLU(0.1) -> conv 1x1 (5 + num_classes, bias).
    Output, raw and unactivated, (B, Hc, Wc, 5 + C) with Hc = H/32, Wc = W/32, channels
    [objectness logit, ty, tx, th, tw, class logits...]: one box per grid cell, as YOLOv1 with B=1.
    The objectness bias starts at logit(objectness_prior) so the first steps are not swamped by the many
    empty cells (the RetinaNet prior trick; `objectness_prior=None` keeps a zero bias).

Box parametrisation (fractions of the image height/width)
    cell (i, j) of the Hc x Wc grid predicts
        center_y = (i + sigmoid(ty)) / Hc        center_x = (j + sigmoid(tx)) / Wc
        height   = sigmoid(th)                   width    = sigmoid(tw)
    Sigmoids keep the centre inside its cell and the size inside the image. The loss (losses/detection.py)
    regresses sqrt(height), sqrt(width) as YOLOv1 does; the decoded box is the plain one above.

Target assignment (`encode_targets`)
    The responsible cell holds the box centre (row = floor(center_y * Hc), clipped to the grid). When two
    boxes share a cell the one with the larger area wins; equal areas go to the earlier row of the padded
    tensor, so the assignment is deterministic. Rows with class_id outside [0, num_classes) are padding.
    Box corners are clipped to [0, 1] first.

Decoding (`decode_detections`)
    score = sigmoid(objectness) * softmax(class logits)[best class]; each cell proposes its best class only
    (one object per cell). Candidates above `score_threshold` go through greedy per-class NMS in numpy; this
    runs offline, after the model. The box maths is written once, in `decode_boxes` (keras.ops, graph-friendly,
    dense, pre-NMS), which `decode_detections` calls. The codec lives in common/box_codec.py (a leaf module the loss,
    the mAP and the detection task share); this module re-exports it beside the head.
"""
import math

import keras
import numpy as np

from common.box_codec import (  # noqa: F401  (the codec's public names, re-exported where they always were)
    BOX_FIELDS,
    box_iou,
    check_box_tensor,
    check_grid_shape,
    check_num_classes,
    decode_boxes,
    decode_detections,
    encode_raw_predictions,
    encode_targets,
    non_max_suppression,
)
from models.batch_norm import BatchNormalization


@keras.saving.register_keras_serializable(package="mtl")
class YoloHead(keras.layers.Layer):
    """YOLO-style detection head: conv3x3-BN-LeakyReLU, then a 1x1 conv to 5 + num_classes raw channels.

    Args:
        num_classes: number of object classes (>= 1).
        hidden_filters: channels of the 3x3 conv (256 by default: about 1.2M parameters on a 512-channel map).
        leaky_slope: negative slope of the LeakyReLU (0.1 as YOLO).
        objectness_prior: initial sigmoid(objectness) of every cell, or None for a zero bias.
        kernel_regularizer: optional regularizer of both convolutions.
    """

    def __init__(self, num_classes, hidden_filters=256, leaky_slope=0.1, objectness_prior=0.01,
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_num_classes(num_classes)
        if isinstance(hidden_filters, bool) or not isinstance(hidden_filters, (int, np.integer)) \
                or hidden_filters < 1:
            raise ValueError(f"hidden_filters must be an integer >= 1, got {hidden_filters!r}")
        if objectness_prior is not None and not 0.0 < objectness_prior < 1.0:
            raise ValueError(f"objectness_prior must be in (0, 1) or None, got {objectness_prior!r}")
        self.hidden_filters = int(hidden_filters)
        self.leaky_slope = float(leaky_slope)
        self.objectness_prior = None if objectness_prior is None else float(objectness_prior)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.hidden_conv = keras.layers.Conv2D(
            self.hidden_filters, 3, padding="same", use_bias=False,
            kernel_regularizer=self.kernel_regularizer, dtype=self.dtype_policy, name="hidden_conv")
        self.hidden_norm = BatchNormalization(dtype=self.dtype_policy, name="hidden_norm")
        self.hidden_activation = keras.layers.LeakyReLU(
            negative_slope=self.leaky_slope, dtype=self.dtype_policy, name="hidden_activation")
        self.output_conv = keras.layers.Conv2D(
            BOX_FIELDS + self.num_classes, 1, kernel_regularizer=self.kernel_regularizer,
            bias_initializer=self._output_bias_initializer(), dtype="float32", name="output_conv")  # 5 + C outputs

    def _output_bias_initializer(self):
        if self.objectness_prior is None:
            return "zeros"
        bias = np.zeros(BOX_FIELDS + self.num_classes, dtype="float32")
        bias[0] = math.log(self.objectness_prior / (1.0 - self.objectness_prior))
        return keras.initializers.Constant(bias)

    def build(self, input_shape):
        self.hidden_conv.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_filters,)
        self.hidden_norm.build(hidden_shape)
        self.output_conv.build(hidden_shape)

    def call(self, features, training=None):
        hidden = self.hidden_conv(features)
        hidden = self.hidden_norm(hidden, training=training)
        return self.output_conv(self.hidden_activation(hidden))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (BOX_FIELDS + self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            hidden_filters=self.hidden_filters,
            leaky_slope=self.leaky_slope,
            objectness_prior=self.objectness_prior,
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
        )
        return config


def build_yolo_head(feature, num_classes, name="detection", **head_options):
    """Apply a `YoloHead` named `name` to the stride-32 `feature` map; returns the raw output tensor."""
    return YoloHead(num_classes, name=name, **head_options)(feature)


