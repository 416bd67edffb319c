"""Per-frame inference latency at batch 1 of every way to run our networks, beside their PyTorch twin, on this CPU.

    python -m benchmarks.inference --model segnet|multinet_pp [--streaming] [--size 224x384|384x1248]
        [--frames 20] [--warmup 5] [--rounds 2] [--threads N] [--runtimes NAME,...] [--backbone resnet50] [--work DIR]
        [--out benchmarks/results/inference_MODEL.json] [--docs docs/speed.md]

Runtimes (`--runtimes`, default all): ours, from one seeded Keras model (SegNet with 12 classes, MultiNet++ with
20 / 1 / 2 channels, on `--backbone`, ResNet-50 by default as the papers'), `keras_float32` and `keras_bfloat16` (the
same weights under the mixed_bfloat16 policy; a compiled `tf.function` of the model's call), `saved_model`
(`python -m models.export`'s SavedModel, `serve`), `onnx_float32` / `onnx_int8` in ONNX Runtime and `litert_float32` /
`litert_int8` in LiteRT with XNNPACK (the int8 files from `models.quantize`, calibrated on synthetic KITTI-layout
scenes); the PyTorch twin (`benchmarks.torch_reference`: logits, no softmax), `torch_float32` (eager), `torch_bf16`
(bfloat16 autocast with channels_last), `torch_compile` (`torch.compile`, float32), `torch_onnx_float32` (its own
ONNX export in the same ONNX Runtime) and `torch_onnx_int8` (that ONNX through the same ONNX Runtime quantiser as
ours, its decoders kept float as ours are). `--streaming` times MultiNet++'s streaming step (one encoder pass per
frame, the previous frame's features fed in; the twin gets the same step) and adds `keras_float32_segnet`, Keras
float32 SegNet, as the reference of the streaming target. The PyTorch rows are skipped, saying why, when torch is
not installed (it is not a dependency of this project: `pip install torch`) or when `--backbone` is not ResNet-50
(the twin's).

Method: the files are made once into `--work` (default a folder in the system's temporary directory; delete it to
make them anew after changing the export). Each runtime is timed in a fresh process with the same `--threads`
(default: all cores; TensorFlow's intra-op pool, ONNX Runtime's intra-op threads, LiteRT's interpreter threads,
torch.set_num_threads; one inter-op thread each), `--warmup` untimed frames then `--frames` timed ones on a fixed
random frame; the runtimes run A, B, C, ... in turn, `--rounds` times, so load from other work on the machine falls
on all of them alike. The table (median and 90th percentile over every timed frame, ms) goes to `--out` and between
the docs page's `<!-- inference-MODEL[-streaming]-HxW -->` markers when the page has them.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

from benchmarks.processes import run_json
from common.doc_blocks import has_block, update_block

OURS = ("keras_float32", "keras_bfloat16", "saved_model", "onnx_float32", "onnx_int8", "litert_float32",
        "litert_int8")
TORCH = ("torch_float32", "torch_bf16", "torch_compile", "torch_onnx_float32", "torch_onnx_int8")
REFERENCE = "keras_float32_segnet"
LABELS = {
    "keras_float32": "ours: Keras (TensorFlow) float32", "keras_bfloat16": "ours: Keras (TensorFlow) mixed_bfloat16",
    "saved_model": "ours: SavedModel (TensorFlow)", "onnx_float32": "ours: ONNX in ONNX Runtime, float32",
    "onnx_int8": "ours: ONNX in ONNX Runtime, int8", "litert_float32": "ours: LiteRT (XNNPACK), float32",
    "litert_int8": "ours: LiteRT (XNNPACK), int8", "torch_float32": "PyTorch twin: eager float32",
    "torch_bf16": "PyTorch twin: bf16 autocast + channels_last", "torch_compile": "PyTorch twin: torch.compile",
    "torch_onnx_float32": "PyTorch twin: its ONNX in ONNX Runtime, float32",
    "torch_onnx_int8": "PyTorch twin: its ONNX in ONNX Runtime, int8 (our quantiser)",
    REFERENCE: "reference: Keras (TensorFlow) float32 SegNet",
}
INT8 = {"onnx_int8", "litert_int8", "torch_onnx_int8"}
CALIBRATION_IMAGES = 8
STREAMING_TARGET, PYTORCH_TARGET = 3.0, 1.2


# ---------------------------------------------------------------------------------------- the files, made once
def build(args, network=None):
    """The seeded Keras network (under the current dtype policy): the twin's SegNet (12 classes) or MultiNet++."""
    import keras

    from benchmarks.train import build as build_network

    keras.utils.set_random_seed(0)
    return build_network(network or args.model, (*args.size, 3), backbone=args.backbone)


