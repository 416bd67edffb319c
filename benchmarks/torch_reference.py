"""The yardstick for training speed: our networks written in plain PyTorch, in PyTorch's best CPU configuration.

    python -m benchmarks.torch_reference --model segnet|multinet_pp [--batch-size 2] [--precision float32|bf16]
        [--channels-last] [--steps 10] [--warmup 3] [--threads N]
        [--fp32-score-layers | --fp32-decoder]
    python -m benchmarks.torch_reference --check [--model segnet|multinet_pp]

Benchmark only: PyTorch is not a dependency of this project. Install the CPU build into the environment with
`pip install torch --index-url https://download.pytorch.org/whl/cpu`; torchvision is not needed (ResNet-50 is
written out here). Without torch the command says so and exits with code 2.

The run trains the PyTorch twin of `models.build_segnet(12)` or `models.build_multinet_pp()` at 224x384 with
Adam (lr 1e-4, Keras' defaults beta_1 0.9, beta_2 0.999, epsilon 1e-7; the fused CPU kernel where this torch has
it) and the GLS loss, the geometric mean of the task losses prod(L_k) ** (1/n), computed as exp(mean(log L_k)) with
L_k clamped at 1e-12 (losses.weighting.GeometricLossStrategy). Data are fixed random tensors made once (images
uniform [0, 255] float32, labels random ints, depth uniform [1, 80), motion random {0, 1}), so only the training
step is timed; `--warmup` steps run first and are not measured. It prints one line of JSON to stdout:

    {"framework": "pytorch", "torch", "model", "batch_size", "precision", "channels_last", "threads", "steps",
     "images_per_second", "step_seconds": [...], "params", "fp32_score_layers", "fp32_decoder", "optimizer",
     "final_loss"}

images_per_second = batch_size * steps / sum(step_seconds), where an "image" is one training sample: for
multinet_pp a sample is a pair of frames (t and t-1), and the shared encoder runs on both.

Precision: `float32`, or `bf16` = `torch.autocast("cpu", dtype=torch.bfloat16)` around forward and loss with
float32 weights and optimizer (PyTorch's CPU mixed-precision recipe; no gradient scaler is needed for bf16).
`--channels-last` converts the model and the images to `torch.channels_last` (oneDNN's preferred NHWC layout).

The twin is exactly our network (`--check` verifies it):
- ResNet-50 as keras.applications.ResNet50 without top: 7x7/2 stem conv *with* bias, BatchNorm epsilon 1.001e-5
  (momentum 0.01 in PyTorch's convention = Keras' 0.99), 3x3/2 max-pool (padding 1 = Keras' zero padding, the
  input being >= 0 after the ReLU), bottleneck blocks [3, 4, 6, 3] whose convolutions all have biases, the stride
  on the first 1x1 convolution of a stage (ResNet v1 as Keras has it; torchvision puts it on the 3x3) and a
  1x1 convolution + BN shortcut in each stage's first block. P3/P4/P5 are conv3_block4_out, conv4_block6_out,
  conv5_block3_out. Input normalisation "caffe" (RGB -> BGR, minus the ImageNet BGR mean) is inside the model.
- FCN8 per task: 1x1 score convolutions with bias on P3, P4, P5; transposed convolutions C -> C with bias,
  kernel 4 / stride 2 (P5 -> P4, P4 -> P3) and kernel 16 / stride 8 (P3 -> input); skip additions.
  Keras' Conv2DTranspose(padding="same") gives out = in * stride: the full transposed convolution of size
  (in - 1) * stride + kernel is cropped by (kernel - stride) // 2 at the start and the rest at the end. Here
  kernel - stride is even (2 and 8), so it is PyTorch's ConvTranspose2d(padding=(kernel - stride) // 2,
  output_padding=0), which crops `padding` on both sides: out = (in - 1) * s - 2 p + k = in * s.
- MultiNet++ (frames=2, aggregation "concat"): the one shared encoder is called on each frame separately (as the
  Keras model does, so BatchNorm sees per-frame batch statistics) and each level is concatenated
  [current, previous] on channels, so the score layers read 1024 / 2048 / 4096 channels.
- Parameter count: like Keras' count_params, parameters plus the BatchNorm running mean and variance
  (`num_batches_tracked` is PyTorch bookkeeping, not a weight).

Losses, as `losses.default_loss`: segmentation and motion a cross-entropy over valid pixels with ignore label
255; depth MaskedHuber(delta=250), the mean over pixels with target > 0 (MultiNet++ eq. 5). The heads return
logits and the loss is `F.cross_entropy(logits, target, ignore_index=255)`, log-softmax fused into the loss: that
is how PyTorch users write it and PyTorch's best. Our Keras models end in a softmax, and under TensorFlow their loss
(`keras.ops.sparse_categorical_crossentropy`) takes the logits behind it into the same fused computation. The twin
has no softmax at all: `--check` compares logits. Losses are computed in float32 from the
float32-cast logits (Keras' output activation is float32 under mixed precision too).

Heap corruption in bf16 (the issue: MultiNet++ bf16 training died intermittently with glibc's "corrupted
double-linked list", suspected in the 4096 -> 2 score convolution of the motion head). Not reproduced with torch
2.13.0+cpu (oneDNN 3.12) on an AMD EPYC with AVX512-BF16: the full multinet_pp bf16 training step (channels-last
and not, 2 threads) and 1,200 bf16 forward+backward passes of each of the 4096 -> 1/2/20 score convolutions
(channels-last and not, 1 to 16 threads), all with glibc's heap checking on (LD_PRELOAD=libc_malloc_debug.so.0
MALLOC_CHECK_=3), ran clean. So the default stays PyTorch's plain recipe (everything under autocast). Where it
does crash, `--fp32-score-layers` is the workaround: the 1x1 score convolutions run outside autocast in float32
(their bf16 inputs cast up; the transposed convolutions after them stay under autocast), and the JSON then says
"fp32_score_layers": true. To find the layer on such a machine, run with that heap checking, which aborts at the
first corrupted free instead of later and at random.

`--fp32-decoder` runs the whole FCN8 decoder (score convolutions, transposed convolutions, additions) outside
autocast in float32, which is what models/decoders.py does under a Keras mixed-precision policy (every FCN8 layer
has dtype "float32"); use it for a like-for-like bf16 comparison with our Keras model. It sets both JSON flags.
The decoder's share of the work is small (at most 20 channels after the score convolutions).
"""
import argparse
import importlib.util
import json
import math
import os
import sys
import time

