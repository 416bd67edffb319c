"""Where a training step's time goes: ours (Keras on TensorFlow) against the PyTorch twin, by kind of work.

    python -m benchmarks.profile_step --model segnet|multinet_pp [--precision float32|mixed_bfloat16]
        [--framework keras|torch|both] [--steps 3] [--warmup 3] [--batch-size 2] [--top 12]
        [--inter-op-threads 1] [--image-size 224x384] [--json FILE]

Both frameworks train the same network on a fixed random batch (as `benchmarks.train` and
`benchmarks.torch_reference`), warm up, then run `--steps` steps under their own profiler (TensorFlow's
trace viewer data, read from the XPlane file; `torch.profiler`). Kernel time is summed per step into
convolution forward, convolution backward, batch normalisation (forward and backward), optimizer, and the rest,
and the most expensive kernels are listed. For TensorFlow a kernel is attributed through its op name to the Keras
layer (and so the layer class) it belongs to, and to the optimizer by the optimizer's name scope.

TensorFlow runs independent ops two at a time by default, so their times overlap; the profile runs one op at a
time (`--inter-op-threads 1`, what PyTorch's eager autograd does) so that kernel times add up to the step. Under
mixed_bfloat16 the PyTorch twin runs bf16 autocast with channels_last, its fastest configuration.
"""
import argparse
import collections
import glob
import os
import sys
import tempfile
import time

from common.sizes import IMAGE_SIZE
from benchmarks.train import _image_size, prepare

MODELS = ("segnet", "multinet_pp")
CATEGORIES = ("convolution forward", "convolution backward", "batch norm", "optimizer", "other")
_CONVOLUTIONS = ("Conv2D", "Conv2DTranspose", "Conv1D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D")


