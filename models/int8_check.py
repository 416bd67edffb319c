"""How an int8 file compares with the float Keras model it was quantised from, and running it with float tensors.

`agreement` compares the quantised file with the float Keras model on held-out images of the calibration
set (the images after the calibration images), per output, with the score its user cares about: class-probability
tasks the mIoU of the int8 arg-max against the float arg-max and the share of pixels where they agree; other dense
outputs (depth, disparity) the AbsRel of int8 against float; detection the IoU of the int8 box with the float box in
the float model's most confident cells; the streaming features their relative RMS error. A streaming step is
checked as a deployment runs it: the int8 step gets the features it returned for the previous frame.
"""
import json

import numpy as np

from models.quantize import INT8_IO_KEY, model_inputs
from models.runtimes import litert_interpreter, load_exported
from models.streaming import FEATURES, PREVIOUS

TOP_CELLS = 10  # detection: the float model's most confident cells per image, whose boxes are compared


def io_quantization(path, export_format):
    """{input or output name: {"dtype", "scale", "zero_point"}} of the 8-bit tensors at a quantised file's boundary."""
    if export_format == "litert":
        runner = litert_interpreter(path).get_signature_runner()
        details = {**runner.get_input_details(), **runner.get_output_details()}
        return {name: {"dtype": np.dtype(detail["dtype"]).name, "scale": float(detail["quantization"][0]),
                       "zero_point": int(detail["quantization"][1])}
                for name, detail in details.items() if detail["dtype"] in (np.int8, np.uint8)}
    import onnx

    properties = {entry.key: entry.value for entry in onnx.load(path, load_external_data=False).metadata_props}
    return json.loads(properties.get(INT8_IO_KEY, "{}"))


def quantized_runner(path, export_format):
    """A function running the quantised file with float inputs and outputs (int8 ones converted at the boundary)."""
    io = io_quantization(path, export_format)
    run = load_exported(path, export_format)
    return lambda inputs: dequantize_outputs(run(quantize_inputs(inputs, io)), io)


def quantize_inputs(inputs, io):
    """Float inputs as the quantised file takes them (`io`: io_quantization's record)."""
    def quantized(value, dtype, scale, zero_point):
        limits = np.iinfo(dtype)
        return np.clip(np.round(value / scale) + zero_point, limits.min, limits.max).astype(dtype)

    return {name: quantized(value, **io[name]) if name in io else value for name, value in inputs.items()}


def dequantize_outputs(outputs, io):
    return {name: ((value.astype(np.float32) - io[name]["zero_point"]) * io[name]["scale"] if name in io else value)
            for name, value in outputs.items()}


def paired_runs(model, run_quantized, examples):
    """(float outputs, quantised outputs): one dict per example (calibration_frames' dicts) from the float Keras
    `model` and from `run_quantized(inputs) -> outputs`, the quantised file run with float inputs and outputs."""
    float_runs, quantized_runs = [], []
    for example in examples:
        inputs = model_inputs(model, example)
        float_runs.append({name: np.asarray(value) for name, value in model.predict_on_batch(inputs).items()})
        previous = [name for name in inputs if name.startswith(PREVIOUS)]
        if previous:  # as deployed: the int8 step's own features of the previous frame (a sequence's first call)
            first = run_quantized({"image": example["previous_image"],
                                   **{name: np.zeros_like(inputs[name]) for name in previous}})
            inputs.update({name: first[FEATURES + name[len(PREVIOUS):]] for name in previous})
        quantized = run_quantized(inputs)
        quantized_runs.append({name: np.asarray(quantized[name], np.float32).reshape(value.shape)
                               for name, value in float_runs[-1].items()})
    return float_runs, quantized_runs


def agreement(float_runs, quantized_runs):
    """{output: scores of the quantised outputs against the float ones} (see the module docstring)."""
    from tasks import find_task

    scores = {}
    for name in float_runs[0]:
        reference = np.concatenate([run[name] for run in float_runs]).astype(np.float32)
        quantized = np.concatenate([run[name] for run in quantized_runs])
        task = find_task(name)
        if name.startswith(FEATURES):
            scores[name] = {"relative_rms_error": _relative_rms(reference, quantized)}
        elif name == "detection":
            scores[name] = _box_agreement(reference, quantized)
        elif task is not None and task.class_probabilities:
            scores[name] = _label_agreement(reference, quantized)
        else:
            scores[name] = {"abs_rel": _abs_rel(reference, quantized),
                            "relative_rms_error": _relative_rms(reference, quantized)}
    return scores


def _label_agreement(reference, quantized):
    from metrics import segmentation_scores

    expected, predicted = reference.argmax(-1), quantized.argmax(-1)
    miou = segmentation_scores(expected, predicted, reference.shape[-1])["miou"]
    return {"miou_vs_float": round(float(miou), 4), "pixel_agreement": round(float((expected == predicted).mean()), 4)}


def _abs_rel(reference, quantized):
    valid = np.abs(reference) > 1e-6
    return round(float(np.mean(np.abs(quantized[valid] - reference[valid]) / np.abs(reference[valid]))), 4)


def _relative_rms(reference, quantized):
    return round(float(np.sqrt(np.mean((quantized - reference) ** 2) / max(np.mean(reference ** 2), 1e-12))), 4)


def _box_agreement(reference, quantized):
    from models.detection import box_iou, decode_boxes

    float_boxes, float_scores = (np.asarray(value) for value in decode_boxes(reference))
    int8_boxes, int8_scores = (np.asarray(value) for value in decode_boxes(quantized))
    ious, same_class = [], []
    for image in range(reference.shape[0]):
        confidence = float_scores[image].max(-1).reshape(-1)
        for cell in np.argsort(-confidence, kind="stable")[:TOP_CELLS]:
            expected = float_boxes[image].reshape(-1, 4)[cell]
            ious.append(float(box_iou(expected, int8_boxes[image].reshape(-1, 4)[cell:cell + 1])[0]))
            same_class.append(float_scores[image].reshape(-1, reference.shape[-1] - 5)[cell].argmax()
                              == int8_scores[image].reshape(-1, reference.shape[-1] - 5)[cell].argmax())
    return {"box_iou_vs_float": round(float(np.mean(ious)), 4), "class_agreement": round(float(np.mean(same_class)), 4),
            "cells": len(ious)}