def prepare(args, echo=print):
    """Writes the Keras model, our exports and (with torch) the twin's ONNX files into args.work, once."""
    os.makedirs(args.work, exist_ok=True)
    wanted = set(args.runtimes)
    if wanted & set(OURS) or REFERENCE in wanted:
        _prepare_ours(args, wanted, echo)
    if wanted & {"torch_onnx_float32", "torch_onnx_int8"} and _torch_missing(args) is None:
        _run_worker(args, "prepare_torch", prepare=True)


def _prepare_ours(args, wanted, echo):
    import keras

    from models import quantize
    from models.export import deployable, export

    files = {"keras_float32": "model.keras", "saved_model": "saved_model", "onnx_float32": "float32/model.onnx",
             "onnx_int8": "int8/model.onnx", "litert_float32": "float32/model.tflite",
             "litert_int8": "int8/model.tflite", REFERENCE: "segnet.keras"}
    missing = [name for name in sorted(wanted & set(files)) if not os.path.exists(_path(args, files[name]))]
    if not missing and os.path.exists(_path(args, "model.keras")):
        return
    path = _path(args, "model.keras")
    if not os.path.exists(path):
        build(args).save(path)
    model = keras.saving.load_model(path, compile=False)
    target = deployable(model, streaming=args.streaming)
    samples = None
    for name in missing:
        echo(f"preparing {name} ...")
        if name == REFERENCE:
            build(args, "segnet").save(_path(args, files[name]))
        elif name == "saved_model":
            export(target, _path(args, files[name]), "saved_model", batch=1)
        elif name in ("onnx_float32", "litert_float32", "onnx_int8", "litert_int8"):
            if name in INT8 and samples is None:
                frames = quantize.calibration_frames("kitti", None, model.frames, args.size, CALIBRATION_IMAGES)
                samples = [quantize.model_inputs(target, frame) for frame in frames]
            export(target, os.path.dirname(_path(args, files[name])), name.split("_")[0], batch=1,
                   calibration=samples if name in INT8 else None)


def _path(args, name):
    return os.path.join(args.work, name)


