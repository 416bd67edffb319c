"""Int8 quantisation of an export, calibrated on a dataset and checked against the float Keras model per task.

`python -m models.export --quantize int8 --calibration DATASET[=ROOT]` lands here: models/export.py writes the
float export, this module quantises it and scores it.

- LiteRT: TensorFlow's converter with a representative dataset, full-integer (int8 weights per channel, int8
  activations); the layers that stay float are left out through the converter's selective quantisation
  (`tf.lite.experimental.QuantizationDebugger` with `denylisted_nodes`).
- ONNX: ONNX Runtime's static quantisation of the float ONNX export, QDQ format, int8 weights per channel and uint8
  activations (`onnxruntime.quantization.quantize_static` with `nodes_to_exclude`): on x86 its int8 convolutions
  multiply uint8 by int8 (VNNI's VPDPBUSD); int8 activations ran SegNet 2.2x slower here, slower than float32.

What stays float (`float_layers`) is what the models compute in float32 under a mixed-precision policy too: the
input normalisation (the caffe / torch affine maps and the CIE Lab conversion) and every task head's output stage:
the FCN8 decoder (score layers, transposed convolutions, skip additions, softmax), the U-Net's last convolution and
activation, the YOLO head. Their few output channels (2 for motion, from 4096) are where low precision costs
accuracy, and they are a small share of the work (the encoder does more than 95% of the multiply-adds). Everything
else must quantise: an op the converter leaves in float outside those layers is a `QuantizationError` naming the
layer and the op.

Inputs and outputs stay float32 unless `int8_io`: then the inputs and outputs the int8 graph reads or writes
directly (the streaming step's `previous_P3..P5` and `features_P3..P5`, the tensors a deployment passes from frame to
frame) are 8-bit integers (int8 in LiteRT, uint8 in ONNX), with their scale and zero point in export.json; the image input and the task outputs pass through
layers that stay float and stay float32.

The check against the float model is models/int8_check.py.
"""
import json
import math
import re

import numpy as np

from common import keras_compat
from models.runtimes import litert_interpreter
from models.streaming import FEATURES, PREVIOUS

QUANTIZE_MODES = ("int8",)
DEFAULT_CALIBRATION_IMAGES = 32
DEFAULT_CHECK_IMAGES = 8
CALIBRATION_CHUNK = 4  # ONNX Runtime's calibration: the most samples whose activations are held at once
SYNTHETIC_TRAIN_SHARE = 0.8  # the smallest train share of a synthetic tree's split (cityscapes / synthia layouts)
INT8_IO_KEY = "int8_io"  # ONNX metadata: {name: {"dtype", "scale", "zero_point"}} of the 8-bit inputs and outputs
BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE", "QuantizeLinear", "DequantizeLinear"}
# Ops that only move data: the quantisers make them int8 when their input is, so one left in float reads a float
# layer's output (tf2onnx's NHWC -> NCHW Transpose after the float input normalisation) and costs a copy, not maths.
LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten", "Shape", "Gather", "Slice",
              "Expand", "TRANSPOSE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


class QuantizationError(Exception):
    """The converter cannot quantise the model, or left an op of a layer that should be int8 in float."""


# ------------------------------------------------------------------------------------------- what stays float
def float_layers(model):
    """Names of the layers (at any depth) that stay float in an int8 export (see the module docstring)."""
    from models.detection import YoloHead
    from models.layers import ImageNormalization

    tasks = [re.escape(name) for name in model.output if not name.startswith(FEATURES)]
    head_layer = re.compile(rf"({'|'.join(tasks)})(_(score|up|fuse)_p\d|_logits)?")
    return sorted({layer.name for layer in keras_compat.all_sublayers(model)
                   if isinstance(layer, (ImageNormalization, YoloHead)) or head_layer.fullmatch(layer.name)})


def _layer_of(tensor_name, layer_names):
    """The innermost of `layer_names` that a converter's tensor or node name belongs to, or None.

    Both converters name tensors after TensorFlow's name scopes (`model_1/encoder_1/conv1_conv_1/convolution`, each
    Keras call adding `_N`); LiteRT joins the names of fused ops with ';', the op's own first."""
    found = None
    for segment in tensor_name.split(";")[0].split("/"):
        for name in (segment, re.sub(r"_\d+$", "", segment)):
            if name in layer_names:
                found = name
                break
    return found