from common.sizes import IMAGE_SIZE
from reproduce.paper_numbers import PARAMETER_COUNTS, matches_paper_count

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as _error:  # torch is optional: only this benchmark uses it
    torch = F = nn = None
    _TORCH_IMPORT_ERROR = _error
else:
    _TORCH_IMPORT_ERROR = None

INSTALL_HINT = ("PyTorch is not installed; this benchmark needs it (the project itself does not). Install the CPU "
                "build with:\n    pip install torch --index-url https://download.pytorch.org/whl/cpu")

MODELS = {
    # name: (tasks {task: output channels}, frames); models.build_segnet(12) and models.build_multinet_pp().
    "segnet": ({"segmentation": 12}, 1),
    "multinet_pp": ({"segmentation": 20, "depth": 1, "motion": 2}, 2),
}
# the paper's parameter count of each twin (reproduce/paper_numbers.PARAMETER_COUNTS; the count does not depend on
# the input size): AuxNet's exact SegNet figure, MultiNet++'s rounded one. `--check` also compares with Keras' own
# count_params when Keras is importable.
PAPER_COUNT_KEYS = {"segnet": "segnet_kitti", "multinet_pp": "multinet_3task_2frame"}
INPUT_SIZE = IMAGE_SIZE
LEARNING_RATE = 1e-4
IGNORE_INDEX = 255
HUBER_DELTA = 250.0
GLS_EPSILON = 1e-12
BN_EPSILON = 1.001e-5
BN_MOMENTUM = 0.01  # PyTorch's convention (new-statistics weight) for Keras' momentum 0.99
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # bottleneck width, blocks, stride of stages 2..5
SOFTMAX_TASKS = ("segmentation", "motion")

_Module = nn.Module if nn is not None else object


