"""Running an exported file: a SavedModel in TensorFlow, ONNX in ONNX Runtime, LiteRT in its interpreter.

One place for how each runtime is opened (and with how many threads), shared by the export check, the int8
quantisation and `python -m benchmarks.inference`.
"""
import importlib.util

import numpy as np


def onnx_session(path_or_bytes, threads=None):
    """An ONNX Runtime CPU session; `threads` fixes its intra-op thread count (one inter-op thread: the graph runs
    op after op, as TensorFlow and LiteRT do here)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def litert_interpreter(path=None, content=None, threads=None):
    """A LiteRT interpreter (XNNPACK, its default CPU delegate) for a file or flatbuffer bytes, with `threads`.

    `ai-edge-litert` when installed, else TensorFlow 2.20's own interpreter (deprecated in its favour)."""
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter
    else:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=path, model_content=content, num_threads=threads)


def load_exported(path, export_format, threads=None):
    """A function {input name: array} -> {output name: numpy array} running the exported file, opened once."""
    if export_format == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        return lambda inputs: {name: value.numpy() for name, value in loaded.serve(inputs).items()}
    if export_format == "onnx":
        session = onnx_session(path, threads)
        names = [output.name for output in session.get_outputs()]
        feeds = [item.name for item in session.get_inputs()]
        return lambda inputs: dict(zip(names, session.run(names, {name: inputs[name] for name in feeds})))
    runner = litert_interpreter(path, threads=threads).get_signature_runner()
    return lambda inputs: {name: np.asarray(value) for name, value in runner(**inputs).items()}


def run_exported(path, export_format, inputs):
    """{output name: numpy array} of the exported file on `inputs` ({input name: array})."""
    return load_exported(path, export_format)(inputs)
