"""Tests of losses.weighting (task-weighting strategies) and training.gradnorm, against hand-computed
values of each paper equation (the gradient-level strategies' hand-made cases: tests/test_gradient_weighting.py)."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from losses import weighting
from training.gradnorm import gradnorm_train_step

TASKS = ("segmentation", "depth", "motion")
OPTIONS = {
    "fixed": {"weights": {"segmentation": 2.0, "depth": 0.5, "motion": 3.0}},
    "fls": {"focus": ["segmentation"]},
    "async": {"frequencies": {"depth": 2}},
}


def build(name, tasks=TASKS, **options):
    return weighting.get(name, list(tasks), **{**OPTIONS.get(name, {}), **options})


def tasks_for(name):
    return TASKS[:2] if name == "weight_learning" else TASKS


def loss_dict(tasks, values):
    return {task: tf.constant(value, dtype="float32") for task, value in zip(tasks, values)}


def floats(tensors):
    return {task: float(value) for task, value in tensors.items()}


def autodiff_weights(strategy, values):
    variables = {task: tf.Variable(value, dtype="float32") for task, value in zip(strategy.tasks, values)}
    with tf.GradientTape() as tape:
        total = strategy.combine(dict(variables))
    gradients = tape.gradient(total, list(variables.values()))
    return float(total), {task: float(g) for task, g in zip(variables, gradients)}


def warm_up(strategy):
    """Moves a strategy's state away from its initial values (batches and epoch ends)."""
    tasks = strategy.tasks
    strategy.combine(loss_dict(tasks, [2.0, 3.0, 0.5][: len(tasks)]))
    strategy.end_epoch(0, dict(zip(tasks, [2.0, 3.0, 0.5])))
    strategy.end_epoch(1, dict(zip(tasks, [1.5, 2.0, 0.4])))
    strategy.combine(loss_dict(tasks, [1.0, 4.0, 0.25][: len(tasks)]))


# ---- get() ----------------------------------------------------------------------------------------------
def test_get_unknown_name_lists_allowed_names():
    with pytest.raises(ValueError, match="allowed names.*'gls'.*'async'"):
        weighting.get("geometric_mean", TASKS)


def test_get_unknown_option_names_it_and_the_allowed_options():
    with pytest.raises(ValueError, match=r"\['momentum_typo'\].*allowed options.*'temperature'"):
        weighting.get("dwa", TASKS, momentum_typo=0.9)


def test_get_returns_existing_instance_and_product_alias_is_gls():
    strategy = weighting.get("product", TASKS)
    assert isinstance(strategy, weighting.GeometricLossStrategy)
    assert weighting.get(strategy) is strategy
    assert weighting.get(strategy, list(TASKS)) is strategy
    with pytest.raises(ValueError, match="differ"):
        weighting.get(strategy, ["segmentation"])


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("fixed", {"weights": {"segmentation": 1.0}}, r"missing \['depth', 'motion'\]"),
        ("fixed", {"weights": {**OPTIONS["fixed"]["weights"], "flow": 1.0}}, r"unknown \['flow'\]"),
        ("weight_learning", {}, "exactly two tasks"),
        ("fls", {"focus": ["flow"]}, "focus"),
        ("async", {"frequencies": {"depth": 0}}, "frequencies"),
        ("uncertainty", {"form": "gaussian"}, "form"),
        ("ftwb", {"main_task": "flow"}, "main_task"),
        ("handcrafted", {"warmup_steps": 0}, "warmup_steps"),
    ],
)
def test_bad_options_raise_value_error_naming_the_argument(name, options, message):
    with pytest.raises(ValueError, match=message):
        weighting.get(name, TASKS, **options)


def test_tasks_must_be_unique_names():
    with pytest.raises(ValueError, match="unique"):
        weighting.get("equal", ["depth", "depth"])
    with pytest.raises(ValueError, match="list or tuple"):
        weighting.get("equal", "depth")


def test_combine_requires_exactly_the_tasks():
    with pytest.raises(ValueError, match=r"missing \['motion'\]"):
        build("equal").combine(loss_dict(TASKS[:2], [1.0, 1.0]))


