"""models.batch_norm.BatchNormalization: Keras' batch norm maths through TensorFlow's fused kernel, same weights and files."""
import numpy as np
import pytest
import keras
import tensorflow as tf

from common import keras_compat
import models
from models.batch_norm import BatchNormalization as FusedBatchNormalization, fuse_batch_norm

SHAPE = (2, 7, 9, 5)


def _pair(rng, shape=SHAPE, **options):
    """Keras' BatchNormalization and ours with the same options and random weights."""
    stock, fused = keras.layers.BatchNormalization(**options), FusedBatchNormalization(**options)
    stock.build(shape)
    fused.build(shape)
    channels = shape[options.get("axis", -1)]
    weights = [rng.normal(1.0, 0.1, channels), rng.normal(0.0, 0.1, channels), rng.normal(0.0, 0.1, channels),
               rng.uniform(0.5, 2.0, channels)]
    for layer in (stock, fused):
        layer.set_weights([w.astype("float32") for w in weights])
    return stock, fused


def _train_step(layer, x, weights):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2 * weights)
    return (np.asarray(tf.cast(y, tf.float32)), [np.asarray(g) for g in tape.gradient(loss, [x, layer.gamma, layer.beta])],
            [w.copy() for w in layer.get_weights()[2:]])


@pytest.mark.parametrize("policy,tolerance", [("float32", 1e-5), ("mixed_bfloat16", 1e-2)])
def test_training_and_inference_equal_keras_batch_normalization(policy, tolerance):
    """Outputs, gradients (input, gamma, beta) and the moving statistics (biased batch variance, as Keras) agree."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        rng = np.random.default_rng(0)
        stock, fused = _pair(rng, momentum=0.9, epsilon=1.001e-5)
        x = rng.normal(3.0, 2.0, SHAPE).astype("float32")
        initial_variance = stock.moving_variance.numpy().copy()
        weights = tf.constant(rng.normal(size=SHAPE).astype("float32"))
        (y_stock, grads_stock, moving_stock), (y_fused, grads_fused, moving_fused) = (
            _train_step(stock, x, weights), _train_step(fused, x, weights))
        assert fused(tf.constant(x)).dtype == stock(tf.constant(x)).dtype == keras.mixed_precision.global_policy().compute_dtype
        np.testing.assert_allclose(y_fused, y_stock, atol=tolerance * 3)
        for grad_fused, grad_stock in zip(grads_fused, grads_stock):
            np.testing.assert_allclose(grad_fused, grad_stock, atol=tolerance * np.abs(grad_stock).max())
        for mine, theirs in zip(moving_fused, moving_stock):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5)
        # The moving variance moved towards the biased variance of the batch (n, not n - 1).
        seen = np.asarray(tf.cast(tf.cast(x, fused.compute_dtype), tf.float32))  # what the layer got: bfloat16 rounds
        biased = seen.reshape(-1, SHAPE[-1]).astype("float64").var(axis=0)
        np.testing.assert_allclose(moving_fused[1], 0.9 * initial_variance + 0.1 * biased, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(tf.cast(fused(tf.constant(x), training=False), tf.float32)),
                                   np.asarray(tf.cast(stock(tf.constant(x), training=False), tf.float32)),
                                   atol=tolerance * 3)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_single_value_per_channel_keeps_finite_statistics():
    rng = np.random.default_rng(1)
    stock, fused = _pair(rng, shape=(1, 1, 1, 3))
    x = rng.normal(size=(1, 1, 1, 3)).astype("float32")
    for layer in (stock, fused):
        assert np.all(np.isfinite(np.asarray(layer(tf.constant(x), training=True))))
    np.testing.assert_allclose(fused.moving_variance.numpy(), stock.moving_variance.numpy(), rtol=1e-6)


@pytest.mark.parametrize("options,shape", [({"synchronized": True}, SHAPE), ({}, (2, 5)),
                                           ({"epsilon": 1e-6}, SHAPE), ({"axis": 1}, SHAPE)])
def test_what_the_fused_kernel_cannot_do_runs_keras_code(options, shape):
    rng = np.random.default_rng(2)
    stock, fused = _pair(rng, shape=shape, **options)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    assert not fused.fusable(x)
    np.testing.assert_array_equal(np.asarray(fused(x, training=True)), np.asarray(stock(x, training=True)))


def test_the_train_step_runs_the_fused_kernel():
    layer = FusedBatchNormalization()
    layer.build(SHAPE)
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec(SHAPE, tf.float32)).graph
    op_types = {op.type for op in graph.get_operations()}
    assert "FusedBatchNormV3" in op_types and "Rsqrt" not in op_types


def test_fuse_batch_norm_keeps_names_weights_and_outputs():
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.Activation("relu", name="relu")(x))
    model.get_layer("bn").set_weights([np.full(4, v, "float32") for v in (1.5, 0.2, 0.1, 2.0)])
    fused = fuse_batch_norm(model)
    assert [layer.name for layer in fused.layers] == [layer.name for layer in model.layers]
    assert type(fused.get_layer("bn")) is FusedBatchNormalization and fused.count_params() == model.count_params()
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(fused.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_resnet50_models_train_every_batch_norm_fused():
    model = models.build_segnet(5, input_shape=(64, 96, 3))
    norms = [layer for layer in keras_compat.all_sublayers(model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 53 and all(type(layer) is FusedBatchNormalization for layer in norms)


def test_models_saved_with_keras_batch_normalization_still_load(tmp_path):
    """.keras and .weights.h5 files from before the fused layer (Keras' BatchNormalization) load and predict the same."""
    model = models.build_segnet(5, input_shape=(64, 96, 3), backbone="resnet10")
    plain = keras.models.clone_model(
        model, clone_function=lambda layer: (
            keras.layers.BatchNormalization.from_config(layer.get_config())
            if isinstance(layer, FusedBatchNormalization) else layer.__class__.from_config(layer.get_config())),
        recursive=True)
    plain.set_weights(model.get_weights())
    path = tmp_path / "plain.keras"
    plain.save(path)
    loaded = keras.saving.load_model(path)
    assert not any(isinstance(layer, FusedBatchNormalization)
                   for layer in keras_compat.all_sublayers(loaded))
    plain.save_weights(tmp_path / "plain.weights.h5")  # weight files key layers by class name: ours keeps Keras'
    rebuilt = models.build_segnet(5, input_shape=(64, 96, 3), backbone="resnet10")
    rebuilt.load_weights(tmp_path / "plain.weights.h5")
    for mine, theirs in zip(rebuilt.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    x = np.random.default_rng(4).uniform(0, 255, (2, 64, 96, 3)).astype("float32")
    expected, actual = model.predict({"image": x}, verbose=0), loaded.predict({"image": x}, verbose=0)
    for task in expected:
        np.testing.assert_allclose(actual[task], expected[task], atol=1e-5)
