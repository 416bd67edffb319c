"""Adam with one update kernel per variable under TensorFlow: `keras.optimizers.Adam`'s update, computed by
TensorFlow's `ResourceApplyAdam`.

Keras 3 writes Adam once for every backend; under TensorFlow each variable's update is about ten small kernels
(casts, powers, subtractions, squares, a square root, a division, three assignments), over 2,000 per step for
SegNet's 224 variables, where PyTorch runs one fused kernel (`python -m benchmarks.profile_step` lists both).
`ResourceApplyAdam` computes the same update in one:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2);  w -= alpha * m / (sqrt(v) + epsilon)

Everything else (learning-rate schedules, clipping, weight decay, EMA, loss scaling, serialisation) is Keras' Adam.
AMSGrad, other backends, and updates under a tf.distribute strategy (whose mirrored variables Keras updates through
its own assignments) run Keras' code.
"""
import keras

from common.keras_compat import adam_slots


@keras.saving.register_keras_serializable(package="mtl")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, same arguments and update; one `ResourceApplyAdam` per variable under TensorFlow."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or keras.backend.backend() != "tensorflow":
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        if tf.distribute.has_strategy() or not hasattr(variable, "handle"):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        momentum, velocity = adam_slots(self, variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=momentum.value.handle, v=velocity.value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype),
            use_locking=False)