# ---- each equation ----------------------------------------------------------------------------------------
def test_equal_and_fixed_are_weighted_sums():
    losses = loss_dict(TASKS, [1.0, 2.0, 4.0])
    assert float(build("equal").combine(losses)) == pytest.approx(7.0)
    assert float(build("fixed").combine(losses)) == pytest.approx(2.0 + 1.0 + 12.0)
    assert build("fixed").task_weights == {"segmentation": 2.0, "depth": 0.5, "motion": 3.0}


def test_gls_value_and_gradient_match_closed_form():
    strategy = build("gls")
    total, gradients = autodiff_weights(strategy, [1.0, 8.0, 27.0])
    assert total == pytest.approx(6.0, rel=1e-6)  # (1 * 8 * 27)^(1/3)
    expected = {"segmentation": 6.0 / 3.0, "depth": 6.0 / 24.0, "motion": 6.0 / 81.0}  # total / (n L_k)
    assert gradients == pytest.approx(expected, rel=1e-5)
    assert strategy.task_weights == pytest.approx(expected, rel=1e-5)


def test_gls_of_twelve_tiny_losses_is_finite():
    tasks = [f"task{i}" for i in range(12)]
    strategy = weighting.get("gls", tasks)
    assert float(np.prod(np.full(12, 1e-4, dtype="float32"))) == 0.0  # the naive product underflows
    total, gradients = autodiff_weights(strategy, [1e-4] * 12)
    assert total == pytest.approx(1e-4, rel=1e-5)
    assert all(math.isfinite(g) and g == pytest.approx(1.0 / 12, rel=1e-4) for g in gradients.values())


def test_gls_zero_loss_gives_no_nan():
    total, gradients = autodiff_weights(build("gls"), [0.0, 1.0, 1.0])
    assert math.isfinite(total) and all(math.isfinite(g) for g in gradients.values())


def test_fls_multiplies_geometric_mean_of_all_by_that_of_focused_tasks():
    strategy = build("fls", focus=["segmentation", "depth"])
    total, gradients = autodiff_weights(strategy, [0.5, 2.0, 4.0])
    expected_total = (0.5 * 2.0 * 4.0) ** (1 / 3) * (0.5 * 2.0) ** (1 / 2)  # MultiNet++ eq. 3
    assert total == pytest.approx(expected_total, rel=1e-6)
    assert gradients["motion"] == pytest.approx(expected_total / (3 * 4.0), rel=1e-5)
    assert gradients["segmentation"] == pytest.approx(expected_total * (1 / 3 + 1 / 2) / 0.5, rel=1e-5)


def test_dwa_weights_are_one_for_two_epochs_then_softmax_of_loss_rates():
    strategy = build("dwa", tasks=("a", "b"))
    losses = loss_dict(("a", "b"), [1.0, 1.0])
    assert strategy.task_weights == {"a": 1.0, "b": 1.0}  # epoch 0
    strategy.end_epoch(0, {"a": 2.0, "b": 1.0})
    strategy.combine(losses)
    assert strategy.task_weights == {"a": 1.0, "b": 1.0}  # epoch 1
    strategy.end_epoch(1, {"a": 1.0, "b": 1.0})
    # epoch 2: r = (1/2, 1/1), w = 2 exp(r/2) / sum exp(r/2)
    denominator = math.exp(0.25) + math.exp(0.5)
    expected = {"a": 2 * math.exp(0.25) / denominator, "b": 2 * math.exp(0.5) / denominator}
    assert strategy.task_weights == pytest.approx(expected, rel=1e-6)
    assert float(strategy.combine(loss_dict(("a", "b"), [3.0, 5.0]))) == pytest.approx(
        3 * expected["a"] + 5 * expected["b"], rel=1e-6
    )
    strategy.end_epoch(2, {"a": 0.5, "b": 2.0})  # epoch 3: r = (0.5, 2)
    denominator = math.exp(0.25) + math.exp(1.0)
    assert strategy.task_weights["b"] == pytest.approx(2 * math.exp(1.0) / denominator, rel=1e-6)


