"""Builders of every network of the five papers, each returning a `MultiTaskModel`.

Inputs are named `image` (frame t, left camera), `previous_image` (frame t-1) and `depth_image` (FuseNet); outputs
are a dict keyed by task. Every builder reads the encoder's named pyramid levels (see models.encoders).
"""
import keras

from common.sizes import INPUT_SHAPE
from models.aggregation import aggregate_frames, validate_aggregation
from models.decoders import fcn8_decoder, unet_decoder
from models.encoders import build_encoder, validate_backbone, validate_input_shape
from models.layers import ImageNormalization
from models.multitask_model import MultiTaskModel
from tasks import get_task, registered

DEFAULT_INPUT_SHAPE = INPUT_SHAPE
SELFSUP_TASKS = ("segmentation", "colorization", "disparity")


def _check_channels(argument, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument}={value!r} must be an integer >= 1.")
    return value


def _dense_tasks():
    """The registered tasks a builder's decoder can end in (detection has a head of its own)."""
    return tuple(name for name in registered() if get_task(name).activation is not None)


def _check_tasks(tasks, allowed):
    if not isinstance(tasks, dict) or not tasks:
        raise ValueError(f"tasks must be a non-empty dict {{task: output channels}} with tasks from {allowed}; "
                         f"got {tasks!r}.")
    for task, channels in tasks.items():
        if task not in allowed:
            raise ValueError(f"tasks: unknown task {task!r}; allowed tasks are {allowed}.")
        _check_channels(f"tasks[{task!r}]", channels)
    return dict(tasks)


def _check_frames(frames):
    if frames not in (1, 2):
        raise ValueError(f"frames={frames!r} must be 1 or 2.")
    return frames


def build_multitask(tasks, frames=1, aggregation="concat", input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet50",
                    weights=None, name="multitask", **aggregation_options):
    """Shared encoder, one FCN8 decoder per task (MultiNet++, NeurAll, AuxNet).

    tasks: {task: output channels}, e.g. {"segmentation": 20, "depth": 1, "motion": 2}; any registered task with a
    decoder head (tasks/; its `head` puts the task's activation on the decoder).
    frames=2 runs the one encoder on `previous_image` and `image` and fuses each pyramid level with
    `aggregation` ("concat", "sum" or "convlstm"; options `lstm_filters`, `lstm_kernel_size`).
    """
    tasks = _check_tasks(tasks, _dense_tasks())
    _check_frames(frames)
    validate_aggregation(aggregation)
    validate_backbone(backbone)
    input_shape = validate_input_shape(input_shape)
    encoder = build_encoder(backbone, input_shape, weights)
    image = keras.Input(shape=input_shape, name="image")
    pyramid = encoder(image)
    inputs = {"image": image}
    if frames == 2:
        previous_image = keras.Input(shape=input_shape, name="previous_image")
        inputs["previous_image"] = previous_image
        pyramid = aggregate_frames(encoder(previous_image), pyramid, aggregation, **aggregation_options)
    elif aggregation_options:
        raise ValueError(f"{sorted(aggregation_options)} only apply to frames=2 models.")
    outputs = {task: get_task(task).head(pyramid, channels, task, fcn8_decoder) for task, channels in tasks.items()}
    return MultiTaskModel(inputs, outputs, name=name)


