"""ImageNet initialisation of the encoders, fetched the way the field's loaders fetch it.

Every paper starts its encoder from ImageNet. Building a model never downloads (`models.encoders.resolve_weights`
only looks in the Keras cache, since it also runs while reproductions plan their runs); this module is the one
place that goes online, once, and leaves a file in the cache (`$KERAS_HOME/models`, default ~/.keras/models) that
every later run finds offline:

  resnet50  `resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`, keras.applications' own file, fetched with
            `keras.utils.get_file` under the name, URL and md5 keras.applications uses, so a cache that
            keras.applications filled serves us and the other way round.
  resnet18  keras-hub's `resnet_18_imagenet` preset (converted by keras-hub from timm's resnet18.a1_in1k), fetched by
            `keras_hub.models.Backbone.from_preset` (into kagglehub's cache), mapped layer by layer onto our
            `_basic_resnet` encoder and saved as a `.weights.h5` of that encoder (RESNET18_IMAGENET_FILE). keras-hub
            is an optional install (`pip install keras-hub==0.25.1`, the newest release for keras<3.13).
  resnet10  none: no public ImageNet ResNet-10 has our layout (models.encoders.RESNET10_IMAGENET_NOTE).

keras-hub's ResNet against ours (both torchvision's ResNet v1.5 layout), as the mapping handles it:
  - same layers under other names: keras-hub's `stack{s}_block{b}_*` is our `conv{s+2}_block{b+1}_*`, stem names
    equal; stride on the first 3x3 convolution of a block, 1x1 projection shortcut (stride 2, no padding) where the
    shape changes, none in the first stage, post-activation (v1), 7x7/2 stem padded by 3, zero-padded 3x3/2
    max-pool. keras-hub pads its stride-1 3x3 convolutions with "same", we with ZeroPadding2D(1) + "valid": the
    same arithmetic.
  - batch-norm epsilon 1e-5 (torch's) against our 1.001e-5 (TensorFlow's fused kernel rejects less): each gamma is
    rescaled by sqrt(var + 1.001e-5) / sqrt(var + 1e-5) so inference is exact, and training, which uses batch
    statistics, differs by less than 1e-8 relative.
  - batch-norm momentum (0.9 there, Keras' 0.99 here) is a training setting, not a weight: not carried over.
  - input: the preset's preprocessor scales [0, 255] RGB by 1 / (255 std) and offsets by -mean / std with timm's
    ImageNet mean and std, which is our "torch" `ImageNormalization`, the ResNet-18 default. It lives inside our
    encoder; a keras-hub backbone takes preprocessed images.
"""
import os
import sys
from pathlib import Path

import keras
import numpy as np

from common.sizes import INPUT_SHAPE
from common.atomic import atomic_path
from models.encoders import (KERAS_HUB_REQUIREMENT, KERAS_HUB_RESNET18_PRESET, KERAS_HUB_RESNET18_URL,
                             RESNET18_IMAGENET_FILE, RESNET50_IMAGENET_FILE, RESNET50_IMAGENET_MD5,
                             RESNET50_IMAGENET_URL, build_encoder, imagenet_cache_path, keras_cache_dir)
from models.layers import ImageNormalization

# The keras-hub ResNetBackbone configuration that fits our basic-block encoders: keras-hub's timm converter
# (keras_hub/src/utils/timm/convert_resnet.py) builds resnet18 with these and blocks [2, 2, 2, 2], and that backbone
# has the preset's 11,186,112 parameters (tests/test_pretrained.py checks both).
_KERAS_HUB_BASIC_RESNET = {"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
                           "stackwise_num_filters": [64, 128, 256, 512], "stackwise_num_strides": [1, 2, 2, 2],
                           "block_type": "basic_block", "use_pre_activation": False}
_BACKBONE_FOR_BLOCKS = {(2, 2, 2, 2): "resnet18", (1, 1, 1, 1): "resnet10"}


class PretrainedWeightsUnavailable(FileNotFoundError):
    """The ImageNet file is not in the cache and could not be fetched (offline, keras-hub missing, bad download).

    A FileNotFoundError, so callers that already treat a missing weights file as "no ImageNet" keep doing so.
    """