class Bottleneck(_Module):
    """Keras ResNet50 v1 `block1`: 1x1 (stride here) -> 3x3 -> 1x1 x4, every conv with bias, BN eps 1.001e-5."""

    def __init__(self, in_channels, width, stride, conv_shortcut):
        super().__init__()
        out_channels = 4 * width
        if conv_shortcut:
            self.conv0 = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
            self.bn0 = _batch_norm(out_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=stride)
        self.bn1 = _batch_norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = _batch_norm(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1)
        self.bn3 = _batch_norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv_shortcut = conv_shortcut

    def forward(self, x):
        shortcut = self.bn0(self.conv0(x)) if self.conv_shortcut else x
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        x += shortcut
        return self.relu(x)


def _batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)


class ResNet50Encoder(_Module):
    """Raw RGB [0, 255] (B, 3, H, W) -> (P3, P4, P5) = conv3_block4_out, conv4_block6_out, conv5_block3_out."""

    def __init__(self):
        super().__init__()
        self.register_buffer("bgr_mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3)  # Keras: ZeroPadding2D(3) + valid conv, with bias
        self.bn1 = _batch_norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, in_channels = [], 64
        for width, blocks, stride in STAGES:
            stage = [Bottleneck(in_channels, width, stride, conv_shortcut=True)]
            stage += [Bottleneck(4 * width, width, 1, conv_shortcut=False) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            in_channels = 4 * width
        self.stages = nn.ModuleList(stages)

    def forward(self, images):
        x = images.flip(1) - self.bgr_mean  # ImageNormalization("caffe"): RGB -> BGR, minus the BGR mean
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        pyramid = []
        for stage in self.stages:
            x = stage(x)
            pyramid.append(x)
        return tuple(pyramid[1:])  # P3, P4, P5


class FCN8(_Module):
    """models.decoders.fcn8_decoder without the final activation: returns logits at the input resolution."""

    def __init__(self, in_channels, channels, fp32_score_layers=False, fp32_decoder=False):
        super().__init__()
        c3, c4, c5 = in_channels
        self.score_p3 = nn.Conv2d(c3, channels, 1)
        self.score_p4 = nn.Conv2d(c4, channels, 1)
        self.score_p5 = nn.Conv2d(c5, channels, 1)
        # Keras Conv2DTranspose(padding="same"): out = in * stride, i.e. padding (kernel - stride) // 2 here.
        self.up_p5 = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)
        self.up_p4 = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1)
        self.up_p3 = nn.ConvTranspose2d(channels, channels, 16, stride=8, padding=4)
        self.fp32_score_layers = fp32_score_layers
        self.fp32_decoder = fp32_decoder

    def _score(self, layer, features):
        if not self.fp32_score_layers or self.fp32_decoder:
            return layer(features)
        with torch.autocast(features.device.type, enabled=False):
            return layer(features.float())

    def forward(self, p3, p4, p5):
        if self.fp32_decoder:
            with torch.autocast(p3.device.type, enabled=False):
                return self._decode(p3.float(), p4.float(), p5.float())
        return self._decode(p3, p4, p5)

    def _decode(self, p3, p4, p5):
        x = self.up_p5(self._score(self.score_p5, p5)) + self._score(self.score_p4, p4)
        x = self.up_p4(x) + self._score(self.score_p3, p3)
        return self.up_p3(x)


class MultiTaskNet(_Module):
    """Shared ResNet-50 encoder, one FCN8 per task; frames=2 concatenates [current, previous] per level."""

    def __init__(self, tasks, frames=1, fp32_score_layers=False, fp32_decoder=False):
        super().__init__()
        if frames not in (1, 2):
            raise ValueError(f"frames={frames!r} must be 1 or 2.")
        self.tasks = dict(tasks)
        self.frames = frames
        self.encoder = ResNet50Encoder()
        widths = tuple(frames * 4 * width for width, _, _ in STAGES[1:])
        self.decoders = nn.ModuleDict({task: FCN8(widths, channels, fp32_score_layers, fp32_decoder)
                                       for task, channels in self.tasks.items()})

    def forward(self, image, previous_image=None):
        """Returns {task: logits (B, C, H, W)}."""
        pyramid = self.encoder(image)
        if self.frames == 2:
            previous = self.encoder(previous_image)
            pyramid = tuple(torch.cat([current, before], dim=1) for current, before in zip(pyramid, previous))
        return {task: decoder(*pyramid) for task, decoder in self.decoders.items()}