def test_async_schedule_counts_epochs_from_zero():
    strategy = build("async", tasks=("segmentation", "detection", "depth"), frequencies={"detection": 3, "depth": 2})
    schedule = [strategy.task_weights]
    for epoch in range(6):
        strategy.end_epoch(epoch, {"segmentation": 1.0, "detection": 1.0, "depth": 1.0})
        schedule.append(strategy.task_weights)
    assert [w["segmentation"] for w in schedule] == [1, 1, 1, 1, 1, 1, 1]
    assert [w["detection"] for w in schedule] == [1, 0, 0, 1, 0, 0, 1]
    assert [w["depth"] for w in schedule] == [1, 0, 1, 0, 1, 0, 1]
    losses = loss_dict(strategy.tasks, [1.0, 10.0, 100.0])
    assert float(strategy.combine(losses)) == pytest.approx(111.0)  # epoch 6: all on


def test_async_with_weights_scales_the_epochs_a_task_trains_in():
    """Leang's meta-learned async backprop: searched normalised weights, gated by the searched frequencies."""
    strategy = build("async", tasks=("segmentation", "detection"), frequencies={"detection": 2},
                     weights={"segmentation": 0.9, "detection": 0.1})
    assert strategy.task_weights == pytest.approx({"segmentation": 0.9, "detection": 0.1})  # epoch 0: both on
    strategy.end_epoch(0, {"segmentation": 1.0, "detection": 1.0})
    assert strategy.task_weights == pytest.approx({"segmentation": 0.9, "detection": 0.0})
    assert float(strategy.combine(loss_dict(strategy.tasks, [2.0, 5.0]))) == pytest.approx(1.8)
    restored = weighting.get(keras.saving.serialize_keras_object(strategy))
    assert restored.on_weights == {"segmentation": 0.9, "detection": 0.1} and restored.frequencies["detection"] == 2
    with pytest.raises(ValueError, match="weights"):
        build("async", tasks=("segmentation", "detection"), frequencies={}, weights={"detection": -1.0})


@pytest.mark.parametrize("form", ["regression", "classification"])
def test_uncertainty_converges_to_one_over_twice_the_loss(form):
    strategy = build("uncertainty", tasks=("a", "b"), form=form)
    assert len(strategy.trainable_weights) == 1 and strategy.trainable_weights[0].shape == (2,)
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    losses = loss_dict(("a", "b"), [2.0, 0.25])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total = strategy.combine(losses)
        optimizer.apply_gradients(zip(tape.gradient(total, strategy.trainable_weights), strategy.trainable_weights))

    for _ in range(300):
        step()
    assert strategy.task_weights == pytest.approx({"a": 1 / 4.0, "b": 1 / 0.5}, rel=1e-4)


def test_uncertainty_forms_at_initialisation():
    tasks = ("segmentation", "depth")
    losses = loss_dict(tasks, [2.0, 3.0])
    # s = 0: regression 0.5 L, classification L; per_task: depth regression, segmentation classification
    assert float(build("uncertainty", tasks).combine(losses)) == pytest.approx(2.5)
    assert float(build("uncertainty", tasks, form="classification").combine(losses)) == pytest.approx(5.0)
    per_task = build("uncertainty", tasks, form="per_task")
    assert float(per_task.combine(losses)) == pytest.approx(2.0 + 1.5)
    per_task.log_variances.assign([math.log(2.0), -1.0])
    expected = 0.5 * 2.0 + 0.5 * math.log(2.0) + 0.5 * math.e * 3.0 - 0.5
    assert float(per_task.combine(losses)) == pytest.approx(expected, rel=1e-6)


def test_twb_step_by_step_with_moving_average():
    strategy = build("twb", tasks=("seg", "depth"), momentum=0.5)
    total, gradients = autodiff_weights(strategy, [2.0, 3.0])
    assert total == pytest.approx(12.0)  # first batch: lambda = (L_depth, L_seg) = (3, 2)
    assert gradients == pytest.approx({"seg": 3.0, "depth": 2.0})
    total, gradients = autodiff_weights(strategy, [1.0, 4.0])
    # lambda = 0.5 (3, 2) + 0.5 (4, 1) = (3.5, 1.5)
    assert total == pytest.approx(3.5 * 1.0 + 1.5 * 4.0)
    assert gradients == pytest.approx({"seg": 3.5, "depth": 1.5})
    assert strategy.task_weights == pytest.approx({"seg": 3.5, "depth": 1.5})