def _torch_missing(args):
    """None when the PyTorch rows can run, else why they are skipped."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "torch not installed (benchmark-only: pip install torch)"
    if args.backbone != "resnet50":
        return f"the twin is ResNet-50 only (--backbone {args.backbone})"
    return None


# ------------------------------------------------------------------------------- one runtime, in its own process
def _inputs(names_and_shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.uniform(0, 255, shape) if name == "image" else rng.uniform(0, 1, shape)).astype(np.float32)
            for name, shape in names_and_shapes.items()}


def twin_shapes(args):
    """{input name: NHWC shape} of the PyTorch twin's timed step at batch 1 (ResNet-50's widths): the image, the
    previous image or the cached features when streaming."""
    height, width = args.size
    shapes = {"image": (1, height, width, 3)}
    if args.model == "multinet_pp" and not args.streaming:
        shapes["previous_image"] = (1, height, width, 3)
    if args.streaming:
        shapes.update({f"previous_P{level}": (1, height >> level, width >> level, channels)
                       for level, channels in ((3, 512), (4, 1024), (5, 2048))})
    return shapes


def _keras_runner(args, runtime):
    """Ours in TensorFlow: the Keras model's call compiled by tf.function, or the SavedModel's `serve`."""
    import keras
    import tensorflow as tf

    from models.export import deployable
    from models.runtimes import load_exported

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if runtime == REFERENCE:
        model = keras.saving.load_model(_path(args, "segnet.keras"), compile=False)
    else:
        model = keras.saving.load_model(_path(args, "model.keras"), compile=False)
        if runtime == "keras_bfloat16":
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
            mixed = build(args)
            mixed.set_weights(model.get_weights())
            model = mixed
        model = deployable(model, streaming=args.streaming)
    inputs = {name: tf.constant(value) for name, value in
              _inputs({name: (1, *tensor.shape[1:]) for name, tensor in model.input.items()}).items()}
    if runtime == "saved_model":
        serve = load_exported(_path(args, "saved_model"), "saved_model")
        return lambda: serve(inputs)
    call = tf.function(lambda feed: model(feed, training=False))
    return lambda: {name: value.numpy() for name, value in call(inputs).items()}


def _exported_runner(args, runtime):
    from models.runtimes import load_exported

    folder = "int8" if runtime.endswith("int8") else "float32"
    prefix = "torch_" if runtime.startswith("torch_") else ""
    export_format = "onnx" if "onnx" in runtime else "litert"
    path = _path(args, f"{prefix}{folder}/model.{'onnx' if export_format == 'onnx' else 'tflite'}")
    run = load_exported(path, export_format, args.threads)
    inputs = _inputs(exported_input_shapes(path, export_format))
    return lambda: run(inputs)


def exported_input_shapes(path, export_format):
    """{input name: shape at batch 1} as the exported file declares them."""
    from models.runtimes import litert_interpreter, onnx_session

    if export_format == "onnx":
        return {item.name: tuple(d if isinstance(d, int) else 1 for d in item.shape)
                for item in onnx_session(path).get_inputs()}
    details = litert_interpreter(path).get_signature_runner().get_input_details()
    return {name: tuple(int(d) for d in detail["shape"]) for name, detail in details.items()}


def _runner(args, runtime):
    if runtime in ("keras_float32", "keras_bfloat16", "saved_model", REFERENCE):
        return _keras_runner(args, runtime)
    if runtime in ("torch_float32", "torch_bf16", "torch_compile"):
        from benchmarks.inference_torch import torch_runner

        return torch_runner(args, runtime, _inputs(twin_shapes(args)))
    return _exported_runner(args, runtime)


def worker(args):
    """Times one runtime (args.worker) and prints {"runtime", "ms": [...]} as JSON."""
    if args.worker == "prepare_torch":
        from benchmarks.inference_torch import prepare_onnx

        prepare_onnx(args, _inputs(twin_shapes(args)))
        return 0
    run = _runner(args, args.worker)
    for _ in range(args.warmup):
        run()
    times = []
    for _ in range(args.frames):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"runtime": args.worker, "ms": [round(value, 3) for value in times]}), flush=True)
    return 0


def _run_worker(args, runtime, prepare=False):
    command = [sys.executable, "-m", "benchmarks.inference", "--model", args.model, "--size",
               f"{args.size[0]}x{args.size[1]}", "--frames", str(args.frames), "--warmup", str(args.warmup),
               "--threads", str(args.threads), "--backbone", args.backbone, "--work", args.work, "--worker", runtime]
    if args.streaming:
        command.append("--streaming")
    record = run_json(command, allow_empty=prepare)
    if prepare and "error" in record:
        raise RuntimeError(f"{runtime} failed: {record['error']}")
    return record


# ------------------------------------------------------------------------------------------------- the table
def measure(args, echo=print):
    """{runtime: {"ms": [...]} or {"error"/"skipped": why}}, every runtime once per round, in turn."""
    results = {runtime: {"ms": []} for runtime in args.runtimes}
    missing_torch = _torch_missing(args)
    for runtime in args.runtimes:
        if runtime in TORCH and missing_torch:
            results[runtime] = {"skipped": missing_torch}
    for round_index in range(args.rounds):
        for runtime in args.runtimes:
            if "ms" not in results[runtime]:
                continue
            record = _run_worker(args, runtime)
            if "error" in record:
                results[runtime] = record
                echo(f"round {round_index + 1} {runtime}: failed: {record['error']}")
                continue
            results[runtime]["ms"] += record["ms"]
            echo(f"round {round_index + 1} {runtime}: median {np.median(record['ms']):.1f} ms")
    return results


def summarise(results):
    """{runtime: (median, p90) or the reason it has no figure}."""
    return {runtime: ((float(np.median(record["ms"])), float(np.percentile(record["ms"], 90)))
                      if record.get("ms") else record.get("error") or record.get("skipped") or "not run")
            for runtime, record in results.items()}


def targets(summary, streaming):
    """Lines stating the targets: ours fastest vs PyTorch's fastest in float and int8; int8 streaming vs SegNet."""
    def fastest(names):
        timed = {name: summary[name][0] for name in names if isinstance(summary.get(name), tuple)}
        return min(timed.items(), key=lambda item: item[1]) if timed else None

    lines = []
    for kind, ours, theirs in (("float", [n for n in OURS if n not in INT8], [n for n in TORCH if n not in INT8]),
                               ("int8", [n for n in OURS if n in INT8], [n for n in TORCH if n in INT8])):
        mine, other = fastest(ours), fastest(theirs)
        if mine and other:
            ratio = other[1] / mine[1]
            lines.append(f"{kind}: ours fastest {LABELS[mine[0]]} {mine[1]:.1f} ms, PyTorch fastest "
                         f"{LABELS[other[0]]} {other[1]:.1f} ms: {ratio:.2f}x (target {PYTORCH_TARGET}x: "
                         f"{'met' if ratio >= PYTORCH_TARGET else 'not met'})")
    step, reference = fastest([n for n in OURS if n in INT8]), fastest([REFERENCE])
    if streaming and step and reference:
        ratio = reference[1] / step[1]
        lines.append(f"int8 streaming step {step[1]:.1f} ms vs Keras float32 SegNet {reference[1]:.1f} ms: "
                     f"{ratio:.2f}x (target {STREAMING_TARGET}x: {'met' if ratio >= STREAMING_TARGET else 'not met'})")
    return lines


