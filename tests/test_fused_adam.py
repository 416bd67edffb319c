"""FusedAdam: Keras' Adam update through one ResourceApplyAdam per variable, and the same files."""
import numpy as np
import keras
import pytest
import tensorflow as tf

from training.fused_adam import FusedAdam


def _trained_weights(optimizer, steps=5):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model.get_weights(), [v.numpy() for v in model.optimizer.variables]


@pytest.mark.parametrize("options", [{"learning_rate": 0.01}, {"learning_rate": 0.003, "beta_1": 0.5, "beta_2": 0.9,
                                                                "epsilon": 1e-4}])
def test_the_update_equals_keras_adam(options):
    fused, reference = _trained_weights(FusedAdam(**options)), _trained_weights(keras.optimizers.Adam(**options))
    for mine, theirs in zip(fused[0] + fused[1], reference[0] + reference[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)  # float rounding of one fused expression


def test_the_step_runs_one_resource_apply_adam_per_variable():
    variable = keras.Variable(np.ones((3, 2), "float32"))
    optimizer = FusedAdam(0.1)
    optimizer.build([variable])
    graph = tf.function(lambda g: optimizer.apply_gradients([(g, variable)])).get_concrete_function(
        tf.TensorSpec((3, 2), tf.float32)).graph
    op_types = [op.type for op in graph.get_operations()]
    assert op_types.count("ResourceApplyAdam") == 1 and "Sqrt" not in op_types


def test_amsgrad_runs_keras_code_and_agrees():
    fused, reference = (_trained_weights(FusedAdam(0.01, amsgrad=True)),
                        _trained_weights(keras.optimizers.Adam(0.01, amsgrad=True)))
    for mine, theirs in zip(fused[0], reference[0]):
        np.testing.assert_array_equal(mine, theirs)


def test_a_compiled_model_saves_and_loads_with_its_optimizer(tmp_path):
    import models

    model = models.build_segnet(3, input_shape=(64, 96, 3), backbone="resnet10")
    model.compile(optimizer=FusedAdam(2e-4, beta_1=0.8), weighting="gls")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdam and loaded.optimizer.beta_1 == 0.8
    # a fresh process that imports only the models package (as models.predict does) still finds the optimizer
    import subprocess
    import sys

    code = f"import keras, models; print(type(keras.saving.load_model({str(path)!r}).optimizer).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "FusedAdam"