def _refuse_float_ops(model, ops, converter):
    """Raises QuantizationError naming the layer of the first (op type, tensor name) left in float."""
    if not ops:
        return
    names = {layer.name for layer in keras_compat.all_sublayers(model)}
    layers = list(dict.fromkeys(_layer_of(tensor, names) or f"(no Keras layer; tensor {tensor})" for _, tensor in ops))
    others = f" (and {len(layers) - 1} more: {', '.join(layers[1:6])})" if len(layers) > 1 else ""
    raise QuantizationError(
        f"layer {layers[0]!r} of {model.name} cannot be quantised to int8: the {converter} leaves its {ops[0][0]} op "
        f"in float32 inside the int8 graph{others}. Only the input normalisation and the task heads stay float by "
        f"design (models/quantize.py); export this model in float32, or build it from layers the converter quantises.")


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0][:500] if text else type(error).__name__


# -------------------------------------------------------------------------------------------- calibration data
def parse_calibration(text):
    """"DATASET" or "DATASET=ROOT" -> (dataset, root or None); without a root, synthetic scenes in its layout."""
    import data

    dataset, _, root = text.partition("=")
    layouts = [name for name in data.DATASETS if name != "synthetic"]
    if dataset not in layouts:
        raise ValueError(f"--calibration {text!r}: DATASET must be one of {', '.join(layouts)} (=ROOT for your "
                         f"copy; without it, synthetic scenes in that layout).")
    return dataset, (root or None)


def calibration_frames(dataset, root, frames, image_size, count):
    """The first `count` examples of the train split as dicts of (1, H, W, 3) float32 raw RGB (`image`, and
    `previous_image` when frames=2), read through data.load; synthetic scenes in the layout when `root` is None."""
    import data

    options, source = {}, dataset
    if root is None:
        options = {"layout": dataset, "num": math.ceil(count / SYNTHETIC_TRAIN_SHARE) + 2, "seed": 0}
        source = "synthetic"
    stream = data.load(source, root, "train", (), frames=frames, image_size=image_size, batch_size=1, **options)
    examples = [{name: np.asarray(value) for name, value in inputs.items()} for inputs, _ in stream.take(count)]
    if len(examples) < count:
        raise ValueError(f"--calibration {dataset}{'=' + root if root else ''}: its train split has {len(examples)} "
                         f"images, fewer than the {count} needed (calibration images plus check images); lower "
                         f"--calibration-images or --check-images.")
    return examples


def model_inputs(model, example):
    """The inputs of the exported `model` for one example: the images it takes and, for a streaming step, the
    previous frame's features from the float encoder (what a deployment caches)."""
    inputs = {name: example[name] for name in model.input if not name.startswith(PREVIOUS)}
    previous = [name for name in model.input if name.startswith(PREVIOUS)]
    if previous:
        features = model.get_layer("encoder").predict_on_batch(example["previous_image"])
        inputs.update({name: np.asarray(features[name[len(PREVIOUS):]]) for name in previous})
    return inputs