def fetch_imagenet(backbone):
    """Makes sure the ImageNet weights of `backbone` are in the Keras cache and returns their local path.

    Downloads only what is missing (online), then every later `weights="imagenet"` finds the file offline.
    Raises `PretrainedWeightsUnavailable` naming the file, where it comes from and the folder to put it in when it
    cannot be fetched, and ValueError for resnet10 (no public weights).
    """
    target = imagenet_cache_path(backbone)  # ValueError with the explanation for resnet10
    if backbone == "resnet50":
        return _fetch_keras_applications_resnet50(target)
    if target.is_file():
        return str(target)
    return save_encoder_weights_from_keras_hub(KERAS_HUB_RESNET18_PRESET, target)


def _fetch_keras_applications_resnet50(target):
    # keras.utils.get_file reads KERAS_HOME once, at import; passing the folder keeps us on the same cache as
    # resolve_weights. A cached file is checked against the md5 and kept; a missing or damaged one is downloaded.
    try:
        path = keras.utils.get_file(RESNET50_IMAGENET_FILE, RESNET50_IMAGENET_URL, cache_subdir="models",
                                    file_hash=RESNET50_IMAGENET_MD5, cache_dir=str(target.parent.parent))
    except Exception as error:  # get_file raises a bare Exception for network failures
        raise PretrainedWeightsUnavailable(
            f"ImageNet ResNet-50: could not fetch {RESNET50_IMAGENET_FILE} from {RESNET50_IMAGENET_URL} ({error}). "
            f"Without network access, download it on another machine and copy it to {target.parent}/ "
            f"(as {target}), or pass weights='/path/to/{RESNET50_IMAGENET_FILE}'.") from error
    return str(path)


def encoder_from_keras_hub(source=KERAS_HUB_RESNET18_PRESET, input_shape=INPUT_SHAPE, normalization="default"):
    """Our encoder (`models.build_encoder`) carrying the weights of a keras-hub basic-block ResNet.

    source: a `keras_hub.models.ResNetBackbone`, or a preset name or local preset folder for
    `keras_hub.models.Backbone.from_preset` (a name downloads it, once, into kagglehub's cache).
    Blocks [2, 2, 2, 2] give our "resnet18" encoder, [1, 1, 1, 1] our "resnet10".
    """
    hub_backbone = _keras_hub_backbone(source)
    encoder = build_encoder(_matching_backbone(hub_backbone), input_shape, normalization=normalization)
    copy_keras_hub_weights(hub_backbone, encoder)
    return encoder