def build_twin(model, fp32_score_layers=False, fp32_decoder=False):
    tasks, frames = MODELS[model]
    return MultiTaskNet(tasks, frames, fp32_score_layers, fp32_decoder)


def count_params(net):
    """Keras' count_params: parameters plus BatchNorm running mean/variance (not num_batches_tracked)."""
    statistics = sum(module.running_mean.numel() + module.running_var.numel()
                     for module in net.modules() if isinstance(module, nn.BatchNorm2d))
    return sum(parameter.numel() for parameter in net.parameters()) + statistics


# ---------------------------------------------------------------------------------------------------- losses
def task_loss(task, logits, target):
    """losses.default_loss(task) on logits: cross-entropy (ignore 255) or masked Huber (delta 250), float32."""
    logits = logits.float()
    if task in SOFTMAX_TASKS:
        return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    prediction = logits[:, 0]
    valid = (target > 0).to(prediction.dtype)
    pixel_losses = F.huber_loss(prediction, torch.where(target > 0, target, prediction.detach()),
                                reduction="none", delta=HUBER_DELTA)
    return (pixel_losses * valid).sum() / valid.sum().clamp_min(1.0)


def gls(losses):
    """Geometric mean of the task losses, exp(mean(log max(L_k, 1e-12)))."""
    return torch.stack(losses).clamp_min(GLS_EPSILON).log().mean().exp()


def make_batch(model, batch_size, height, width, channels_last):
    """Fixed random inputs (images [0, 255] float32, NCHW) and targets, made once."""
    tasks, frames = MODELS[model]
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def image():
        return (torch.rand(batch_size, 3, height, width) * 255.0).contiguous(memory_format=memory_format)

    inputs = [image() for _ in range(frames)]
    targets = {}
    for task, channels in tasks.items():
        if task == "depth":
            targets[task] = torch.empty(batch_size, height, width).uniform_(1.0, 80.0)
        else:
            targets[task] = torch.randint(0, channels, (batch_size, height, width))
    return inputs, targets


def make_optimizer(parameters):
    """Adam(lr 1e-4) with Keras' defaults; the fused CPU kernel when this torch has one, else foreach."""
    options = dict(lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-7)
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, fused=True, **options), "adam-fused"
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(parameters, foreach=True, **options), "adam-foreach"


# ------------------------------------------------------------------------------------------------- benchmark
def training_step(net, optimizer, inputs, targets, bf16=False):
    """One GLS training step of `net` on the fixed batch, as a function returning the detached total loss."""

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(*inputs)
            total = gls([task_loss(task, logits[task], targets[task]) for task in net.tasks])
        total.backward()
        optimizer.step()
        return total.detach()

    return step