# ------------------------------------------------------------------------------------------------------ LiteRT
def quantize_litert(model, saved_model, samples, int8_io=False):
    """Full-integer LiteRT flatbuffer (bytes) of the SavedModel folder `saved_model` exported from `model`,
    calibrated on `samples` (input dicts), with `float_layers(model)` left in float."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(samples)
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=lambda: iter(samples))
    except Exception as error:  # the converter raises ConverterError and others, with MLIR's message
        raise QuantizationError(f"the LiteRT converter cannot quantise {model.name}: {_first_line(error)}") from None
    names = set(float_layers(model))
    float_outputs = names & set(model.output)
    denylist = sorted({tensor for op in _litert_ops(debugger.calibrated_model) for tensor in op["outputs"]
                       if _layer_of(tensor, names) or op["signature_output"] in float_outputs})
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylist)
    flatbuffer = debugger.get_nondebug_quantized_model()
    _refuse_float_ops(model, [(op["op"], op["outputs"][0]) for op in _litert_ops(flatbuffer)
                              if op["op"] not in BOUNDARY_OPS | LAYOUT_OPS and op["float_inputs"]
                              and not set(op["outputs"]) & set(denylist)], "LiteRT converter")
    if int8_io:
        # The converter's own step for inference_input_type / inference_output_type = int8 (the selective route does
        # not take them): it drops the boundary QUANTIZE / DEQUANTIZE ops, float inputs and outputs stay float.
        from tensorflow.lite.python.util import modify_model_io_type

        flatbuffer = modify_model_io_type(flatbuffer, tf.int8, tf.int8)
        runner = litert_interpreter(content=flatbuffer).get_signature_runner()
        scales = {name: detail["quantization"] for name, detail in
                  {**runner.get_input_details(), **runner.get_output_details()}.items() if detail["dtype"] == np.int8}
        # The converter gives previous_Pk the scale of features_Pk (both enter one concatenation, which shares its
        # inputs' scale), so a deployment feeds the int8 features back as they come out; refuse a file where not.
        unequal = [name for name in scales if name.startswith(PREVIOUS)
                   and scales[name] != scales.get(FEATURES + name[len(PREVIOUS):], scales[name])]
        if unequal:
            raise QuantizationError(f"--int8-io: the LiteRT converter gave {', '.join(unequal)} other scales than "
                                    f"the features fed back into them; export without --int8-io.")
    return flatbuffer


def _litert_ops(flatbuffer):
    """[{op, outputs (tensor names), float_inputs, signature_output (output key or None)}] of a flatbuffer's ops."""
    interpreter = litert_interpreter(content=flatbuffer)
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    outputs = {detail["index"]: key for key, detail in interpreter.get_signature_runner().get_output_details().items()}
    return [{"op": op["op_name"], "outputs": [tensors[i]["name"] for i in op["outputs"]],
             "float_inputs": any(tensors[i]["dtype"] == np.float32 for i in op["inputs"] if i >= 0),
             "signature_output": next((outputs[i] for i in op["outputs"] if i in outputs), None)}
            for op in interpreter._get_ops_details()]  # the per-op listing TensorFlow's own debugger reads


# -------------------------------------------------------------------------------------------------------- ONNX
def quantize_onnx(model, float_path, samples, out_path, int8_io=False):
    """ONNX Runtime static int8 quantisation of `float_path` (exported from `model`) into `out_path`, calibrated on
    `samples`, with `float_layers(model)` left in float."""
    import onnx

    names = set(float_layers(model))
    excluded = [node.name for node in onnx.load(float_path).graph.node if _layer_of(node.name, names)]
    try:
        quantize_onnx_file(float_path, out_path, samples, excluded)
    except Exception as error:  # ONNX Runtime's calibration and quantiser raise many kinds
        raise QuantizationError(f"ONNX Runtime cannot quantise {model.name}: {_first_line(error)}") from None
    quantized = onnx.load(out_path)
    _refuse_float_ops(model, _onnx_float_nodes(quantized, set(excluded)), "ONNX Runtime quantiser")
    if int8_io:
        onnx.save(_onnx_int8_io(quantized), out_path)


def quantize_onnx_file(float_path, out_path, samples, nodes_to_exclude=()):
    """The quantiser's settings, one place for our ONNX files and any other (the PyTorch twin's in the inference
    benchmark): QDQ, uint8 activations and int8 weights per output channel (ONNX Runtime's fast form on x86, see the
    module docstring), min/max calibration on `samples`."""
    import logging

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Samples(CalibrationDataReader):
        """The samples, handed out a slice at a time (`set_range`) when calibrating in strides."""

        def __init__(self):
            self.set_range(0, len(samples))

        def __len__(self):
            return len(samples)

        def set_range(self, start_index, end_index):
            self.remaining = iter(samples[start_index:end_index])

        def get_next(self):
            return next(self.remaining, None)

    # min/max a few samples at a time (ranges merged): it holds every tensor of every sample at once otherwise, 12 GB
    # for MultiNet++ on 32 images at 160x288. Its stride must divide the sample count.
    stride = max(size for size in range(1, CALIBRATION_CHUNK + 1) if len(samples) % size == 0)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process: tf2onnx and torch.onnx already infer shapes and fold
    try:
        quantize_static(float_path, out_path, Samples(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(nodes_to_exclude), extra_options={"CalibStridedMinMax": stride})
    finally:
        root.setLevel(level)


def _onnx_float_nodes(model, excluded):
    """(op type, node name) of the nodes outside `excluded` that ONNX Runtime leaves in float: an op type its quantiser
    has no int8 form for (it then sits between a DequantizeLinear and a QuantizeLinear), or one that reads a float
    tensor not coming from a DequantizeLinear."""
    import onnx
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    inferred = onnx.shape_inference.infer_shapes(model)
    types = {value.name: value.type.tensor_type.elem_type
             for value in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]}
    types.update({tensor.name: tensor.data_type for tensor in model.graph.initializer})
    dequantized = {output for node in model.graph.node if node.op_type == "DequantizeLinear" for output in node.output}
    quantisable = set(QDQRegistry) | set(QLinearOpsRegistry)
    return [(node.op_type, node.name) for node in model.graph.node
            if node.op_type not in BOUNDARY_OPS | LAYOUT_OPS and node.name not in excluded
            and (node.op_type not in quantisable or any(types.get(name) == onnx.TensorProto.FLOAT
                                                        and name not in dequantized for name in node.input if name))]


