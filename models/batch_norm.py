"""Keras' BatchNormalization, trained through one fused kernel per layer under TensorFlow.

Keras 3 writes batch normalisation once for every backend, from generic ops: under TensorFlow a training step
runs about twenty small kernels per layer forward and more backward, with casts to float32 and back under mixed
precision. ResNet-50 has 53 such layers, and on a 2-core CPU they cost a fifth of SegNet's training step
(`python -m benchmarks.profile_step --model segnet`). PyTorch, and XLA under JAX, run one kernel.

`models.batch_norm.BatchNormalization` keeps Keras' weights, configuration and maths, including the biased batch
variance in the moving averages; only the TensorFlow kernel differs (models/batch_norm_tensorflow.py, the one place
that calls TensorFlow). Other backends, synchronised (cross-replica) statistics, masks, other ranks or axes and an
epsilon below what the fused kernel accepts run Keras' own code.

It keeps Keras' class name on purpose: `.weights.h5` files key a functional model's layers by their class name
(`batch_normalization_3/vars/0`), so weights saved before it existed, or from a model built with Keras' layer,
load into ours and back. In `.keras` files it is `mtl>BatchNormalization`; files with Keras' own layer load as
they are.
"""
import keras

# TensorFlow's fused kernel (cuDNN's limit) rejects a smaller epsilon.
FUSED_MIN_EPSILON = 1.001e-5
_FUSED_DTYPES = ("float32", "bfloat16", "float16")


@keras.saving.register_keras_serializable(package="mtl")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with TensorFlow's fused kernel where it applies; same weights and config."""

    def call(self, inputs, training=None, mask=None):
        if keras.backend.backend() == "tensorflow" and self.fusable(inputs, mask):
            from models.batch_norm_tensorflow import fused_batch_normalization

            return fused_batch_normalization(self, inputs, training=bool(training and self.trainable))
        return super().call(inputs, training=training, mask=mask)

    def fusable(self, inputs, mask=None):
        """Whether `inputs` can go through the fused kernel: NHWC feature maps, channels last, no mask, per-replica
        statistics, epsilon >= FUSED_MIN_EPSILON, a float32/bfloat16/float16 input."""
        rank = len(inputs.shape)
        return (mask is None and rank == 4 and self.axis in (-1, rank - 1) and not self.synchronized
                and self.epsilon >= FUSED_MIN_EPSILON and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES)


def fuse_batch_norm(model):
    """A copy of functional `model` with every plain `keras.layers.BatchNormalization` (such as keras.applications'
    ResNet-50's) replaced by ours (`BatchNormalization` of this module): same layer names, weights and parameter
    count."""

    def clone(layer):
        if type(layer) is keras.layers.BatchNormalization:
            return BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    fused = keras.models.clone_model(model, clone_function=clone, recursive=True)
    fused.set_weights(model.get_weights())
    return fused
