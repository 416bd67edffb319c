"""The PyTorch twin's side of `python -m benchmarks.inference`, imported only where torch is installed.

The twin is `benchmarks.torch_reference`'s network (our SegNet / MultiNet++ written in PyTorch, logits out). For the
streaming step it gets the same split as ours: the encoder on the new frame only, its levels concatenated with the
previous frame's cached ones, the decoders, and the new features returned for the next frame.
"""
import os

import numpy as np
import torch
from torch import nn

from benchmarks.torch_reference import build_twin

LEVELS = ("P3", "P4", "P5")


class StreamingStep(nn.Module):
    """(image, previous_P3, previous_P4, previous_P5) -> (task logits..., features_P3, features_P4, features_P5)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image, previous_p3, previous_p4, previous_p5):
        current = self.net.encoder(image)
        pyramid = [torch.cat([now, before], dim=1) for now, before in zip(current, (previous_p3, previous_p4,
                                                                                    previous_p5))]
        return (*(decoder(*pyramid) for decoder in self.net.decoders.values()), *current)


def twin(args):
    """The twin in inference mode (seed 0), the streaming step of it with --streaming, and its output names."""
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    net = build_twin(args.model).eval()
    if args.streaming:
        return StreamingStep(net).eval(), [*net.tasks, *(f"features_{level}" for level in LEVELS)]
    return net, list(net.tasks)


def _nchw(inputs, channels_last=False):
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return [torch.from_numpy(np.ascontiguousarray(value.transpose(0, 3, 1, 2))).contiguous(memory_format=memory_format)
            for value in inputs.values()]


def torch_runner(args, runtime, inputs):
    """A function running one frame of the twin the way `runtime` says (eager, bf16 + channels_last, compiled)."""
    net, _ = twin(args)
    channels_last = runtime == "torch_bf16"
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if runtime == "torch_compile":
        net = torch.compile(net)
    tensors = _nchw(inputs, channels_last)

    def run():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=runtime == "torch_bf16"):
            return net(*tensors)

    return run


def prepare_onnx(args, inputs):
    """The twin's own ONNX export (torch.onnx, TorchScript-based exporter) and its int8 version through our quantiser
    (models.quantize.quantize_onnx_file, decoders left float as ours are), calibrated on the same synthetic scenes."""
    from models import quantize

    net, outputs = twin(args)
    names = list(inputs)
    float_path = os.path.join(args.work, "torch_float32", "model.onnx")
    int8_path = os.path.join(args.work, "torch_int8", "model.onnx")
    if not os.path.exists(float_path):
        os.makedirs(os.path.dirname(float_path), exist_ok=True)
        with torch.inference_mode():
            torch.onnx.export(net, tuple(_nchw(inputs)), float_path, input_names=names, output_names=outputs,
                              opset_version=17, dynamo=False)
    if os.path.exists(int8_path):
        return
    frames = quantize.calibration_frames("kitti", None, 2 if args.model == "multinet_pp" else 1, args.size, 8)
    samples = []
    for frame in frames:
        image = _nchw({"image": frame["image"]})[0]
        sample = {"image": image.numpy()}
        if args.streaming:
            with torch.inference_mode():
                previous = net.net.encoder(_nchw({"image": frame["previous_image"]})[0])
            sample.update({name: value.numpy() for name, value in zip(names[1:], previous)})
        elif "previous_image" in names:
            sample["previous_image"] = _nchw({"image": frame["previous_image"]})[0].numpy()
        samples.append(sample)
    import onnx

    decoders = [node.name for node in onnx.load(float_path).graph.node if "/decoders" in node.name]
    os.makedirs(os.path.dirname(int8_path), exist_ok=True)
    quantize.quantize_onnx_file(float_path, int8_path, samples, decoders)
