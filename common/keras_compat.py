"""Every use of a private Keras attribute, in one place.

The package needs a few things Keras 3 keeps private: tracking a weighting strategy's variables on the model that
owns them, the compiled metrics and loss tracker inside `MultiTaskModel`'s own train step, every nested layer
(batch norm of sub-models), and Adam's moment slots for the fused update. A Keras upgrade may rename any of them;
`PRIVATE_ATTRIBUTES` lists them and tests/test_keras_compat.py checks each on the installed Keras, failing with the
attribute's name (requirements.txt pins the tested range, keras>=3.6,<3.13).
"""

#: (the class whose instances carry it, attribute) of every private attribute used below
PRIVATE_ATTRIBUTES = (
    ("keras.layers.Layer", "_track_variable"),
    ("keras.layers.Layer", "_untrack_variable"),
    ("keras.layers.Layer", "_flatten_layers"),
    ("keras.layers.Layer", "_trainable_variables"),
    ("keras.layers.Layer", "_non_trainable_variables"),
    ("keras.Model", "_compile_config"),  # set by compile()
    ("keras.Model", "_compile_metrics"),  # set by compile()
    ("keras.Model", "_loss_tracker"),  # set by compile()
    ("keras.optimizers.Optimizer", "_get_variable_index"),
    ("keras.optimizers.Adam", "_momentums"),  # set by build()
    ("keras.optimizers.Adam", "_velocities"),  # set by build()
)


def track_variable(layer, variable):
    """Makes `variable` one of `layer`'s weights (saved, restored, optimised with it) without being a sublayer."""
    layer._track_variable(variable)


def untrack_variable(layer, variable):
    layer._untrack_variable(variable)


def own_variables(layer):
    """The variables `layer` holds itself (not through sublayers), in the order `save_own_variables` writes them."""
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def all_sublayers(model):
    """Every layer inside `model`, nested sub-models' layers included (not `model` itself)."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def compiled_metrics_config(model):
    """The `metrics` argument `model.compile` got (serialisable), or None."""
    config = getattr(model, "_compile_config", None)
    return config.config.get("metrics") if config else None


def has_compiled_metrics(model):
    return getattr(model, "_compile_metrics", None) is not None


def loss_tracker(model):
    """The Mean metric behind the `loss` log of `fit`."""
    return model._loss_tracker


def adam_slots(optimizer, variable):
    """(first moment, second moment) variables Adam keeps for `variable`."""
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]
