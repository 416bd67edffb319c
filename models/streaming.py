"""Frame-by-frame inference for 2-frame models that encodes each frame once.

MultiNet++ notes that in a video stream the previous frame's features were already computed for the previous
step, so a 2-frame model costs one encoder pass per frame. `StreamingPredictor` splits a trained 2-frame model
into its shared encoder and the rest of the graph (aggregation and decoders), runs the encoder on the new frame
only and feeds the cached features of the previous frame. Its outputs equal the full model's on the same pair.
"""
import numpy as np
import keras


class StreamingPredictor:
    """`step(frame) -> {task: output}` for a 2-frame `MultiTaskModel`; `reset()` at a new sequence.

    One compiled call per frame: a step model maps (frame t, cached features of frame t-1) to the task outputs
    and the features of frame t. The first frame after a reset has no predecessor: it is paired with itself
    (documented choice; the output is what the model gives for a static scene).
    """

    def __init__(self, model):
        if getattr(model, "frames", 1) != 2:
            raise ValueError("StreamingPredictor needs a 2-frame model (inputs 'image' and 'previous_image').")
        self.model = model
        self.encoder = model.get_layer("encoder")
        previous_features, current_features = self._encoder_calls(self.encoder)
        self.levels, head = self._head_model(model, previous_features, current_features)
        image = keras.Input(shape=tuple(self.encoder.input.shape[1:]), name="image")
        current = self.encoder(image)
        previous = {level: keras.Input(shape=tuple(current[level].shape[1:]), name=f"previous_{level}")
                    for level in self.levels}
        outputs = head({"previous": previous, "current": {level: current[level] for level in self.levels}})
        self.step_model = keras.Model({"image": image, **{f"previous_{k}": v for k, v in previous.items()}},
                                      {"outputs": outputs, "features": {k: current[k] for k in self.levels}},
                                      name=f"{model.name}_streaming_step")
        self._previous = None

    @staticmethod
    def _encoder_calls(encoder):
        # Each call of the shared encoder is a node; its outputs follow keras.tree.flatten, i.e. sorted level names.
        by_input = {}
        for node in encoder._inbound_nodes:
            if node.input_tensors:
                by_input[node.input_tensors[0].name] = node.outputs
        levels = sorted(encoder.output.keys())
        try:
            previous, current = by_input["previous_image"], by_input["image"]
        except KeyError as error:
            raise ValueError("The model's encoder is not applied to both 'image' and 'previous_image'.") from error
        return dict(zip(levels, previous)), dict(zip(levels, current))

    @staticmethod
    def _head_model(model, previous, current):
        """The graph after the encoder, fed only the pyramid levels it reads (FCN8: P3-P5), else all."""
        for levels in (("P3", "P4", "P5"), tuple(sorted(current))):
            try:
                head = keras.Model({"previous": {k: previous[k] for k in levels},
                                    "current": {k: current[k] for k in levels}}, model.output,
                                   name=f"{model.name}_head")
                return levels, head
            except ValueError:
                continue
        raise ValueError("Could not separate the model's decoders from its encoder.")

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
            {"image": frame, **{f"previous_{k}": self._previous[k] for k in self.levels}})
        self._previous = result["features"]
        return result["outputs"]