def save_encoder_weights_from_keras_hub(source=KERAS_HUB_RESNET18_PRESET, path=None):
    """Maps a keras-hub ResNet onto our encoder and saves its `.weights.h5`; returns the path.

    path: where to write; by default, for the ImageNet preset, the Keras cache file `weights="imagenet"` finds
    (`imagenet_cache_path("resnet18")`). Any other source (a backbone, a preset folder) needs an explicit path, so
    weights of unknown origin never take the ImageNet name. The mapped encoder must reproduce the keras-hub
    backbone's features (`check_same_features`) before anything is written, and the file is written whole or not
    at all.
    """
    if path is None:
        if source != KERAS_HUB_RESNET18_PRESET:
            raise ValueError(f"save_encoder_weights_from_keras_hub: pass path=... for source={source!r}; only the "
                             f"{KERAS_HUB_RESNET18_PRESET!r} preset is saved under the ImageNet cache name.")
        path = imagenet_cache_path("resnet18")
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"path={str(path)!r} must end with .weights.h5 (Keras' weights format).")
    hub_backbone = _keras_hub_backbone(source)
    # Weights do not depend on the image size; a small one keeps the check below quick.
    encoder = encoder_from_keras_hub(hub_backbone, input_shape=(64, 64, 3), normalization="torch")
    check_same_features(hub_backbone, encoder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:  # an interrupted fetch leaves no half file to take for ImageNet
        encoder.save_weights(temporary)
    return str(path)


def copy_keras_hub_weights(hub_backbone, encoder):
    """Assigns a keras-hub ResNetBackbone's weights to our encoder of the same depth, layer by layer.

    Every weighted layer on each side must be matched exactly once with equal shapes, so a layout that drifted on
    either side fails here instead of loading half a network. Batch-norm gammas absorb the epsilon difference.
    """
    _matching_backbone(hub_backbone)
    layer_names = keras_hub_layer_names(hub_backbone)
    ours_weighted = {layer.name for layer in encoder.layers if layer.weights}
    hub_weighted = {layer.name for layer in hub_backbone.layers if layer.weights}
    unmatched_ours = ours_weighted - set(layer_names)
    unmatched_hub = hub_weighted - set(layer_names.values())
    if unmatched_ours or unmatched_hub:
        raise ValueError(f"copy_keras_hub_weights: layers without a counterpart, ours {sorted(unmatched_ours)}, "
                         f"keras-hub's {sorted(unmatched_hub)}.")
    for ours_name, hub_name in layer_names.items():
        ours, theirs = encoder.get_layer(ours_name), hub_backbone.get_layer(hub_name)
        if isinstance(ours, keras.layers.BatchNormalization):
            variables = ("gamma", "beta", "moving_mean", "moving_variance")
        else:
            variables = ("kernel",)
        if len(ours.weights) != len(variables) or len(theirs.weights) != len(variables):
            raise ValueError(f"copy_keras_hub_weights: expected {variables} in our {ours_name} and keras-hub's "
                             f"{hub_name}, found {len(ours.weights)} and {len(theirs.weights)} variables.")
        values = {name: _numpy(getattr(theirs, name)) for name in variables}
        if "gamma" in values:
            # y = gamma (x - mean) / sqrt(variance + epsilon) + beta on both sides: same y with our epsilon.
            variance = values["moving_variance"]
            values["gamma"] = values["gamma"] * np.sqrt(variance + ours.epsilon) / np.sqrt(variance + theirs.epsilon)
        for name, value in values.items():
            variable = getattr(ours, name)
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"copy_keras_hub_weights: keras-hub's {hub_name}.{name} has shape {value.shape}, "
                                 f"our {ours_name}.{name} {tuple(variable.shape)}.")
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
    return encoder


def _numpy(variable):
    return keras.ops.convert_to_numpy(keras.ops.cast(variable, "float32")).astype("float64")


def check_same_features(hub_backbone, encoder, tolerance=1e-4, seed=0):
    """Raises ValueError unless `encoder` (raw RGB in, "torch" normalisation inside) and `hub_backbone` (fed the
    preset's preprocessing, which is that normalisation) give the same P2..P5 on a random image, within
    `tolerance` of each level's largest value.

    Run on the real preset before its file is saved, so a keras-hub release whose layout drifted from what the
    mapping expects fails here instead of quietly starting every run from a broken encoder.
    """
    height, width = encoder.input_shape[1:3]
    raw = np.random.default_rng(seed).uniform(0, 255, (1, height, width, 3)).astype("float32")
    theirs = hub_backbone.pyramid_outputs
    theirs = keras.Model(hub_backbone.inputs, theirs)(ImageNormalization("torch")(raw))
    ours = encoder(raw)
    for level in sorted(theirs):
        expected, actual = keras.ops.convert_to_numpy(theirs[level]), keras.ops.convert_to_numpy(ours[level])
        difference = float(np.abs(actual - expected).max())
        scale = float(np.abs(expected).max()) or 1.0
        if difference > tolerance * scale:
            raise ValueError(f"the mapped encoder's {level} differs from keras-hub's by {difference:.3g} (largest "
                             f"value {scale:.3g}): keras-hub's ResNet no longer matches this mapping.")


def keras_hub_layer_names(hub_backbone):
    """{our layer name: keras-hub's} for every weighted layer: the stem keeps its name, keras-hub's zero-based
    `stack{s}_block{b}_{k}_{conv|bn}` is our `conv{s+2}_block{b+1}_{k}_{conv|bn}` (k = 0 projection shortcut,
    1 and 2 the 3x3 convolutions)."""
    names = {"conv1_conv": "conv1_conv", "conv1_bn": "conv1_bn"}
    hub_layers = {layer.name for layer in hub_backbone.layers}
    for stack, blocks in enumerate(hub_backbone.stackwise_num_blocks):
        for block in range(blocks):
            for part in ("0_conv", "0_bn", "1_conv", "1_bn", "2_conv", "2_bn"):
                hub_name = f"stack{stack}_block{block}_{part}"
                if hub_name in hub_layers:
                    names[f"conv{stack + 2}_block{block + 1}_{part}"] = hub_name
    return names


