"""Training throughput of our networks at 224x384: images/s after warm-up, as one line of JSON.

    python -m benchmarks.train --model segnet|auxnet|multinet_pp|detseg|selfsup [--batch-size 2]
        [--precision float32|mixed_bfloat16|mixed_float16] [--jit] [--backend tensorflow|jax|torch]
        [--steps 10] [--warmup 3] [--weighting gls] [--weighting-mode parameters|representation]
        [--image-size 224x384]

Each step is one `train_on_batch` (Adam 1e-4, as `models.fused_adam.FusedAdam` like the reproduction's runs, the
task's default losses, GLS by default) on a fixed random batch created once, so only the training step is timed;
warm-up steps (tracing, compilation, allocator growth) are not. `--weighting` takes every name of
`losses.weighting.NAMES`; `--weighting-mode` picks the mode of a gradient-level one (default: the strategy's own).
The JSON also gives the achieved FLOP/s (3x the forward pass's FLOPs per image, the usual estimate of forward plus
backward, times images/s) against this machine's matmul peak for the precision (the best of a few 2048x2048x2048
matmuls in that dtype through `keras.ops.matmul`). Forward FLOPs come from TensorFlow's graph profiler under the
TensorFlow backend and from XLA's cost analysis under JAX; under torch they are not reported.

`benchmarks.compare_training` runs this and the PyTorch twin (`benchmarks.torch_reference`) interleaved.
"""
import argparse
import json
import os
import sys
import time

from common.sizes import IMAGE_SIZE

MODELS = ("segnet", "auxnet", "multinet_pp", "detseg", "selfsup")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
BACKENDS = ("tensorflow", "jax", "torch")
MATMUL_SIZE = 2048


def build(name, input_shape, **options):
    """The benchmarked network `name` (`options`: the builder's, e.g. backbone=)."""
    import models

    builders = {
        "segnet": lambda: models.build_segnet(12, input_shape=input_shape, **options),
        "auxnet": lambda: models.build_auxnet(12, input_shape=input_shape, **options),
        "multinet_pp": lambda: models.build_multinet_pp(input_shape=input_shape, **options),
        "detseg": lambda: models.build_detseg(3, 3, input_shape=input_shape, **options),
        "selfsup": lambda: models.build_selfsup(19, input_shape=input_shape, **options),
    }
    return builders[name]()


def fixed_batch(model, batch_size, seed=0):
    """Random inputs (raw RGB) and targets for every task of `model`, as numpy arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    height, width = model.input["image"].shape[1:3]
    inputs = {name: rng.uniform(0, 255, (batch_size, height, width, 3)).astype("float32") for name in model.input}
    targets = {}
    for task in model.tasks:
        channels = int(model.output[task].shape[-1])
        if task in ("segmentation", "motion", "colorization"):
            targets[task] = rng.integers(0, channels, (batch_size, height, width)).astype("int32")
        elif task == "depth":
            targets[task] = rng.uniform(1, 80, (batch_size, height, width, 1)).astype("float32")
        elif task == "disparity":
            targets["right_image"] = rng.uniform(0, 255, (batch_size, height, width, 3)).astype("float32")
        elif task == "detection":
            boxes = np.full((batch_size, 8, 5), -1.0, "float32")
            top, left = rng.uniform(0, 0.6, (2, batch_size, 4))
            boxes[:, :4, :4] = np.stack([top, left, top + 0.3, left + 0.3], axis=-1)
            boxes[:, :4, 4] = rng.integers(0, channels - 5, (batch_size, 4))
            targets[task] = boxes
    return inputs, targets


def forward_flops(model, inputs):
    """Forward-pass FLOPs of the batch `inputs`, or None where the backend has no cost model we can read."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        specs = {name: tf.TensorSpec(value.shape, tf.float32) for name, value in inputs.items()}
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs).graph
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        return float(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)
    if backend == "jax":
        import jax

        def forward(trainable, non_trainable, x):
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        lowered = jax.jit(forward).lower([v.value for v in model.trainable_variables],
                                         [v.value for v in model.non_trainable_variables], inputs)
        analysis = lowered.compile().cost_analysis()
        analysis = analysis[0] if isinstance(analysis, list) else analysis
        return float(analysis.get("flops", 0.0)) or None
    return None