def build_segnet(num_classes, input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet50", weights=None):
    """SegNet of NeurAll/AuxNet: ResNet-50 + FCN8, one frame, segmentation only."""
    return build_multitask({"segmentation": _check_channels("num_classes", num_classes)}, frames=1,
                           input_shape=input_shape, backbone=backbone, weights=weights, name="segnet")


def build_auxnet(num_classes, input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet50", weights=None):
    """AuxNet: SegNet plus an auxiliary FCN8 depth-regression decoder on the same encoder."""
    tasks = {"segmentation": _check_channels("num_classes", num_classes), "depth": 1}
    return build_multitask(tasks, input_shape=input_shape, backbone=backbone, weights=weights, name="auxnet")


def build_msnet2(num_classes, input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet50", weights=None):
    """MSNet2 (NeurAll Table I): 2 frames, shared encoder, features concatenated per level."""
    return build_multitask({"segmentation": _check_channels("num_classes", num_classes)}, frames=2,
                           aggregation="concat", input_shape=input_shape, backbone=backbone, weights=weights,
                           name="msnet2")


def build_rnnet2(num_classes, input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet50", weights=None,
                 lstm_filters=None, lstm_kernel_size=1):
    """RNNet2 (NeurAll Table I): 2 frames, shared encoder, a ConvLSTM2D over the two encoded frames per level."""
    return build_multitask({"segmentation": _check_channels("num_classes", num_classes)}, frames=2,
                           aggregation="convlstm", input_shape=input_shape, backbone=backbone, weights=weights,
                           name="rnnet2", lstm_filters=lstm_filters, lstm_kernel_size=lstm_kernel_size)


def build_multinet_pp(tasks=None, frames=2, aggregation="concat", input_shape=DEFAULT_INPUT_SHAPE,
                      backbone="resnet50", weights=None):
    """MultiNet++: 2 frames, shared encoder, segmentation (20), depth (1) and motion (2) FCN8 decoders."""
    tasks = tasks if tasks is not None else {"segmentation": 20, "depth": 1, "motion": 2}
    return build_multitask(tasks, frames=frames, aggregation=aggregation, input_shape=input_shape,
                           backbone=backbone, weights=weights, name="multinet_pp")


def build_fusenet(num_classes, input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet50", weights=None):
    """FuseNet (AuxNet Table 2): an RGB encoder and a depth encoder (depth replicated to 3 channels, normalised
    like an image), summed at each FCN8 tap, one FCN8 decoder."""
    _check_channels("num_classes", num_classes)
    validate_backbone(backbone)
    input_shape = validate_input_shape(input_shape)
    image = keras.Input(shape=input_shape, name="image")
    depth_image = keras.Input(shape=input_shape, name="depth_image")
    rgb = build_encoder(backbone, input_shape, weights, name="rgb_encoder")(image)
    depth = build_encoder(backbone, input_shape, weights, name="depth_encoder")(depth_image)
    fused = {level: keras.layers.Add(name=f"fuse_{level.lower()}")([rgb[level], depth[level]])
             for level in ("P3", "P4", "P5")}
    outputs = {"segmentation": fcn8_decoder(fused, num_classes, "softmax", name="segmentation")}
    return MultiTaskModel({"image": image, "depth_image": depth_image}, outputs, name="fusenet")


def build_detseg(num_det_classes, num_seg_classes, input_shape=DEFAULT_INPUT_SHAPE, backbone="resnet10",
                 weights=None):
    """Leang et al.: ResNet-10 shared encoder, YOLO-style detection head on P5, FCN8 segmentation decoder."""
    from models.detection import build_yolo_head

    _check_channels("num_det_classes", num_det_classes)
    _check_channels("num_seg_classes", num_seg_classes)
    validate_backbone(backbone)
    input_shape = validate_input_shape(input_shape)
    image = keras.Input(shape=input_shape, name="image")
    pyramid = build_encoder(backbone, input_shape, weights)(image)
    outputs = {"detection": build_yolo_head(pyramid["P5"], num_det_classes, name="detection"),
               "segmentation": fcn8_decoder(pyramid, num_seg_classes, "softmax", name="segmentation")}
    return MultiTaskModel({"image": image}, outputs, name="detseg")


def build_selfsup(num_classes=19, color_bins=36, tasks=SELFSUP_TASKS, input_shape=DEFAULT_INPUT_SHAPE,
                  backbone="resnet18", weights=None):
    """Novosel et al.: U-Net on a shared ResNet-18 with segmentation, colorization and disparity decoders.

    The model takes raw RGB. Segmentation and disparity see the CIE Lab image; colorization sees the L channel
    repeated three times through the same encoder (Novosel 4.1), so a model with colorization runs the encoder
    twice while training; a segmentation-only export runs it once.
    """
    _check_channels("num_classes", num_classes)
    _check_channels("color_bins", color_bins)
    tasks = tuple(tasks)
    if not tasks or any(task not in SELFSUP_TASKS for task in tasks) or len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks={tasks!r} must be distinct tasks from {SELFSUP_TASKS}.")
    validate_backbone(backbone)
    input_shape = validate_input_shape(input_shape)
    encoder = build_encoder(backbone, input_shape, weights, normalization="none")
    image = keras.Input(shape=input_shape, name="image")
    channels = {"segmentation": num_classes, "colorization": color_bins, "disparity": 1}
    pyramids = {}
    if any(task != "colorization" for task in tasks):
        pyramids["lab"] = encoder(ImageNormalization("lab", name="lab")(image))
    if "colorization" in tasks:
        pyramids["lightness"] = encoder(ImageNormalization("lightness", name="lightness")(image))
    outputs = {}
    for task in tasks:
        pyramid = pyramids["lightness" if task == "colorization" else "lab"]
        outputs[task] = get_task(task).head(pyramid, channels[task], task, unet_decoder)
    return MultiTaskModel({"image": image}, outputs, name="selfsup")