def _matching_backbone(hub_backbone):
    """Our backbone name for a keras-hub ResNetBackbone, or ValueError naming what does not fit our encoder."""
    config = hub_backbone.get_config()
    for key, value in _KERAS_HUB_BASIC_RESNET.items():
        if _plain(config.get(key)) != value:
            raise ValueError(f"keras-hub ResNetBackbone with {key}={config.get(key)!r} does not fit our basic-block "
                             f"encoders (they need {key}={value!r}: torchvision's ResNet v1 layout).")
    blocks = tuple(_plain(config.get("stackwise_num_blocks")) or ())
    if blocks not in _BACKBONE_FOR_BLOCKS:
        raise ValueError(f"keras-hub ResNetBackbone with stackwise_num_blocks={list(blocks)} has no encoder here "
                         f"(ours: {', '.join(f'{name} {list(b)}' for b, name in _BACKBONE_FOR_BLOCKS.items())}).")
    return _BACKBONE_FOR_BLOCKS[blocks]


def _plain(value):
    return [_plain(item) for item in value] if isinstance(value, (list, tuple)) else value


def _keras_hub_backbone(source):
    keras_hub = _import_keras_hub(source)
    if isinstance(source, keras_hub.models.ResNetBackbone):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a keras_hub.models.ResNetBackbone, a preset name or a preset folder, got "
                        f"{type(source).__name__}.")
    try:
        backbone = keras_hub.models.Backbone.from_preset(os.fspath(source))
    except Exception as error:  # kagglehub/requests raise their own network errors
        raise PretrainedWeightsUnavailable(
            f"ImageNet ResNet-18: could not load keras-hub's preset {os.fspath(source)!r} ({type(error).__name__}: "
            f"{error}). {_resnet18_offline_advice()}") from error
    if not isinstance(backbone, keras_hub.models.ResNetBackbone):
        raise ValueError(f"preset {os.fspath(source)!r} is a {type(backbone).__name__}, not a keras-hub ResNet.")
    return backbone


def _import_keras_hub(source):
    try:
        import keras_hub
    except ImportError as error:
        if isinstance(source, (str, os.PathLike)):
            raise PretrainedWeightsUnavailable(
                f"ImageNet ResNet-18 comes from keras-hub's {KERAS_HUB_RESNET18_PRESET!r} preset, and keras-hub is "
                f"not installed: `pip install {KERAS_HUB_REQUIREMENT}`. {_resnet18_offline_advice()}") from error
        raise
    return keras_hub


def _resnet18_offline_advice():
    target = imagenet_cache_path("resnet18")
    return (f"Without network access, run `python -m models.pretrained resnet18` on a machine that has it (and "
            f"{KERAS_HUB_REQUIREMENT}; the preset is {KERAS_HUB_RESNET18_URL}) and copy the file it writes, "
            f"{RESNET18_IMAGENET_FILE}, to {target.parent}/ here; or copy a downloaded preset folder here and run "
            f"models.pretrained.save_encoder_weights_from_keras_hub('/path/to/preset', {str(target)!r}); or pass "
            f"weights='/path/to/resnet18.weights.h5'.")


def main(argv=None):
    """`python -m models.pretrained [BACKBONE ...]`: fetches ImageNet weights into the Keras cache (default: the
    backbones that have them) and prints where they are."""
    backbones = list(argv if argv is not None else sys.argv[1:]) or ["resnet50", "resnet18"]
    status = 0
    for backbone in backbones:
        try:
            print(f"{backbone}: {fetch_imagenet(backbone)}")
        except (PretrainedWeightsUnavailable, ValueError) as error:
            print(f"{backbone}: {error}", file=sys.stderr)
            status = 1
    print(f"Keras cache: {keras_cache_dir()}")
    return status


if __name__ == "__main__":
    sys.exit(main())