def test_ftwb_step_by_step_with_moving_average():
    strategy = build("ftwb", tasks=("seg", "depth"), momentum=0.5)
    total, _ = autodiff_weights(strategy, [2.0, 3.0])
    assert total == pytest.approx((2.0 + 1.0) * 2.0 * 3.0)  # Algorithm 2: (L_seg + 1) L_seg L_depth
    total, gradients = autodiff_weights(strategy, [1.0, 4.0])
    # targets (L_seg L_depth, L_seg) = (4, 1); lambda = 0.5 (6, 2) + 0.5 (4, 1) = (5, 1.5)
    assert total == pytest.approx(5.0 * 1.0 + 1.5 * 4.0)
    assert gradients == pytest.approx({"seg": 5.0, "depth": 1.5})


def test_twb_and_ftwb_without_detach_differentiate_the_product_forms():
    twb = build("twb", tasks=("seg", "depth"), momentum=0.0, detach_weights=False)
    assert autodiff_weights(twb, [2.0, 3.0])[1] == pytest.approx({"seg": 6.0, "depth": 4.0})  # d(2 Ls Ld)
    ftwb = build("ftwb", tasks=("depth", "seg"), main_task="seg", momentum=0.0, detach_weights=False)
    total, gradients = autodiff_weights(ftwb, [3.0, 2.0])
    assert total == pytest.approx(18.0)
    # d/dLs (Ls + 1) Ls Ld = (2 Ls + 1) Ld, d/dLd = (Ls + 1) Ls
    assert gradients == pytest.approx({"seg": 15.0, "depth": 6.0})


def test_twb_generalises_to_three_tasks_as_n_times_product():
    strategy = build("twb", momentum=0.0)
    total, gradients = autodiff_weights(strategy, [2.0, 3.0, 0.5])
    assert total == pytest.approx(3 * 2.0 * 3.0 * 0.5)
    assert gradients == pytest.approx({"segmentation": 1.5, "depth": 1.0, "motion": 6.0})


def test_handcrafted_uses_mean_losses_of_warmup_then_freezes():
    strategy = build("handcrafted", tasks=("det", "seg"), warmup_steps=2)
    assert float(strategy.combine(loss_dict(("det", "seg"), [2.0, 4.0]))) == pytest.approx(2.0 + 0.5 * 4.0)
    assert float(strategy.combine(loss_dict(("det", "seg"), [4.0, 4.0]))) == pytest.approx(4.0 + 0.75 * 4.0)
    assert strategy.task_weights == pytest.approx({"det": 1.0, "seg": 6.0 / 8.0})
    total, gradients = autodiff_weights(strategy, [1.0, 100.0])  # after warm-up: frozen
    assert total == pytest.approx(1.0 + 75.0)
    assert gradients == pytest.approx({"det": 1.0, "seg": 0.75})


def test_handcrafted_default_is_first_batch_ratio_against_reference_task():
    strategy = build("handcrafted", tasks=("seg", "det"), reference_task="det")
    strategy.combine(loss_dict(("seg", "det"), [4.0, 1.0]))  # Leang eq. 4: w_seg = L_det(0) / L_seg(0)
    strategy.combine(loss_dict(("seg", "det"), [1.0, 1.0]))
    assert strategy.task_weights == pytest.approx({"seg": 0.25, "det": 1.0})


def test_dynamic_scaling_uses_previous_epoch_mean_losses():
    strategy = build("dynamic_scaling", tasks=("det", "seg"))
    assert strategy.task_weights == {"det": 1.0, "seg": 1.0}  # epoch 0
    strategy.end_epoch(0, {"det": 3.0, "seg": 0.5})
    assert strategy.task_weights == pytest.approx({"det": 1.0, "seg": 6.0})
    assert float(strategy.combine(loss_dict(("det", "seg"), [1.0, 1.0]))) == pytest.approx(7.0)
    strategy.end_epoch(1, {"det": 1.0, "seg": 4.0})
    assert strategy.task_weights == pytest.approx({"det": 1.0, "seg": 0.25})
    reference_seg = build("dynamic_scaling", tasks=("det", "seg"), reference_task="seg")
    reference_seg.end_epoch(0, {"det": 3.0, "seg": 0.5})
    assert reference_seg.task_weights == pytest.approx({"det": 1.0 / 6.0, "seg": 1.0})