def _onnx_int8_io(model):
    """The model with 8-bit inputs and outputs where the graph quantises an input (after layout ops only) or
    dequantises an output last: those QuantizeLinear / DequantizeLinear are dropped, scales and zero points kept."""
    import onnx
    from onnx import numpy_helper

    from models.onnx_layout import readers_of

    graph = model.graph
    del graph.value_info[:]  # types recorded for the float boundary; ONNX Runtime infers the int8 ones
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    boundary = {}

    parameters = {}  # boundary name -> its (scale, zero point) initializer names

    def record(name, node):
        parameters[name] = list(node.input[1:3])
        zero_point = constants[node.input[2]]
        boundary[name] = {"dtype": str(zero_point.dtype), "scale": float(constants[node.input[1]]),
                          "zero_point": int(zero_point)}

    def rename(old, new):
        for node in graph.node:
            node.input[:] = [new if name == old else name for name in node.input]
            node.output[:] = [new if name == old else name for name in node.output]

    readers = {}  # int8 input -> the DequantizeLinear nodes reading it
    for value in graph.input:
        chain, following = [], readers_of(graph, value.name)
        while len(following) == 1 and following[0].op_type in LAYOUT_OPS:  # tf2onnx's NHWC -> NCHW Transpose
            chain.append(following[0])
            following = readers_of(graph, following[0].output[0])
        if following and all(node.op_type == "QuantizeLinear" for node in following):
            source = chain[-1].output[0] if chain else value.name
            record(value.name, following[0])
            for quantize in following:
                graph.node.remove(quantize)
                rename(quantize.output[0], source)
            value.type.tensor_type.elem_type = onnx.helper.np_dtype_to_tensor_dtype(
                np.dtype(boundary[value.name]["dtype"]))
            readers[value.name] = [node for node in readers_of(graph, source) if node.op_type == "DequantizeLinear"]
    for value in graph.output:
        dequantize = next((node for node in graph.node if value.name in node.output), None)
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            continue
        inside = readers_of(graph, value.name)  # the graph reads the output on (tf2onnx's layout): keep a float copy
        if inside:
            dequantize.output[0] = f"{value.name}_float"
            for node in inside:
                node.input[:] = [dequantize.output[0] if name == value.name else name for name in node.input]
        else:
            graph.node.remove(dequantize)
        record(value.name, dequantize)
        quantized = dequantize.input[0]
        rename(quantized, value.name)
        dequantize.input[0] = value.name
        value.type.tensor_type.elem_type = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(boundary[value.name]["dtype"]))
    for name, dequantizers in readers.items():
        # A streaming step's previous_Pk is its features_Pk of the previous frame, fed back as it comes out: one scale
        # for both (the features' own calibration range), so the int8 tensor needs no requantising in between.
        fed_back = FEATURES + name[len(PREVIOUS):]
        if name.startswith(PREVIOUS) and fed_back in parameters:
            for dequantize in dequantizers:
                dequantize.input[1:3] = parameters[fed_back]
            boundary[name] = boundary[fed_back]
    used = {name for node in graph.node for name in node.input}
    for tensor in [tensor for tensor in graph.initializer if tensor.name not in used]:
        graph.initializer.remove(tensor)
    onnx.helper.set_model_props(model, {INT8_IO_KEY: json.dumps(boundary, sort_keys=True)})
    return model
