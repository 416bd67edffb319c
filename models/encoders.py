"""Shared encoders with named pyramid outputs (keras-hub style).

`build_encoder` returns a functional `keras.Model` named "encoder" that maps raw RGB in [0, 255] to a dict of
pyramid levels: P1..P5 at strides 2, 4, 8, 16, 32. Builders read these names, never layer indices; the underlying
layers keep Keras' ResNet names (P3/P4/P5 of ResNet-50 are `conv3_block4_out`, `conv4_block6_out`,
`conv5_block3_out`).

ResNet-18 and ResNet-10 are written here with basic blocks ([2, 2, 2, 2] and [1, 1, 1, 1]), a 7x7/2 stem and a
max-pool, bias-free convolutions and a 1x1 projection shortcut where the shape changes, as torchvision's ResNet.
"""
import os
from pathlib import Path

import keras
from keras import layers

from models.batch_norm import BatchNormalization, fuse_batch_norm
from models.layers import ImageNormalization

BACKBONES = ("resnet50", "resnet18", "resnet10")

PYRAMID_LAYERS = {
    "resnet50": {"P1": "conv1_relu", "P2": "conv2_block3_out", "P3": "conv3_block4_out",
                 "P4": "conv4_block6_out", "P5": "conv5_block3_out"},
    "resnet18": {"P1": "conv1_relu", "P2": "conv2_block2_out", "P3": "conv3_block2_out",
                 "P4": "conv4_block2_out", "P5": "conv5_block2_out"},
    "resnet10": {"P1": "conv1_relu", "P2": "conv2_block1_out", "P3": "conv3_block1_out",
                 "P4": "conv4_block1_out", "P5": "conv5_block1_out"},
}
BASIC_BLOCKS_PER_STAGE = {"resnet18": (2, 2, 2, 2), "resnet10": (1, 1, 1, 1)}
DEFAULT_NORMALIZATION = {"resnet50": "caffe", "resnet18": "torch", "resnet10": "torch"}

# keras.applications' file name for the ImageNet ResNet-50 without top, as it lies in the Keras cache.
RESNET50_IMAGENET_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
RESNET50_IMAGENET_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                         + RESNET50_IMAGENET_FILE)
_BN_EPSILON = 1.001e-5


def validate_input_shape(input_shape, argument="input_shape"):
    """Checks (H, W, 3) with H and W multiples of 32, the encoders' total stride."""
    if len(input_shape) != 3:
        raise ValueError(f"{argument} must be (height, width, channels), got {input_shape!r}.")
    height, width, channels = input_shape
    if channels != 3:
        raise ValueError(f"{argument} must have 3 channels (RGB, or depth replicated to 3), got {channels}.")
    for size_name, size in (("height", height), ("width", width)):
        if size is None or size < 32 or size % 32:
            raise ValueError(
                f"{argument} {size_name}={size} must be a positive multiple of 32 (the encoder's stride-32 "
                f"pyramid level), e.g. (224, 384, 3).")
    return tuple(input_shape)


def validate_backbone(backbone):
    if backbone not in BACKBONES:
        raise ValueError(f"backbone={backbone!r} is not one of {BACKBONES}.")
    return backbone


def keras_cache_dir():
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def resolve_weights(backbone, weights):
    """Returns None or a local weights file path; never downloads."""
    if weights is None:
        return None
    if weights == "imagenet":
        if backbone != "resnet50":
            raise ValueError(
                f"weights='imagenet' is available for backbone='resnet50' only (keras.applications); for "
                f"{backbone!r} pass weights='/path/to/{backbone}.weights.h5' (weights of this encoder saved with "
                f"encoder.save_weights).")
        cached = keras_cache_dir() / RESNET50_IMAGENET_FILE
        if not cached.is_file():
            raise FileNotFoundError(
                f"weights='imagenet': the ImageNet ResNet-50 file {RESNET50_IMAGENET_FILE} is not in the Keras "
                f"cache ({cached}) and this library never downloads. Fetch it on a machine with network access "
                f"from {RESNET50_IMAGENET_URL} and copy it to {cached}, or pass weights='/path/to/that/file'.")
        return str(cached)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights={weights!r}: no such file. Pass None, 'imagenet' or a weights file path.")
    return str(path)


def build_encoder(backbone="resnet50", input_shape=(224, 384, 3), weights=None, normalization="default",
                  name="encoder"):
    """Builds the encoder model: raw RGB [0, 255] -> {"P1": ..., "P5": ...}.

    normalization: "default" picks the convention of the backbone's pretrained weights (caffe for ResNet-50,
    torch for ResNet-18/10); see `ImageNormalization` for the others.
    """
    validate_backbone(backbone)
    input_shape = validate_input_shape(input_shape)
    weights_path = resolve_weights(backbone, weights)
    if normalization == "default":
        normalization = DEFAULT_NORMALIZATION[backbone]
    images = keras.Input(shape=input_shape, name="image")
    normalized = ImageNormalization(normalization, name="normalization")(images)
    if backbone == "resnet50":
        resnet = keras.applications.ResNet50(include_top=False, weights=weights_path, input_tensor=normalized)
        pyramid = {level: resnet.get_layer(layer).output for level, layer in PYRAMID_LAYERS[backbone].items()}
        # keras.applications builds plain BatchNormalization layers; the copy trains them through the fused kernel.
        return fuse_batch_norm(keras.Model(images, pyramid, name=name))
    encoder = keras.Model(images, _basic_resnet(normalized, BASIC_BLOCKS_PER_STAGE[backbone]), name=name)
    if weights_path is not None:
        encoder.load_weights(weights_path)
    return encoder


def _basic_resnet(x, blocks_per_stage):
    """The basic-block ResNet trunk; returns its pyramid {"P1": conv1_relu, "P2".."P5": last block of a stage}."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = BatchNormalization(epsilon=_BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    pyramid = {"P1": x}
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), blocks_per_stage), start=2):
        for block in range(1, blocks + 1):
            strides = 2 if stage > 2 and block == 1 else 1
            x = _basic_block(x, filters, strides, name=f"conv{stage}_block{block}")
        pyramid[f"P{stage}"] = x
    return pyramid


def _basic_block(x, filters, strides, name):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_0_bn")(shortcut)
    x = layers.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
    x = layers.Conv2D(filters, 3, strides=strides, use_bias=False, name=f"{name}_1_conv")(x)
    x = BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(1, name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, use_bias=False, name=f"{name}_2_conv")(x)
    x = BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)
