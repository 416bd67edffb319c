"""Shared encoders with named pyramid outputs (keras-hub style).

`build_encoder` returns a functional `keras.Model` named "encoder" that maps raw RGB in [0, 255] to a dict of
pyramid levels: P1..P5 at strides 2, 4, 8, 16, 32. Builders read these names, never layer indices; the underlying
layers keep Keras' ResNet names (P3/P4/P5 of ResNet-50 are `conv3_block4_out`, `conv4_block6_out`,
`conv5_block3_out`).

ResNet-18 and ResNet-10 are written here with basic blocks ([2, 2, 2, 2] and [1, 1, 1, 1]), a 7x7/2 stem and a
max-pool, bias-free convolutions and a 1x1 projection shortcut where the shape changes, as torchvision's ResNet.

ImageNet weights (`weights="imagenet"`) come from the Keras cache (`$KERAS_HOME/models`, default ~/.keras/models);
`resolve_weights` only looks there, it never downloads, because it runs while runs are planned (`--list` too).
`models.pretrained.fetch_imagenet(backbone)` (or `python -m models.pretrained BACKBONE`) puts them there:
  resnet50  keras.applications' own file, fetched the way keras.applications fetches it.
  resnet18  keras-hub's `resnet_18_imagenet` preset (timm's resnet18.a1_in1k) mapped onto this encoder and saved
            as a `.weights.h5` of it (RESNET18_IMAGENET_FILE).
  resnet10  no public ImageNet weights exist for this layout (see RESNET10_IMAGENET_NOTE).
"""
import os
from pathlib import Path

import keras
from keras import layers

from common.sizes import INPUT_SHAPE
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
# keras.applications' md5 of that file (keras/src/applications/resnet.py WEIGHTS_HASHES["resnet50"][1]).
RESNET50_IMAGENET_MD5 = "4d473c1dd8becc155b73f8504c6f6626"
# keras-hub's ImageNet ResNet-18 (converted from timm's resnet18.a1_in1k), mapped onto `_basic_resnet` and saved as
# a `.weights.h5` of this module's "resnet18" encoder under this name in the Keras cache.
KERAS_HUB_RESNET18_PRESET = "resnet_18_imagenet"
KERAS_HUB_RESNET18_URL = "https://www.kaggle.com/models/keras/resnetv1/keras/resnet_18_imagenet"
# The newest keras-hub that installs with keras<3.13 (0.26 wants keras>=3.13); what the messages tell users to install.
KERAS_HUB_REQUIREMENT = "keras-hub==0.25.1"
RESNET18_IMAGENET_FILE = "mtl_resnet18_encoder_imagenet_from_keras_hub_resnet_18_imagenet.weights.h5"
IMAGENET_FILES = {"resnet50": RESNET50_IMAGENET_FILE, "resnet18": RESNET18_IMAGENET_FILE}
RESNET10_IMAGENET_NOTE = (
    "no public ImageNet ResNet-10 has this encoder's layout (7x7 stem, basic blocks [1, 1, 1, 1], 1x1 projection "
    "shortcuts): keras.applications, keras-hub and torchvision have none, and timm's resnet10t.c3_in1k is a "
    "different network (a 3-conv 'tiered' stem of 24/32/64 channels and average-pool shortcuts), so its weights do "
    "not fit. Leang et al. pre-trained theirs on ImageNet but the paper links no weights. Pre-train this encoder "
    "yourself (a keras-hub ResNetBackbone with stackwise_num_blocks=[1, 1, 1, 1] maps onto it through "
    "models.pretrained.save_encoder_weights_from_keras_hub(backbone, path)) and pass the `.weights.h5` of "
    "models.build_encoder('resnet10') as weights='/path/to/resnet10.weights.h5' (python -m reproduce ... "
    "--pretrained resnet10=FILE)")
_BN_EPSILON = 1.001e-5  # models.batch_norm.FUSED_MIN_EPSILON: the smallest epsilon TensorFlow's fused kernel takes


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
    """The Keras cache folder for model files, `$KERAS_HOME/models` (default ~/.keras/models), read at each call."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def imagenet_cache_path(backbone):
    """Where the ImageNet weights of `backbone` lie in the Keras cache, whether or not they are there yet."""
    validate_backbone(backbone)
    if backbone not in IMAGENET_FILES:
        raise ValueError(f"weights='imagenet' for backbone={backbone!r}: {RESNET10_IMAGENET_NOTE}.")
    return keras_cache_dir() / IMAGENET_FILES[backbone]


def resolve_weights(backbone, weights):
    """Returns None or a local weights file path; never downloads.

    It runs while reproductions plan their runs (`--list` too), so it only looks: `weights="imagenet"` is the file
    `models.pretrained.fetch_imagenet(backbone)` leaves in the Keras cache.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        cached = imagenet_cache_path(backbone)
        if not cached.is_file():
            raise FileNotFoundError(
                f"weights='imagenet': the ImageNet {backbone} file {cached.name} is not in the Keras cache "
                f"({cached}) and building a model never downloads. Fetch it with `python -m models.pretrained "
                f"{backbone}` (models.pretrained.fetch_imagenet({backbone!r})) on a machine with network access"
                f"{_fetch_hint(backbone, cached)}, or pass weights='/path/to/that/file'.")
        return str(cached)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights={weights!r}: no such file. Pass None, 'imagenet' or a weights file path.")
    return str(path)


def _fetch_hint(backbone, cached):
    if backbone == "resnet50":
        return f" (it downloads {RESNET50_IMAGENET_URL}; or copy that file to {cached})"
    return (f" (it maps keras-hub's {KERAS_HUB_RESNET18_PRESET!r} preset, {KERAS_HUB_RESNET18_URL}, onto this encoder "
            f"and needs `pip install {KERAS_HUB_REQUIREMENT}`; then copy the file it writes to {cached} here)")


def build_encoder(backbone="resnet50", input_shape=INPUT_SHAPE, weights=None, normalization="default",
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
