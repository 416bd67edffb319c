"""Every use of a private Keras attribute, in one place.

The package needs a few things Keras 3 keeps private: tracking a weighting strategy's variables on the model that
owns them, the compiled metrics and loss tracker inside `MultiTaskModel`'s own train step, every nested layer
(batch norm of sub-models), the calls of a sub-model in its parent's graph (the shared representation of the
gradient weighting strategies), and Adam's moment slots for the fused update. A Keras upgrade may rename any of them;
`PRIVATE_ATTRIBUTES` lists them and tests/test_keras_compat.py checks each on the installed Keras, failing with the
attribute's name (requirements.txt pins the tested range, keras>=3.6,<3.13).
"""

#: (the class whose instances carry it, attribute) of every private attribute used below
PRIVATE_ATTRIBUTES = (
    ("keras.layers.Layer", "_track_variable"),
    ("keras.layers.Layer", "_untrack_variable"),
    ("keras.layers.Layer", "_flatten_layers"),
    ("keras.layers.Layer", "_inbound_nodes"),
    ("keras.layers.Layer", "_trainable_variables"),
    ("keras.layers.Layer", "_non_trainable_variables"),
    ("keras.Model", "_compile_config"),  # set by compile()
    ("keras.Model", "_compile_metrics"),  # set by compile()
    ("keras.Model", "_loss_tracker"),  # set by compile()
    ("keras.optimizers.Optimizer", "_get_variable_index"),
    ("keras.optimizers.Adam", "_momentums"),  # set by build()
    ("keras.optimizers.Adam", "_velocities"),  # set by build()
)
#: (module, function, keyword) of private Keras functions used below
PRIVATE_FUNCTIONS = (
    ("keras.src.saving.saving_lib", "save_weights_only", "objects_to_skip"),
    ("keras.src.saving.saving_lib", "load_weights_only", "objects_to_skip"),
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


def call_nodes(layer):
    """Every call of `layer` in the functional graphs that use it (Keras' Node objects, whose `input_tensors` and
    `output_tensors` are the symbolic tensors of that call): a nested model's outputs in its parent graph."""
    return list(layer._inbound_nodes)


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


def save_weights_without_optimizer(model, path):
    """`model.save_weights(path)` without the optimizer's variables (a compiled model's weights file holds them
    otherwise: twice the network's size for Adam)."""
    from keras.src.saving import saving_lib

    saving_lib.save_weights_only(model, path, objects_to_skip=_optimizer(model))


def load_weights_without_optimizer(model, path):
    """`model.load_weights(path)` that leaves the optimizer alone (the file may or may not hold its variables)."""
    from keras.src.saving import saving_lib

    saving_lib.load_weights_only(model, path, objects_to_skip=_optimizer(model))


def _optimizer(model):
    return [model.optimizer] if getattr(model, "optimizer", None) is not None else None