def markdown(args, summary, command):
    network = {"segnet": "SegNet (12 classes)", "multinet_pp": "MultiNet++"}[args.model]
    what = f"{network}{' streaming step' if args.streaming else ''}, batch 1, {args.size[0]}x{args.size[1]}"
    lines = [f"| {what} | median ms | p90 ms |", "|---|---|---|"]
    for runtime, value in summary.items():
        cells = f"{value[0]:.1f} | {value[1]:.1f}" if isinstance(value, tuple) else f"- | {value}"
        lines.append(f"| {LABELS[runtime]} | {cells} |")
    lines += [""] + [f"- {line}" for line in targets(summary, args.streaming)]
    lines += ["", f"{args.frames} timed frames after {args.warmup} warm-up frames per process, {args.rounds} "
              f"interleaved rounds, {args.threads} thread{'s' if args.threads > 1 else ''} for every runtime; measured "
              f"{datetime.date.today().isoformat()} on {platform.machine()} with {os.cpu_count()} cores "
              f"({_versions()}); `{command}`."]
    return "\n".join(lines)


def _versions():
    import importlib.metadata

    found = []
    for package in ("tensorflow", "keras", "onnxruntime", "ai-edge-litert", "torch"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("segnet", "multinet_pp"), required=True)
    parser.add_argument("--streaming", action="store_true", help="MultiNet++'s streaming step")
    parser.add_argument("--size", default="224x384", help="input HxW, multiples of 32 (384x1248: KITTI padded)")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per process")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runtimes", default=",".join(OURS + TORCH), help="comma-separated, from: "
                        + ", ".join(OURS + TORCH))
    parser.add_argument("--backbone", default="resnet50", choices=("resnet50", "resnet18", "resnet10"),
                        help="our networks' encoder (the PyTorch twin is ResNet-50 only)")
    parser.add_argument("--work", help="folder for the model files (default: in the temporary directory)")
    parser.add_argument("--out", help="JSON of every timing (default benchmarks/results/inference_MODEL.json)")
    parser.add_argument("--docs", default=os.path.join("docs", "speed.md"), help="page to update ('' to leave it)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one runtime, in the fresh process the parent started
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from common.atomic import write_json
    from models.cli import UsageError, parse_size  # after parsing: `models` imports TensorFlow

    try:
        args.size = parse_size(args.size, "--size")
    except UsageError as error:
        parser.error(str(error))
    if args.streaming and args.model != "multinet_pp":
        parser.error("--streaming is MultiNet++'s streaming step: use --model multinet_pp")
    if min(args.frames, args.rounds, args.threads) < 1 or args.warmup < 0:
        parser.error("--frames, --rounds and --threads must be >= 1, --warmup >= 0")
    tag = f"{args.model}{'-streaming' if args.streaming else ''}-{args.size[0]}x{args.size[1]}"
    args.work = args.work or os.path.join(tempfile.gettempdir(), "mtl_inference", f"{tag}-{args.backbone}")
    if args.worker:
        return worker(args)
    args.runtimes = [name.strip() for name in args.runtimes.split(",") if name.strip()]
    unknown = [name for name in args.runtimes if name not in OURS + TORCH]
    if unknown:
        parser.error(f"--runtimes: unknown {unknown}; choose from {', '.join(OURS + TORCH)}")
    if args.streaming and REFERENCE not in args.runtimes:
        args.runtimes.append(REFERENCE)
    prepare(args)
    results = measure(args)
    command = "python -m benchmarks.inference " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(args, summarise(results), command.strip())
    write_json(args.out or os.path.join("benchmarks", "results", f"inference_{tag}.json"),
               {"results": results, "table": text})
    print(text)
    if args.docs:
        block = f"inference-{tag}"
        if has_block(args.docs, block):
            update_block(args.docs, block, text)
        else:
            print(f"({args.docs} has no <!-- {block}:start/end --> block; the table was not written there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