def test_weight_learning_sigmoid_balance_and_its_gradient():
    strategy = build("weight_learning", tasks=("seg", "det"))
    assert [v.trainable for v in strategy.weights if "balance" in v.name] == [True]
    strategy.balance_logit.assign(math.log(3.0))  # alpha = 0.75
    losses = loss_dict(("seg", "det"), [2.0, 6.0])
    with tf.GradientTape() as tape:
        total = strategy.combine(losses)
    assert float(total) == pytest.approx(0.75 * 2.0 + 0.25 * 6.0)
    # d total / d w = alpha (1 - alpha) (L_seg - L_det)
    assert float(tape.gradient(total, strategy.balance_logit.value)) == pytest.approx(0.75 * 0.25 * -4.0)
    assert strategy.task_weights == pytest.approx({"seg": 0.75, "det": 0.25})


def test_gradnorm_update_on_hand_computed_numbers():
    strategy = build("gradnorm", tasks=("a", "b"), alpha=2.0, learning_rate=0.1)
    # First update: L(0) = L so r = (1, 1); G = (3, 1), Gbar = 2, target = (2, 2)
    # w = (1, 1) - 0.1 (3, -1) = (0.7, 1.1), renormalised to sum 2: (0.7, 1.1) / 0.9
    strategy.update_from_gradient_norms(loss_dict(("a", "b"), [1.0, 2.0]), loss_dict(("a", "b"), [3.0, 1.0]))
    assert strategy.task_weights == pytest.approx({"a": 7 / 9, "b": 11 / 9}, rel=1e-6)
    # Second: L/L(0) = (0.5, 1), r = (2/3, 4/3), G = (7/9, 11/9), Gbar = 1, target = (4/9, 16/9)
    # w = (7/9 - 0.1, 11/9 + 0.1), already summing to 2
    strategy.update_from_gradient_norms(loss_dict(("a", "b"), [0.5, 2.0]), loss_dict(("a", "b"), [1.0, 1.0]))
    assert strategy.task_weights == pytest.approx({"a": 7 / 9 - 0.1, "b": 11 / 9 + 0.1}, rel=1e-6)
    total, gradients = autodiff_weights(strategy, [1.0, 1.0])
    assert total == pytest.approx(2.0) and gradients == pytest.approx(strategy.task_weights)


def test_gradnorm_clips_at_minimum_weight_before_renormalising():
    strategy = build("gradnorm", tasks=("a", "b"), learning_rate=0.1, min_weight=1e-3)
    strategy.update_from_gradient_norms(loss_dict(("a", "b"), [1.0, 1.0]), loss_dict(("a", "b"), [100.0, 1.0]))
    # w = (1 - 10, 1 + 0.1) -> (1e-3, 1.1) -> * 2 / 1.101
    assert strategy.task_weights == pytest.approx({"a": 2e-3 / 1.101, "b": 2.2 / 1.101}, rel=1e-5)


class TinyGradNormModel(keras.Model):
    """Shared Dense trunk with two heads; defines the two methods gradnorm_train_step relies on."""

    def __init__(self):
        super().__init__()
        self.shared = keras.layers.Dense(3, kernel_initializer="ones", name="shared")
        self.head_a = keras.layers.Dense(1, kernel_initializer="ones", name="head_a")
        self.head_b = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(0.5), name="head_b")
        self.weighting = weighting.get("gradnorm", ["a", "b"], learning_rate=0.1)

    def call(self, x):
        features = self.shared(x)
        return {"a": self.head_a(features), "b": self.head_b(features)}

    def compute_task_losses(self, x, y, y_pred):
        return {
            "a": keras.ops.mean(keras.ops.square(y["a"] - y_pred["a"])),
            "b": 10.0 * keras.ops.mean(keras.ops.abs(y["b"] - y_pred["b"])),
        }

    def gradnorm_shared_variables(self):
        return [self.shared.kernel]

    def train_step(self, data):
        return gradnorm_train_step(self, data)


