"""`python -m models.export`: a trained model in a deployment format, checked against Keras.

    python -m models.export --model M.keras --out DIR [--format saved_model|onnx|litert] [--input-size HxW]
        [--batch N] [--head TASK[,TASK]] [--streaming] [--overwrite]
        [--quantize int8 --calibration DATASET[=ROOT] [--calibration-images N] [--check-images M] [--int8-io]]

- `saved_model` (default): Keras' `model.export`, a TensorFlow SavedModel in DIR with a `serve` endpoint (and
  `serving_default`), taking raw RGB in [0, 255] by input name and returning outputs by task name.
- `onnx`: DIR/model.onnx through Keras' ONNX export (needs `tf2onnx` and `onnx`; the check needs `onnxruntime`),
  with the layout work tf2onnx leaves at the NHWC boundary tidied (models/onnx_layout.py).
- `litert`: DIR/model.tflite, TensorFlow's LiteRT converter on the SavedModel (the check runs it with
  `ai-edge-litert`, or TensorFlow's own interpreter when that is missing). Batch 1 unless `--batch` says otherwise.

`--input-size HxW` re-creates the network for another input size (every layer is size-agnostic; the weights are the
same). `--batch N` fixes the batch dimension (default: any batch, except LiteRT). `--head segmentation` keeps only
those tasks (a segmentation-only Novosel model then runs its encoder once). `--streaming` exports a 2-frame model's
streaming step (`models.streaming.streaming_step_model`): inputs `image` and `previous_P3`.. `previous_P5`, outputs
the tasks and `features_P3`.. `features_P5` to feed back at the next frame, so a deployment encodes each frame once.
Start a sequence by calling it once with zeros as `previous_*` and feeding the returned features back with the same
frame.

After writing, the exported file is loaded and run on a fixed random sample; the largest difference to Keras'
outputs is printed and saved in DIR/export.json (exit code 1 if it exceeds 1e-3 of the output's scale).

`--quantize int8` (onnx or litert, batch 1) quantises the export, calibrated on the train split of `--calibration`
(synthetic scenes in that dataset's layout without a ROOT), and scores the int8 file against the float Keras model
per task on the held-out images after the calibration ones, in DIR/export.json (models/quantize.py says what stays
float, what `--int8-io` changes and what each score is). A layer the converter cannot quantise is an error naming it
(exit code 1, nothing written).
"""
import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import numpy as np

from models.cli import UsageError, add_model_argument, check_tasks, import_modules, load_model, parse_size, run_command
from models import int8_check, quantize
from models.runtimes import run_exported

FORMATS = ("saved_model", "onnx", "litert")
FILE_NAMES = {"onnx": "model.onnx", "litert": "model.tflite"}
RELATIVE_TOLERANCE = 1e-3


class ExportMismatch(Exception):
    """The exported model's outputs differ from Keras' beyond the tolerance."""


def with_input_size(model, size):
    """The same network re-created for inputs of `size` (H, W), with the same weights."""
    size = tuple(int(v) for v in size)
    if tuple(model.input["image"].shape[1:3]) == size:
        return model

    def resize_inputs(node):
        if isinstance(node, dict):
            if node.get("class_name") == "InputLayer" and len(node["config"].get("batch_shape") or ()) == 4:
                batch, _, _, channels = node["config"]["batch_shape"]
                node["config"]["batch_shape"] = [batch, *size, channels]
            for value in node.values():
                resize_inputs(value)
        elif isinstance(node, list):
            for value in node:
                resize_inputs(value)

    config = model.get_config()
    resize_inputs(config)
    resized = model.__class__.from_config(config)
    resized.set_weights(model.get_weights())
    return resized


def deployable(model, tasks=None, streaming=False):
    """The Keras model to export: the whole model, only `tasks`, or the streaming step of a 2-frame model."""
    import keras

    from models.streaming import streaming_step_model

    if streaming:
        if model.frames != 2:
            raise UsageError("--streaming needs a 2-frame model (inputs 'image' and 'previous_image'); this one "
                             "takes one frame, so its plain export already encodes each frame once.")
        return streaming_step_model(model, tasks)
    if tasks is None or list(tasks) == list(model.tasks):
        return model
    return keras.Model(model.input, {task: model.output[task] for task in tasks}, name=f"{model.name}_head")


def input_specs(model, batch):
    """{input name: (shape with `batch`, dtype)} of a model with named dict inputs."""
    return {name: ((batch, *tensor.shape[1:]), "float32") for name, tensor in model.input.items()}


def sample_inputs(model, batch, seed=0):
    """A fixed random sample: raw RGB in [0, 255] for images; cached features from the encoder for `previous_*`."""
    rng = np.random.default_rng(seed)
    batch = batch or 2
    sample = {}
    for name, (shape, _) in input_specs(model, batch).items():
        if name.startswith("previous_P"):
            continue
        sample[name] = rng.uniform(0, 255, shape).astype(np.float32)
    previous = [name for name in model.input if name.startswith("previous_P")]
    if previous:
        encoder = model.get_layer("encoder")
        features = encoder.predict_on_batch(rng.uniform(0, 255, sample["image"].shape).astype(np.float32))
        sample.update({name: np.asarray(features[name[len("previous_"):]]) for name in previous})
    return sample


