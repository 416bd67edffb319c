"""Small weight-free layers the builders need: input normalisation and frame stacking.

They hold no variables, so they never change the papers' parameter counts.
"""
import keras
from keras import ops

# ImageNet statistics of the two conventions pretrained ResNets use.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
_TORCH_RGB_STD = (0.229, 0.224, 0.225)

NORMALIZATION_MODES = ("caffe", "torch", "lab", "lightness", "none")


@keras.saving.register_keras_serializable(package="mtl")
class ImageNormalization(keras.layers.Layer):
    """Maps raw RGB pixels in [0, 255] to what an encoder expects.

    Living inside the model means a user (or a SavedModel client) always feeds raw pixels.

    Modes:
      caffe      RGB->BGR minus the ImageNet BGR mean (keras.applications ResNet50 weights).
      torch      x/255, minus ImageNet mean, over ImageNet std (ResNet-18/10 weights converted from torchvision).
      lab        CIE Lab with L/50-1 and a/128, b/128, so every channel is about [-1, 1] (Novosel et al. 4.1).
      lightness  the L channel of Lab, scaled like `lab`, repeated three times (Novosel's colorization input).
      none       unchanged.
    """

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in NORMALIZATION_MODES:
            raise ValueError(f"ImageNormalization: mode={mode!r} is not one of {NORMALIZATION_MODES}.")
        self.mode = mode

    def call(self, images):
        # Computed in float32 and handed on in the compute dtype: under mixed precision the colour maths (powers,
        # cube roots) and the mean subtraction keep their accuracy, and the encoder still gets bfloat16/float16.
        return ops.cast(self._normalize(ops.cast(images, "float32")), self.compute_dtype)

    def _normalize(self, images):
        if self.mode == "caffe":
            return ops.flip(images, axis=-1) - ops.convert_to_tensor(_CAFFE_BGR_MEAN, "float32")
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_RGB_MEAN, "float32")
            std = ops.convert_to_tensor(_TORCH_RGB_STD, "float32")
            return (images / 255.0 - mean) / std
        if self.mode in ("lab", "lightness"):
            from data.color import rgb_to_lab

            scale = ops.convert_to_tensor((1.0 / 50.0, 1.0 / 128.0, 1.0 / 128.0), "float32")
            shift = ops.convert_to_tensor((-1.0, 0.0, 0.0), "float32")
            lab = rgb_to_lab(images) * scale + shift
            if self.mode == "lightness":
                return ops.repeat(lab[..., :1], 3, axis=-1)
            return lab
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="mtl")
class StackFrames(keras.layers.Layer):
    """Stacks per-frame feature maps on a new time axis (B, T, H, W, C), oldest frame first, for ConvLSTM2D."""

    def call(self, frames):
        return ops.stack(frames, axis=1)

    def compute_output_shape(self, shapes):
        return (shapes[0][0], len(shapes)) + tuple(shapes[0][1:])
