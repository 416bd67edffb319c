"""Frame-by-frame inference for 2-frame models that encodes each frame once.

MultiNet++ notes that in a video stream the previous frame's features were already computed for the previous
step, so a 2-frame model costs one encoder pass per frame. `StreamingPredictor` splits a trained 2-frame model
into its shared encoder and the rest of the graph (aggregation and decoders), runs the encoder on the new frame
only and feeds the cached features of the previous frame. Its outputs equal the full model's on the same pair.
"""
import numpy as np
import keras

from models.aggregation import aggregated_frame_features

PREVIOUS = "previous_"  # step-model inputs: previous_P3, previous_P4, previous_P5
FEATURES = "features_"  # step-model outputs beside the tasks: features_P3, ...


class StreamingPredictor:
    """`step(frame) -> {task: output}` for a 2-frame `MultiTaskModel`; `reset()` at a new sequence.

    One compiled call per frame: `step_model` maps (frame t, cached features of frame t-1) to the task outputs
    and the features of frame t. The first frame after a reset has no predecessor: it is paired with itself
    (documented choice; the output is what the model gives for a static scene).
    """

    def __init__(self, model):
        self.model = model
        self.encoder = model.get_layer("encoder")
        self.step_model = streaming_step_model(model)
        self.levels = tuple(sorted(name[len(FEATURES):] for name in self.step_model.output if name.startswith(FEATURES)))
        self._previous = None

    def reset(self):
        self._previous = None

    def step(self, frame):
        """frame: (H, W, 3) or (1, H, W, 3) raw RGB; returns the model's outputs for (previous frame, frame)."""
        frame = np.asarray(frame, dtype="float32")
        if frame.ndim == 3:
            frame = frame[None]
        if self._previous is None:
            self._previous = self.encoder.predict_on_batch(frame)
        result = self.step_model.predict_on_batch(
            {"image": frame, **{f"{PREVIOUS}{level}": self._previous[level] for level in self.levels}})
        self._previous = {level: result.pop(f"{FEATURES}{level}") for level in self.levels}
        return result


def streaming_step_model(model, tasks=None):
    """The streaming step as one Keras model with flat named inputs and outputs, ready for export:
    inputs `image` and `previous_P3`.. (the previous frame's cached features), outputs one per task (`tasks`, default
    all) and `features_P3`.. (this frame's features, the next step's `previous_*`).

    A deployment starts a sequence by calling the step once with zeros as `previous_*` and discarding the task
    outputs: the features only depend on the frame, so the second call on the same frame gives what
    `StreamingPredictor` gives for a first frame (the frame paired with itself).

    Built from public API only: the aggregation layers' inputs locate the encoder outputs of both frames
    (`models.aggregation.aggregated_frame_features`), the graph between them and the task outputs becomes the head,
    and the head is applied to a fresh call of the shared encoder.
    """
    if getattr(model, "frames", 1) != 2:
        raise ValueError("Streaming needs a 2-frame model (inputs 'image' and 'previous_image').")
    try:
        encoder = model.get_layer("encoder")
    except ValueError as error:
        raise ValueError("Streaming needs the shared encoder as a sub-model named 'encoder'.") from error
    tasks = list(model.output) if tasks is None else list(tasks)
    pairs = aggregated_frame_features(model)
    head = keras.Model({"previous": {level: previous for level, (previous, _) in pairs.items()},
                        "current": {level: current for level, (_, current) in pairs.items()}},
                       {task: model.output[task] for task in tasks}, name=f"{model.name}_head")
    image = keras.Input(shape=tuple(encoder.input.shape[1:]), name="image")
    current = encoder(image)
    previous = {level: keras.Input(shape=tuple(current[level].shape[1:]), name=f"{PREVIOUS}{level}")
                for level in pairs}
    outputs = head({"previous": previous, "current": {level: current[level] for level in pairs}})
    features = {f"{FEATURES}{level}": keras.layers.Identity(name=f"{FEATURES}{level}")(current[level])
                for level in pairs}
    return keras.Model({"image": image, **{f"{PREVIOUS}{level}": tensor for level, tensor in previous.items()}},
                       {**outputs, **features}, name=f"{model.name}_streaming_step")
