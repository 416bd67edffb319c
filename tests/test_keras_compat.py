"""common.keras_compat: every private Keras attribute the package uses still exists on the installed Keras.

A Keras upgrade that renames one fails here, naming it, rather than deep inside a train step."""
import os

import keras
import numpy as np
import pytest

from common import keras_compat


def _resolve(dotted):
    target = keras
    for part in dotted.split(".")[1:]:
        target = getattr(target, part)
    return target


def _instance(class_name):
    """An instance in the state where the attribute is set (compiled model, built optimizer)."""
    if class_name == "keras.layers.Layer":
        return keras.layers.Dense(2)
    if class_name == "keras.Model":
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        return model
    optimizer_class = keras.optimizers.SGD if class_name == "keras.optimizers.Optimizer" else _resolve(class_name)
    optimizer = optimizer_class(learning_rate=0.1)
    optimizer.build([keras.Variable(np.zeros(2, "float32"))])
    return optimizer


@pytest.mark.parametrize("class_name, attribute", keras_compat.PRIVATE_ATTRIBUTES,
                         ids=[f"{c}.{a}" for c, a in keras_compat.PRIVATE_ATTRIBUTES])
def test_private_attribute_exists(class_name, attribute):
    instance = _instance(class_name)
    assert hasattr(instance, attribute), (
        f"Keras {keras.__version__} has no {class_name}.{attribute}: common/keras_compat.py must be updated for it")


@pytest.mark.parametrize("module, function, keyword", keras_compat.PRIVATE_FUNCTIONS,
                         ids=[f"{m}.{f}" for m, f, _ in keras_compat.PRIVATE_FUNCTIONS])
def test_private_function_exists(module, function, keyword):
    import importlib
    import inspect

    found = getattr(importlib.import_module(module), function, None)
    assert found is not None and keyword in inspect.signature(found).parameters, (
        f"Keras {keras.__version__} has no {module}.{function}({keyword}=...): common/keras_compat.py must be "
        f"updated for it")


def test_weights_without_optimizer_hold_the_network_only(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    full, network = str(tmp_path / "full.weights.h5"), str(tmp_path / "network.weights.h5")
    model.save_weights(full)
    keras_compat.save_weights_without_optimizer(model, network)
    assert os.path.getsize(network) < os.path.getsize(full)
    expected = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in expected])
    keras_compat.load_weights_without_optimizer(model, network)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(got, want)
    keras_compat.load_weights_without_optimizer(model, full)  # a file with the optimizer's part loads too


def test_track_variable_makes_it_a_weight_and_untrack_removes_it():
    layer = keras.layers.Dense(2)  # tracked before build, as MultiTaskModel attaches its weighting in __init__
    extra = keras.Variable(np.ones(4, "float32"), name="extra")
    keras_compat.track_variable(layer, extra)
    assert any(w is extra for w in layer.weights)
    keras_compat.untrack_variable(layer, extra)
    assert not any(w is extra for w in layer.weights)


def test_all_sublayers_reaches_nested_models():
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="inner_norm")(inner_in), name="inner")
    outer_in = keras.Input((3,))
    outer = keras.Model(outer_in, keras.layers.Dense(2, name="head")(inner(outer_in)))
    names = {layer.name for layer in keras_compat.all_sublayers(outer)}
    assert {"inner", "inner_norm", "head"} <= names
    assert outer.name not in names


def test_compiled_metrics_and_loss_tracker():
    model = _instance("keras.Model")
    assert keras_compat.has_compiled_metrics(model)
    assert keras_compat.compiled_metrics_config(model) == ["mae"]
    tracker = keras_compat.loss_tracker(model)
    tracker.update_state(2.0)
    assert float(tracker.result()) == 2.0
    bare = keras.Sequential([keras.layers.Dense(1)])
    assert keras_compat.compiled_metrics_config(bare) is None


def test_adam_slots_are_the_moments_adam_updates():
    variable = keras.Variable(np.zeros(3, "float32"))
    optimizer = keras.optimizers.Adam(learning_rate=0.1)
    optimizer.apply_gradients([(np.ones(3, "float32"), variable)])
    momentum, velocity = keras_compat.adam_slots(optimizer, variable)
    np.testing.assert_allclose(np.asarray(momentum), 0.1 * np.ones(3), rtol=1e-5)  # (1 - beta_1) * g
    np.testing.assert_allclose(np.asarray(velocity), 0.001 * np.ones(3), rtol=1e-4)  # (1 - beta_2) * g^2


def test_a_keras_file_written_by_an_older_main_still_loads_and_predicts_the_same(tmp_path):
    """tests/fixtures/keras_from_main: a ResNet-10 segmentation + depth model at 64x96, compiled with GLS, saved by
    main at 949b731 (before tasks/, common/ and the runner's split); its weights are made from seeds
    (seeded.py) and its predictions were recorded by that main."""
    import sys

    import models

    folder = os.path.join(os.path.dirname(__file__), "fixtures", "keras_from_main")
    sys.path.insert(0, folder)
    try:
        import seeded
    finally:
        sys.path.remove(folder)
    path = seeded.keras_file(folder, str(tmp_path / "from_main.keras"))
    expected = np.load(os.path.join(folder, "expected.npz"))
    for compile in (True, False):
        model = keras.saving.load_model(path, compile=compile)
        assert isinstance(model, models.MultiTaskModel) and model.tasks == ("segmentation", "depth")
        assert (type(model.weighting).__name__ == "GeometricLossStrategy") == compile
        predicted = model.predict_on_batch({"image": expected["image"]})
        for task in model.tasks:
            np.testing.assert_allclose(predicted[task], expected[task], atol=1e-5, err_msg=task)
