"""TensorFlow's fused batch-normalisation kernel behind `models.batch_norm.BatchNormalization`.

The one TensorFlow-specific piece of the model code, imported only under the TensorFlow backend. oneDNN builds
of TensorFlow run `FusedBatchNormV3` and its gradient as single oneDNN primitives (`_MklNativeFusedBatchNormV3`,
`_MklNativeFusedBatchNormGradV3`, and `_MklNativeFusedBatchNormEx` where a ReLU follows).
"""
import tensorflow as tf


def fused_batch_normalization(layer, inputs, training):
    """What `keras.layers.BatchNormalization.call` returns (and, training, how it moves the moving statistics),
    through one `FusedBatchNormV3`. `layer` is built; `inputs` are NHWC in float32, bfloat16 or float16, and the
    kernel computes in float32 whatever their dtype."""
    channels = inputs.shape[-1]
    gamma = tf.convert_to_tensor(layer.gamma) if layer.scale else tf.ones([channels], tf.float32)
    beta = tf.convert_to_tensor(layer.beta) if layer.center else tf.zeros([channels], tf.float32)
    if not training:
        outputs, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=gamma, offset=beta, mean=tf.convert_to_tensor(layer.moving_mean),
            variance=tf.convert_to_tensor(layer.moving_variance), epsilon=layer.epsilon, data_format="NHWC",
            is_training=False)
        return tf.cast(outputs, layer.compute_dtype)
    empty = tf.constant([], tf.float32)
    outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=inputs, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=layer.epsilon, data_format="NHWC",
        is_training=True)
    # The kernel hands back the unbiased batch variance (n - 1) for the running estimate; Keras' moving average
    # uses the biased one, the variance it normalised with. One sample has variance 0 either way.
    count = tf.cast(tf.size(inputs, out_type=tf.int64) // channels, tf.float32)
    variance = variance * (tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0))
    momentum = tf.constant(layer.momentum, tf.float32)
    layer.moving_mean.assign(tf.convert_to_tensor(layer.moving_mean) * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(tf.convert_to_tensor(layer.moving_variance) * momentum
                                 + variance * (1.0 - momentum))
    return tf.cast(outputs, layer.compute_dtype)