def export(model, out, export_format="saved_model", batch=None, calibration=None, int8_io=False):
    """Writes `model` to `out` in `export_format`; returns the path of the exported file or folder.

    `calibration`: input dicts (batch 1) to quantise an ONNX or LiteRT export to int8 on (models.quantize)."""
    _check_packages(export_format)
    import tensorflow as tf

    signature = [{name: tf.TensorSpec(shape, dtype, name=name)
                  for name, (shape, dtype) in input_specs(model, batch).items()}]
    os.makedirs(out, exist_ok=True)
    if export_format == "saved_model":
        model.export(out, format="tf_saved_model", input_signature=signature, verbose=False)
        return out
    path = os.path.join(out, FILE_NAMES[export_format])
    if export_format == "onnx":
        if calibration is None:
            _export_onnx(model, path, signature)
            return path
        with tempfile.TemporaryDirectory() as folder:
            float_path = os.path.join(folder, FILE_NAMES["onnx"])
            _export_onnx(model, float_path, signature)
            quantize.quantize_onnx(model, float_path, calibration, path, int8_io)
        return path
    with tempfile.TemporaryDirectory() as saved_model:
        model.export(saved_model, format="tf_saved_model", input_signature=signature, verbose=False)
        if calibration is None:
            flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
        else:
            flatbuffer = quantize.quantize_litert(model, saved_model, calibration, int8_io)
    with open(path, "wb") as file:
        file.write(flatbuffer)
    return path


def _export_onnx(model, path, signature):
    """Keras' ONNX export (tf2onnx), then the layout clean-up of models.onnx_layout."""
    from models.onnx_layout import tidy_layout

    model.export(path, format="onnx", input_signature=signature, verbose=False)
    tidy_layout(path)


def _check_packages(export_format):
    needed = {"saved_model": ["tensorflow"], "onnx": ["tensorflow", "tf2onnx", "onnx", "onnxruntime"],
              "litert": ["tensorflow"]}[export_format]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--format {export_format} needs {', '.join(missing)}: pip install {' '.join(missing)} "
                         f"(tested with tensorflow 2.20, tf2onnx 1.17, onnx 1.23, onnxruntime 1.31, "
                         f"ai-edge-litert 2.3).")


def compare(expected, actual):
    """{output: largest absolute difference}; raises ExportMismatch when an output is missing or too far off."""
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise ExportMismatch(f"the exported model lacks the outputs {missing} (it has {sorted(actual)}).")
    differences = {}
    for name, reference in expected.items():
        reference = np.asarray(reference, dtype=np.float32)
        value = np.asarray(actual[name], dtype=np.float32).reshape(reference.shape)
        differences[name] = float(np.abs(value - reference).max())
        scale = max(1.0, float(np.abs(reference).max()))
        if differences[name] > RELATIVE_TOLERANCE * scale:
            raise ExportMismatch(f"output {name!r} differs from Keras by up to {differences[name]:.3g} "
                                 f"(tolerance {RELATIVE_TOLERANCE * scale:.3g}).")
    return differences


