"""What our ONNX export rewrites in tf2onnx's graph: the layout work it leaves around the NHWC boundary.

tf2onnx runs the network in NCHW, ONNX Runtime's convolution layout, and transposes at the NHWC inputs and outputs of
our models; it already folds batch norm into the convolutions and cancels the transposes between them. Two costs were
left, measured in ONNX Runtime on SegNet at 224x384 (2 threads) against PyTorch's own export of the same network:

- a softmax output became a softmax over axis 1 of NCHW followed by the NHWC transpose; ONNX Runtime runs a softmax
  over a non-last axis as transpose, softmax, transpose back (88 ms on 12 x 224 x 384 probabilities, against 6 ms for
  transposing first and taking the softmax over the last, contiguous axis). `softmax_after_transpose` swaps them.
- an output that the graph also reads on (the streaming step's `features_P3..P5`, which the next stage convolves) is
  transposed to NHWC for the output and back to NCHW for the convolution. `cancel_transpose_pairs` lets the
  convolution read the NCHW tensor.

Both are exact rewrites (the same numbers, up to float rounding order).
"""
import onnx

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def tidy_layout(path):
    """Rewrites the ONNX file at `path` in place."""
    model = onnx.load(path)
    softmax_after_transpose(model.graph)
    cancel_transpose_pairs(model.graph)
    onnx.save(model, path)


def _attribute(node, name, default=None):
    found = [attribute for attribute in node.attribute if attribute.name == name]
    return onnx.helper.get_attribute_value(found[0]) if found else default


def readers_of(graph, name):
    """The nodes of `graph` that read the tensor `name`."""
    return [node for node in graph.node if name in node.input]


def softmax_after_transpose(graph):
    """Softmax(axis=1) -> Transpose(NCHW -> NHWC) becomes Transpose -> Softmax(axis=3)."""
    for softmax in [node for node in graph.node if node.op_type == "Softmax" and _attribute(node, "axis") == 1]:
        readers = readers_of(graph, softmax.output[0])
        if len(readers) != 1 or readers[0].op_type != "Transpose" or list(_attribute(readers[0], "perm")) != TO_NHWC:
            continue
        transpose = readers[0]
        transpose.input[0], softmax.input[0] = softmax.input[0], softmax.output[0]
        transpose.output[0], softmax.output[0] = softmax.output[0], transpose.output[0]
        next(attribute for attribute in softmax.attribute if attribute.name == "axis").i = 3
        graph.node.remove(transpose)  # now before the softmax: keep the nodes in topological order
        graph.node.insert(list(graph.node).index(softmax), transpose)
        for value in [value for value in graph.value_info if value.name == transpose.output[0]]:
            graph.value_info.remove(value)  # recorded in NCHW; the tensor is NHWC now


def cancel_transpose_pairs(graph):
    """A Transpose(NHWC -> NCHW) reading a Transpose(NCHW -> NHWC) is dropped; its readers read the NCHW tensor."""
    producers = {output: node for node in graph.node for output in node.output}
    outputs = {value.name for value in graph.output}
    for back in [node for node in graph.node if node.op_type == "Transpose"]:
        there = producers.get(back.input[0])
        if (there is None or there.op_type != "Transpose" or list(_attribute(back, "perm")) != TO_NCHW
                or list(_attribute(there, "perm")) != TO_NHWC or back.output[0] in outputs):
            continue
        for reader in readers_of(graph, back.output[0]):
            reader.input[:] = [there.input[0] if name == back.output[0] else name for name in reader.input]
        graph.node.remove(back)
