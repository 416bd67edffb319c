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

    The first frame after a reset has no predecessor: it is paired with itself (documented choice; the output
    is what the model gives for a static scene).
    """

    def __init__(self, model):
        if getattr(model, "frames", 1) != 2:
            raise ValueError("StreamingPredictor needs a 2-frame model (inputs 'image' and 'previous_image').")
        self.model = model
        self.encoder = model.get_layer("encoder")
        previous_features, current_features = self._encoder_calls(model, self.encoder)
        self.head = keras.Model({"previous": previous_features, "current": current_features}, model.output,
                                name=f"{model.name}_head")
        self._previous = None

    @staticmethod
    def _encoder_calls(model, encoder):
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

    def reset(self):
        self._previous = None

    def step(self, frame):
        """frame: (H, W, 3) or (1, H, W, 3) raw RGB; returns the model's outputs for (previous frame, frame)."""
        frame = np.asarray(frame, dtype="float32")
        if frame.ndim == 3:
            frame = frame[None]
        current = self.encoder.predict_on_batch(frame)
        previous = self._previous if self._previous is not None else current
        outputs = self.head.predict_on_batch({"previous": previous, "current": current})
        self._previous = current
        return outputs
