"""`python -m models.export`: a trained model in a deployment format, checked against Keras.

    python -m models.export --model M.keras --out DIR [--format saved_model|onnx|litert] [--input-size HxW]
        [--batch N] [--head TASK[,TASK]] [--streaming] [--overwrite]

- `saved_model` (default): Keras' `model.export`, a TensorFlow SavedModel in DIR with a `serve` endpoint (and
  `serving_default`), taking raw RGB in [0, 255] by input name and returning outputs by task name.
- `onnx`: DIR/model.onnx through Keras' ONNX export (needs `tf2onnx` and `onnx`; the check needs `onnxruntime`).
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


def export(model, out, export_format="saved_model", batch=None):
    """Writes `model` to `out` in `export_format`; returns the path of the exported file or folder."""
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
        model.export(path, format="onnx", input_signature=signature, verbose=False)
        return path
    with tempfile.TemporaryDirectory() as saved_model:
        model.export(saved_model, format="tf_saved_model", input_signature=signature, verbose=False)
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
    with open(path, "wb") as file:
        file.write(flatbuffer)
    return path


def _check_packages(export_format):
    needed = {"saved_model": ["tensorflow"], "onnx": ["tensorflow", "tf2onnx", "onnx", "onnxruntime"],
              "litert": ["tensorflow"]}[export_format]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--format {export_format} needs {', '.join(missing)}: pip install {' '.join(missing)} "
                         f"(tested with tensorflow 2.20, tf2onnx 1.17, onnx 1.23, onnxruntime 1.31, "
                         f"ai-edge-litert 2.3).")


def run_exported(path, export_format, inputs):
    """{output name: numpy array} of the exported file on `inputs`."""
    if export_format == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        return {name: value.numpy() for name, value in loaded.serve(inputs).items()}
    if export_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        return dict(zip(names, session.run(names, {item.name: inputs[item.name] for item in session.get_inputs()})))
    interpreter = _litert_interpreter(path)
    runner = interpreter.get_signature_runner()
    return {name: np.asarray(value) for name, value in runner(**inputs).items()}


def _litert_interpreter(path):
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter
    else:  # TensorFlow 2.20 still ships the interpreter, deprecated in favour of ai-edge-litert
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=path)


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


def export_and_check(model, out, export_format="saved_model", batch=None, overwrite=False):
    """Exports into `out` through a temporary folder (a failed export leaves nothing half-written), checks the
    exported model against Keras on a sample and writes DIR/export.json; returns that record."""
    from common.atomic import write_json

    occupied = bool(os.listdir(out)) if os.path.isdir(out) else os.path.exists(out)
    if occupied and not overwrite:
        raise UsageError(f"--out {out} exists and is not empty; pass --overwrite to replace it.")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        written = export(model, staging, export_format, batch)
        inputs = sample_inputs(model, batch)
        differences = compare(model.predict_on_batch(inputs), run_exported(written, export_format, inputs))
        record = {"format": export_format, "model": model.name, "file": os.path.relpath(written, staging),
                  "inputs": {name: [None if d is None else int(d) for d in shape]
                             for name, (shape, _) in input_specs(model, batch).items()},
                  "outputs": sorted(model.output), "max_abs_difference": differences,
                  "sample_batch": int(next(iter(inputs.values())).shape[0])}
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
    return parser


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
    batch = args.batch if args.batch is not None or args.format != "litert" else 1
    target = deployable(model, tasks, args.streaming)
    try:
        record = export_and_check(target, args.out, args.format, batch, args.overwrite)
    except ExportMismatch as error:
        print(f"export check failed: {error} Nothing was written to {args.out}.", file=sys.stderr)
        return 1
    print(json.dumps(record["inputs"]), "->", ", ".join(record["outputs"]))
    largest = max(record["max_abs_difference"].values())
    print(f"{args.format} written to {args.out}; largest difference to Keras on a sample: {largest:.3g} "
          f"({', '.join(f'{k} {v:.2g}' for k, v in record['max_abs_difference'].items())})")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