def export_and_check(model, out, export_format="saved_model", batch=None, overwrite=False, quantization=None):
    """Exports into `out` through a temporary folder (a failed export leaves nothing half-written), checks the
    exported model against Keras and writes DIR/export.json; returns that record.

    Float exports are compared on a fixed random sample. `quantization` ({"calibration": examples, "check": examples,
    "int8_io": bool, "source": text}, examples from models.quantize.calibration_frames) quantises to int8 and scores
    the int8 file against Keras per task on the check examples (models.int8_check.agreement)."""
    from common.atomic import write_json

    occupied = bool(os.listdir(out)) if os.path.isdir(out) else os.path.exists(out)
    if occupied and not overwrite:
        raise UsageError(f"--out {out} exists and is not empty; pass --overwrite to replace it.")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        record = {"format": export_format, "model": model.name,
                  "inputs": {name: [None if d is None else int(d) for d in shape]
                             for name, (shape, _) in input_specs(model, batch).items()},
                  "outputs": sorted(model.output)}
        if quantization is None:
            written = export(model, staging, export_format, batch)
            inputs = sample_inputs(model, batch)
            record["max_abs_difference"] = compare(model.predict_on_batch(inputs),
                                                   run_exported(written, export_format, inputs))
            record["sample_batch"] = int(next(iter(inputs.values())).shape[0])
        else:
            calibration = [quantize.model_inputs(model, example) for example in quantization["calibration"]]
            written = export(model, staging, export_format, batch, calibration, quantization["int8_io"])
            record["quantization"] = {
                "mode": "int8", "calibration": quantization["source"],
                "calibration_images": len(quantization["calibration"]), "check_images": len(quantization["check"]),
                "float_layers": quantize.float_layers(model),
                "int8_io": int8_check.io_quantization(written, export_format),
                "agreement_with_float": int8_check.agreement(*int8_check.paired_runs(
                    model, int8_check.quantized_runner(written, export_format), quantization["check"]))}
        record["file"] = os.path.relpath(written, staging)
        write_json(os.path.join(staging, "export.json"), record)
        if os.path.exists(out):
            shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m models.export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_argument(parser)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--format", choices=FORMATS, default="saved_model", help="default saved_model")
    parser.add_argument("--input-size", metavar="HxW", help="input height x width (multiples of 32; default the "
                        "model's own)")
    parser.add_argument("--batch", type=int, help="fixed batch size (default: any; LiteRT: 1)")
    parser.add_argument("--head", metavar="TASK[,TASK]", help="export only these tasks")
    parser.add_argument("--streaming", action="store_true", help="export a 2-frame model's streaming step")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    quantization = parser.add_argument_group("int8 quantisation (--format onnx or litert; models/quantize.py)")
    quantization.add_argument("--quantize", choices=quantize.QUANTIZE_MODES, help="quantise the export to int8")
    quantization.add_argument("--calibration", metavar="DATASET[=ROOT]",
                              help="images to calibrate on: the train split of DATASET at ROOT (the dataset's "
                                   "official layout), or synthetic scenes in that layout without ROOT")
    quantization.add_argument("--calibration-images", type=int, default=quantize.DEFAULT_CALIBRATION_IMAGES,
                              metavar="N", help=f"calibration images (default {quantize.DEFAULT_CALIBRATION_IMAGES})")
    quantization.add_argument("--check-images", type=int, default=quantize.DEFAULT_CHECK_IMAGES, metavar="M",
                              help="held-out images after them on which the int8 file is scored against Keras "
                                   f"(default {quantize.DEFAULT_CHECK_IMAGES})")
    quantization.add_argument("--int8-io", action="store_true",
                              help="int8 inputs and outputs where the int8 graph reads or writes them directly (the "
                                   "streaming features); default float32 at the boundary")
    return parser


def quantization_options(args, model, target):
    """The `quantization` argument of export_and_check from the command line, or None; UsageError on bad options."""
    if not args.quantize:
        given = [option for option, value in (("--calibration", args.calibration), ("--int8-io", args.int8_io))
                 if value]
        if given:
            raise UsageError(f"{' and '.join(given)} only apply with --quantize int8.")
        return None
    if args.format == "saved_model":
        raise UsageError("--quantize int8 needs --format onnx or litert (a SavedModel stays float).")
    if not args.calibration:
        raise UsageError("--quantize int8 needs --calibration DATASET[=ROOT], the images to calibrate on (e.g. "
                         "--calibration kitti for synthetic KITTI-layout scenes).")
    if args.batch not in (None, 1):
        raise UsageError(f"--batch {args.batch}: an int8 export is calibrated and checked at batch 1.")
    for option, value in (("--calibration-images", args.calibration_images), ("--check-images", args.check_images)):
        if value < 1:
            raise UsageError(f"{option} {value}: must be at least 1.")
    try:
        dataset, root = quantize.parse_calibration(args.calibration)
        examples = quantize.calibration_frames(dataset, root, model.frames, tuple(target.input["image"].shape[1:3]),
                                               args.calibration_images + args.check_images)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error).replace("\n", " ")) from None
    return {"calibration": examples[:args.calibration_images], "check": examples[args.calibration_images:],
            "int8_io": args.int8_io, "source": args.calibration}


def main(argv=None):
    args = build_parser().parse_args(argv)
    import_modules(args.imports)
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch {args.batch}: must be at least 1.")
    _check_packages(args.format)
    size = parse_size(args.input_size, "--input-size") if args.input_size else None
    model = load_model(args.model)
    tasks = check_tasks(model, args.head) if args.head else None
    if size:
        model = with_input_size(model, size)
    batch = args.batch if args.batch is not None or (args.format != "litert" and not args.quantize) else 1
    target = deployable(model, tasks, args.streaming)
    quantization = quantization_options(args, model, target)
    try:
        record = export_and_check(target, args.out, args.format, batch, args.overwrite, quantization)
    except (ExportMismatch, quantize.QuantizationError) as error:
        print(f"export failed: {error} Nothing was written to {args.out}.", file=sys.stderr)
        return 1
    print(json.dumps(record["inputs"]), "->", ", ".join(record["outputs"]))
    if quantization:
        print(f"int8 {args.format} written to {args.out}; against the float Keras model on "
              f"{len(quantization['check'])} held-out {args.calibration} images:")
        for output, scores in record["quantization"]["agreement_with_float"].items():
            print(f"  {output}: " + ", ".join(f"{name} {value:g}" for name, value in scores.items()))
        return 0
    largest = max(record["max_abs_difference"].values())
    print(f"{args.format} written to {args.out}; largest difference to Keras on a sample: {largest:.3g} "
          f"({', '.join(f'{k} {v:.2g}' for k, v in record['max_abs_difference'].items())})")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