def _summary(category_ms, kernel_ms, wall_seconds, steps, top):
    per_step = {name: value / steps for name, value in category_ms.items()}
    total = sum(per_step.values())
    return {"step_seconds": round(wall_seconds / steps, 4),
            "kernel_ms_per_step": round(total, 1),
            "categories": {name: {"ms": round(per_step.get(name, 0.0), 1),
                                  "share": round(per_step.get(name, 0.0) / total, 3) if total else 0.0}
                           for name in CATEGORIES},
            "top_kernels": [{"kernel": name, "ms": round(value / steps, 1), "calls": calls // steps}
                            for name, (value, calls) in sorted(kernel_ms.items(), key=lambda kv: -kv[1][0])[:top]]}


# ------------------------------------------------------------------------------------------------ TensorFlow
def _layer_classes(model):
    from common.keras_compat import all_sublayers

    return {layer.name: type(layer) for layer in all_sublayers(model)}


def _keras_category(op_name, op_type, classes, optimizer_scope):
    import keras

    parts = op_name.split("/")
    backward = parts[0] == "gradient_tape"
    if parts[0] == optimizer_scope:
        return "optimizer"
    layer_class = None
    for part in parts:
        base = part.rsplit("_", 1)[0] if part.rsplit("_", 1)[-1].isdigit() else part
        for candidate in (part, base):
            if candidate in classes and not issubclass(classes[candidate], keras.Model):
                layer_class = classes[candidate]
    if layer_class is not None and issubclass(layer_class, keras.layers.BatchNormalization):
        return "batch norm"
    if (layer_class is not None and layer_class.__name__ in _CONVOLUTIONS) or "Conv2D" in op_type:
        return "convolution backward" if backward else "convolution forward"
    return "other"


def _read_xplane(logdir):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if not paths:
        raise RuntimeError(f"the TensorFlow profiler wrote no trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as handle:
        space.ParseFromString(handle.read())
    for plane in space.planes:
        if plane.name.startswith("/host:CPU") or plane.name.startswith("/device:"):
            for line in plane.lines:
                # Kernels run on the executor's compute threads; their events are named "op_name:OpType".
                if line.name.startswith("tf_Compute") or plane.name.startswith("/device:"):
                    for event in line.events:
                        name = plane.event_metadata[event.metadata_id].name
                        if ":" in name and not name.startswith(("ThreadpoolListener", "ExecutorState")):
                            yield name, event.duration_ps / 1e9


def profile_keras(model_name, precision="float32", steps=3, warmup=3, batch_size=2, top=12, inter_op_threads=1,
                  image_size=IMAGE_SIZE):
    """Our training step's kernel time per category; `inter_op_threads` 0 keeps TensorFlow's setting (it can only be
    set before TensorFlow starts)."""
    import tensorflow as tf

    if inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    model, inputs, targets = prepare(model_name, precision, batch_size, image_size)
    for _ in range(warmup):
        model.train_on_batch(inputs, targets)
    classes = _layer_classes(model)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(inputs, targets)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        category_ms, kernel_ms = collections.Counter(), collections.defaultdict(lambda: [0.0, 0])
        for name, ms in _read_xplane(logdir):
            op_name, op_type = name.rsplit(":", 1)
            category_ms[_keras_category(op_name, op_type, classes, model.optimizer.name)] += ms
            kernel_ms[op_type][0] += ms
            kernel_ms[op_type][1] += 1
    return {"framework": "keras", "backend": "tensorflow", "tensorflow": tf.__version__,
            "inter_op_threads": inter_op_threads, **_summary(category_ms, kernel_ms, wall, steps, top)}


# ------------------------------------------------------------------------------------------------ PyTorch
def _torch_category(name):
    if name.startswith("Optimizer.") or "adam" in name.lower():
        return "optimizer"
    if "batch_norm" in name:
        return "batch norm"
    if "convolution_backward" in name:
        return "convolution backward"
    if "convolution" in name or name.startswith("aten::mkldnn_conv"):
        return "convolution forward"
    return "other"


def profile_torch(model_name, precision="float32", steps=3, warmup=3, batch_size=2, top=12, image_size=IMAGE_SIZE):
    from benchmarks import torch_reference as reference

    torch = reference.torch
    bf16 = precision != "float32"
    _, step, _ = reference.prepare(model_name, batch_size, bf16=bf16, channels_last=bf16, height=image_size[0],
                                   width=image_size[1])

    for _ in range(warmup):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - start
    category_ms, kernel_ms = collections.Counter(), {}
    for event in profiler.key_averages():
        ms = event.self_cpu_time_total / 1e3
        category_ms[_torch_category(event.key)] += ms
        kernel_ms[event.key] = [ms, event.count]
    return {"framework": "pytorch", "torch": torch.__version__, "channels_last": bf16,
            **_summary(category_ms, kernel_ms, wall, steps, top)}


# ------------------------------------------------------------------------------------------------ report
def table(results):
    """Markdown: ms per step and share of each category, one column per framework."""
    header = "| work | " + " | ".join(r["framework"] for r in results) + " |"
    rows = [header, "|---|" + "---|" * len(results)]
    for name in CATEGORIES:
        cells = [f"{r['categories'][name]['ms']:.0f} ms ({100 * r['categories'][name]['share']:.0f}%)"
                 for r in results]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    rows.append("| all kernels | " + " | ".join(f"{r['kernel_ms_per_step']:.0f} ms" for r in results) + " |")
    rows.append("| step (wall, under the profiler) | "
                + " | ".join(f"{1000 * r['step_seconds']:.0f} ms" for r in results) + " |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32")
    parser.add_argument("--framework", choices=("keras", "torch", "both"), default="both")
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (3)")
    parser.add_argument("--warmup", type=int, default=3, help="unprofiled steps first (3)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="kernels listed per framework (12)")
    parser.add_argument("--inter-op-threads", type=int, default=1,
                        help="TensorFlow ops run at once (1; 0 = TensorFlow's default)")
    parser.add_argument("--image-size", type=_image_size, default=IMAGE_SIZE, metavar="HxW")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1 or args.top < 0 or args.inter_op_threads < 0:
        parser.error("--steps and --batch-size must be >= 1; --warmup, --top and --inter-op-threads >= 0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.framework in ("torch", "both"):
        from benchmarks import torch_reference

        if torch_reference.torch is None:
            parser.exit(2, f"{torch_reference.INSTALL_HINT}\n(or profile ours alone with --framework keras)\n")
    results = []
    if args.framework in ("keras", "both"):
        if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
            parser.error("the Keras profile reads TensorFlow's trace: run it with KERAS_BACKEND=tensorflow")
        results.append(profile_keras(args.model, args.precision, args.steps, args.warmup, args.batch_size, args.top,
                                     args.inter_op_threads, args.image_size))
    if args.framework in ("torch", "both"):
        results.append(profile_torch(args.model, args.precision, args.steps, args.warmup, args.batch_size, args.top,
                                     args.image_size))
    height, width = args.image_size
    print(f"{args.model}, {args.precision}, batch {args.batch_size}, {height}x{width}: kernel time per training step\n")
    print(table(results))
    for result in results:
        print(f"\n{result['framework']}: most expensive kernels (ms per step, calls per step)")
        for kernel in result["top_kernels"]:
            print(f"  {kernel['ms']:8.1f}  {kernel['calls']:5d}  {kernel['kernel']}")
    if args.json:
        from common.atomic import write_json

        write_json(args.json, {"model": args.model, "precision": args.precision, "batch_size": args.batch_size,
                               "image_size": list(args.image_size), "results": results})


if __name__ == "__main__":
    sys.exit(main())