def matmul_peak(dtype, repeats=5):
    """FLOP/s of the best of `repeats` square matmuls in `dtype` (after one warm-up)."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE)), dtype=dtype)
    b = keras.ops.convert_to_tensor(rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE)), dtype=dtype)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # to numpy: waits for asynchronous backends
        best = min(best, time.perf_counter() - start)
    return 2.0 * MATMUL_SIZE ** 3 / best


def prepare(model_name, precision="float32", batch_size=2, image_size=IMAGE_SIZE, weighting="gls", jit=False,
            weighting_options=None):
    """(model, inputs, targets): the network under the precision policy (seed 0), compiled as the reproduction
    trains (FusedAdam 1e-4, `weighting` with `weighting_options`), and its fixed random batch."""
    import keras

    from models.fused_adam import FusedAdam

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = build(model_name, tuple(image_size) + (3,))
    model.compile(optimizer=FusedAdam(1e-4), weighting=weighting, weighting_options=weighting_options,
                  jit_compile=jit)
    return (model, *fixed_batch(model, batch_size))


def measure(model_name, batch_size=2, precision="float32", jit=False, steps=10, warmup=3, weighting="gls",
            image_size=IMAGE_SIZE, weighting_mode=None):
    """The benchmark's JSON record (see the module docstring)."""
    import keras
    import numpy as np

    options = {"mode": weighting_mode} if weighting_mode else None
    model, inputs, targets = prepare(model_name, precision, batch_size, image_size, weighting, jit, options)
    seconds = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        logs = model.train_on_batch(inputs, targets, return_dict=True)
        elapsed = time.perf_counter() - start  # train_on_batch returns numpy logs: the step has finished
        if step >= warmup:
            seconds.append(elapsed)
    if not np.isfinite(float(logs["loss"])):
        raise FloatingPointError(f"{model_name} {precision}: the training loss is {logs['loss']}")
    images_per_second = batch_size * steps / sum(seconds)
    flops = forward_flops(model, inputs)
    peak = matmul_peak({"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[precision])
    achieved = 3.0 * flops / batch_size * images_per_second if flops else None
    return {"framework": "keras", "backend": keras.backend.backend(), "keras": keras.__version__,
            "model": model_name, "batch_size": batch_size, "precision": precision, "jit": bool(jit),
            "weighting": weighting, "weighting_mode": getattr(model.weighting, "mode", None),
            "image_size": list(image_size), "steps": steps, "warmup": warmup,
            "images_per_second": round(images_per_second, 3), "step_seconds": [round(s, 4) for s in seconds],
            "params": model.count_params(), "final_loss": float(logs["loss"]),
            "forward_gflops_per_image": None if not flops else round(flops / batch_size / 1e9, 3),
            "achieved_tflops": None if achieved is None else round(achieved / 1e12, 4),
            "matmul_peak_tflops": round(peak / 1e12, 4),
            "peak_fraction": None if achieved is None else round(achieved / peak, 4),
            "threads": os.cpu_count()}


def _image_size(text):
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 224x384, got {text!r}") from None
    if height % 32 or width % 32:
        raise argparse.ArgumentTypeError(f"{text}: height and width must be multiples of 32")
    return height, width


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--jit", action="store_true", help="compile the train step with XLA (jit_compile=True)")
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: KERAS_BACKEND or tensorflow)")
    parser.add_argument("--steps", type=int, default=10, help="measured steps (10)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first (3)")
    parser.add_argument("--weighting", default="gls", help="weighting strategy, a name of losses.weighting.NAMES (gls)")
    parser.add_argument("--weighting-mode", choices=("parameters", "representation"),
                        help="mode of a gradient-level weighting strategy (default: its own)")
    parser.add_argument("--image-size", type=_image_size, default=IMAGE_SIZE, metavar="HxW")
    args = parser.parse_args(argv)
    if args.backend:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != args.backend:
            parser.error("--backend must be chosen before Keras is imported; run as python -m benchmarks.train")
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be >= 1, --warmup >= 0")
    record = measure(args.model, args.batch_size, args.precision, args.jit, args.steps, args.warmup, args.weighting,
                     args.image_size, args.weighting_mode)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