def prepare(model, batch_size=2, bf16=False, channels_last=False, threads=None, fp32_score_layers=False,
            fp32_decoder=False, height=INPUT_SIZE[0], width=INPUT_SIZE[1]):
    """The twin in training mode (seed 0, `threads` torch threads), its fixed random batch and optimizer:
    (net, step, optimizer name), `step()` one training step returning the detached loss."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.manual_seed(0)
    net = build_twin(model, fp32_score_layers, fp32_decoder)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    optimizer, optimizer_name = make_optimizer(net.parameters())
    inputs, targets = make_batch(model, batch_size, height, width, channels_last)
    return net, training_step(net, optimizer, inputs, targets, bf16=bf16), optimizer_name


def benchmark(model, batch_size=2, precision="float32", channels_last=False, steps=10, warmup=3, threads=None,
              fp32_score_layers=False, fp32_decoder=False, height=INPUT_SIZE[0], width=INPUT_SIZE[1]):
    """Trains the twin for warmup + steps steps on fixed random data; returns the JSON-ready result dict."""
    if precision not in ("float32", "bf16"):
        raise ValueError(f"precision={precision!r} must be 'float32' or 'bf16'.")
    fp32_decoder = bool(fp32_decoder and precision == "bf16")  # float32 runs have nothing to keep in float32
    fp32_score_layers = bool(fp32_score_layers and precision == "bf16") or fp32_decoder
    threads = threads or os.cpu_count() or 1
    net, step, optimizer_name = prepare(model, batch_size, precision == "bf16", channels_last, threads,
                                        fp32_score_layers, fp32_decoder, height, width)
    params = count_params(net)

    for _ in range(warmup):
        step()
    step_seconds, loss = [], float("nan")
    for _ in range(steps):
        start = time.perf_counter()
        loss = step()
        step_seconds.append(time.perf_counter() - start)
    loss = float(loss)
    if not math.isfinite(loss):
        raise FloatingPointError(f"the GLS loss became {loss} while training {model}.")
    return {
        "framework": "pytorch",
        "torch": torch.__version__,
        "model": model,
        "batch_size": batch_size,
        "precision": precision,
        "channels_last": bool(channels_last),
        "threads": threads,
        "steps": steps,
        "images_per_second": round(batch_size * steps / sum(step_seconds), 4),
        "step_seconds": [round(seconds, 4) for seconds in step_seconds],
        "params": params,
        "fp32_score_layers": fp32_score_layers,
        "fp32_decoder": fp32_decoder,
        "optimizer": optimizer_name,
        "final_loss": round(loss, 6),
    }


# ----------------------------------------------------------------------------------------------------- check
def keras_layer_pairs(net):
    """(Keras layer name, PyTorch module) for every weighted layer of the twin; Keras names of models.builders."""
    encoder = net.encoder
    yield "conv1_conv", encoder.conv1
    yield "conv1_bn", encoder.bn1
    for stage_index, stage in enumerate(encoder.stages, start=2):
        for block_index, block in enumerate(stage, start=1):
            prefix = f"conv{stage_index}_block{block_index}"
            for part in ((0, 1, 2, 3) if block.conv_shortcut else (1, 2, 3)):
                yield f"{prefix}_{part}_conv", getattr(block, f"conv{part}")
                yield f"{prefix}_{part}_bn", getattr(block, f"bn{part}")
    for task, decoder in net.decoders.items():
        for name in ("score_p3", "score_p4", "score_p5", "up_p5", "up_p4", "up_p3"):
            yield f"{task}_{name}", getattr(decoder, name)


def copy_keras_weights(keras_model, net):
    """Copies the Keras model's weights into the twin (kernels HWIO / HWOI -> PyTorch's OIHW / IOHW)."""
    encoder = keras_model.get_layer("encoder")
    for name, module in keras_layer_pairs(net):
        layer = encoder.get_layer(name) if name.startswith("conv") else keras_model.get_layer(name)
        values = [torch.from_numpy(weight.copy()) for weight in layer.get_weights()]
        if isinstance(module, nn.BatchNorm2d):
            targets = (module.weight, module.bias, module.running_mean, module.running_var)
        else:  # Conv2D (kh, kw, in, out) and Conv2DTranspose (kh, kw, out, in) both permute (3, 2, 0, 1)
            values[0] = values[0].permute(3, 2, 0, 1)
            targets = (module.weight, module.bias)
        if len(values) != len(targets):
            raise ValueError(f"{name}: Keras has {len(values)} weights, the twin {len(targets)}.")
        with torch.no_grad():
            for target, value in zip(targets, values):
                if tuple(target.shape) != tuple(value.shape):
                    raise ValueError(f"{name}: Keras shape {tuple(value.shape)} != twin {tuple(target.shape)}.")
                target.copy_(value)


def _randomize_keras_weights(keras_model, generator):
    """Non-trivial weights (BN statistics and biases included) so the comparison tests every layer."""
    import keras
    import numpy as np

    for layer in keras_model.get_layer("encoder").layers + keras_model.layers:
        weights = layer.get_weights()
        if not weights or isinstance(layer, keras.Model):  # the nested encoder's layers are done one by one
            continue
        if len(weights) == 4:  # BatchNorm: gamma, beta, moving mean, moving variance
            shape = weights[0].shape
            weights = [generator.uniform(0.5, 1.5, shape), generator.normal(0.0, 0.1, shape),
                       generator.normal(0.0, 0.1, shape), generator.uniform(0.5, 1.5, shape)]
        else:
            weights = [weights[0]] + [generator.normal(0.0, 0.1, w.shape) for w in weights[1:]]
        layer.set_weights([np.asarray(w, dtype="float32") for w in weights])


def compare_with_keras(model, net, height=64, width=96, seed=0):
    """Max relative difference of the logits of the Keras model and the twin fed the Keras weights (inference)."""
    import keras
    import numpy as np

    from benchmarks.train import build

    keras_model = build(model, (height, width, 3))
    generator = np.random.default_rng(seed)
    _randomize_keras_weights(keras_model, generator)
    copy_keras_weights(keras_model, net)
    tasks, frames = MODELS[model]
    names = ["image", "previous_image"][:frames]
    images = {name: generator.uniform(0, 255, (2, height, width, 3)).astype("float32") for name in names}
    logits_model = keras.Model(keras_model.input, {task: keras_model.get_layer(f"{task}_up_p3").output
                                                   for task in tasks})
    expected = {task: np.asarray(value) for task, value in logits_model(images, training=False).items()}
    net.eval()
    with torch.no_grad():
        got = net(*[torch.from_numpy(images[name]).permute(0, 3, 1, 2) for name in names])
    differences = {}
    for task in tasks:
        ours = got[task].permute(0, 2, 3, 1).numpy()
        if ours.shape != expected[task].shape:
            raise ValueError(f"{task}: twin output {ours.shape} != Keras {expected[task].shape}.")
        differences[task] = float(np.abs(ours - expected[task]).max() / max(np.abs(expected[task]).max(), 1e-12))
    return keras_model.count_params(), differences


def check(model_names, tolerance=1e-4):
    """Builds each twin, compares its parameter count (and, with Keras, its outputs) with ours; True if all match.

    Without Keras only the count is compared, with the paper's (PAPER_COUNT_KEYS). With Keras the Keras model is built
    at 64x96 with random weights (BatchNorm statistics included), they are copied into the twin, and the logits of
    every task (inference mode) must agree within `tolerance`, relative to their largest magnitude.
    """
    all_ok = True
    for model in model_names:
        net = build_twin(model)
        params = count_params(net)
        key = PAPER_COUNT_KEYS[model]
        ok = matches_paper_count(key, params)
        printed = PARAMETER_COUNTS[key][3]
        printed = f"{printed:,}" if isinstance(printed, int) else f"{printed} (printed rounded)"
        line = f"{model}: pytorch twin {params:,} parameters, the paper's {printed}"
        if importlib.util.find_spec("keras") is None:
            line += "; Keras not importable, outputs not compared"
        else:
            keras_params, differences = compare_with_keras(model, net)
            ok = ok and keras_params == params and all(value <= tolerance for value in differences.values())
            diffs = ", ".join(f"{task} {value:.1e}" for task, value in differences.items())
            line += (f", Keras count_params {keras_params:,}; logits with Keras' weights, max relative difference "
                     f"{diffs} (tolerance {tolerance:g})")
        print(f"{line}: {'OK' if ok else 'MISMATCH'}", flush=True)
        all_ok = all_ok and ok
    return all_ok


# ------------------------------------------------------------------------------------------------------ main
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_reference",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), help="network to train (required unless --check)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32")
    parser.add_argument("--channels-last", action="store_true", help="model and images in torch.channels_last")
    parser.add_argument("--steps", type=int, default=10, help="measured training steps (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps first (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default os.cpu_count())")
    fp32 = parser.add_mutually_exclusive_group()
    fp32.add_argument("--fp32-score-layers", action="store_true",
                      help="bf16: run the 1x1 score convolutions outside autocast, in float32 (the workaround for "
                           "the heap corruption of the issue; see the module docstring)")
    fp32.add_argument("--fp32-decoder", action="store_true",
                      help="bf16: run the whole FCN8 decoder in float32, as models/decoders.py does under a Keras "
                           "mixed-precision policy")
    parser.add_argument("--check", action="store_true",
                        help="compare the twin's parameter count (and outputs, with Keras) with our model; exit 1 "
                             "on a mismatch. Checks --model, or both models without it")
    args = parser.parse_args(argv)
    if torch is None:
        print(f"{INSTALL_HINT}\n({type(_TORCH_IMPORT_ERROR).__name__}: {_TORCH_IMPORT_ERROR})", file=sys.stderr)
        return 2
    if args.check:
        return 0 if check([args.model] if args.model else sorted(MODELS)) else 1
    if args.model is None:
        parser.error("--model is required (segnet or multinet_pp)")
    for name in ("batch_size", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    result = benchmark(args.model, args.batch_size, args.precision, args.channels_last, args.steps, args.warmup,
                       args.threads, args.fp32_score_layers, args.fp32_decoder)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