def test_gradnorm_train_step_updates_model_and_weights_as_the_formula_says():
    x = np.array([[1.0, 2.0], [0.5, -1.0]], dtype="float32")
    y = {"a": np.array([[1.0], [0.0]], dtype="float32"), "b": np.array([[2.0], [-1.0]], dtype="float32")}
    model = TinyGradNormModel()
    model(x)
    # The expected update, from the per-task gradient norms at the initial parameters
    with tf.GradientTape(persistent=True) as tape:
        losses = model.compute_task_losses(x, y, model(x))
    norms = np.array([float(tf.norm(tape.gradient(losses[t], model.shared.kernel))) for t in ("a", "b")])
    mean_norm = norms.mean()  # first update: w = 1, r = 1, target = mean G
    expected = np.maximum(1.0 - 0.1 * np.sign(norms - mean_norm) * norms, 1e-3)
    expected = expected * 2 / expected.sum()
    kernel_before = model.shared.kernel.numpy().copy()

    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01))
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert not np.allclose(model.shared.kernel.numpy(), kernel_before)
    assert list(model.weighting.task_weights.values()) == pytest.approx(list(expected), rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(float(losses["a"] + losses["b"]), rel=1e-5)
    assert history.history["a"][0] == pytest.approx(float(losses["a"]), rel=1e-5)


# ---- every strategy: autodiff, serialization, state ---------------------------------------------------------
ALL_NAMES = sorted(weighting.STRATEGIES)
#: the strategies whose weight is d total / d L_task (the gradient-level ones weigh gradients: their alpha comes from
#: the Gram matrix, tests/test_gradient_weighting.py; GradNorm's alpha is its loss weight, so it stays here)
LOSS_WEIGHTED_NAMES = [name for name in ALL_NAMES
                       if not weighting.STRATEGIES[name].needs_task_gradients or name == "gradnorm"]


@pytest.mark.parametrize("name", LOSS_WEIGHTED_NAMES)
def test_effective_weights_equal_autodiff_gradient(name):
    strategy = build(name, tasks=tasks_for(name))
    warm_up(strategy)
    values = [0.7, 1.9, 0.3][: strategy.num_tasks]
    _, gradients = autodiff_weights(strategy, values)
    assert floats(strategy.effective_weights(loss_dict(strategy.tasks, values))) == pytest.approx(gradients, rel=1e-5)
    assert strategy.task_weights == pytest.approx(gradients, rel=1e-5)


@pytest.mark.parametrize("name", ["twb", "ftwb"])
def test_effective_weights_equal_autodiff_gradient_without_detach(name):
    strategy = build(name, momentum=0.3, detach_weights=False)
    for values in ([2.0, 3.0, 0.5], [0.7, 1.9, 0.3]):
        _, gradients = autodiff_weights(strategy, values)
        assert strategy.task_weights == pytest.approx(gradients, rel=1e-5)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_config_round_trip_and_state_restore(name):
    strategy = build(name, tasks=tasks_for(name))
    warm_up(strategy)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(strategy))
    assert type(restored) is type(strategy) and restored.get_config() == strategy.get_config()
    assert len(restored.weights) == len(strategy.weights) > 0  # state exists before any call
    store = {}
    strategy.save_own_variables(store)
    restored.load_own_variables(store)
    assert restored.task_weights == pytest.approx(strategy.task_weights, rel=1e-6)
    values = [1.3, 0.2, 2.5][: strategy.num_tasks]
    assert float(restored.combine(loss_dict(strategy.tasks, values))) == pytest.approx(
        float(strategy.combine(loss_dict(strategy.tasks, values))), rel=1e-6
    )


@pytest.mark.parametrize("name", ALL_NAMES)
def test_only_learned_weights_are_trainable(name):
    strategy = build(name, tasks=tasks_for(name))
    expected = {"uncertainty": 1, "weight_learning": 1, "imtl_l": 1, "imtl": 1}.get(name, 0)  # imtl: loss scales
    assert len(strategy.trainable_weights) == expected


def test_stateful_combine_works_inside_a_compiled_function():
    eager = build("ftwb", momentum=0.5)
    compiled = build("ftwb", momentum=0.5)
    combine = tf.function(compiled.combine)
    for values in ([2.0, 3.0, 0.5], [1.0, 4.0, 0.25], [0.5, 0.5, 2.0]):
        assert float(combine(loss_dict(TASKS, values))) == pytest.approx(
            float(eager.combine(loss_dict(TASKS, values))), rel=1e-6
        )
    assert compiled.task_weights == pytest.approx(eager.task_weights, rel=1e-6)
