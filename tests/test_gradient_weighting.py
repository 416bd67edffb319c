"""The gradient-level weighting strategies (losses/weighting/gradient.py and one module each) and the loss-level
additions RLW, FAMO and IMTL-L: every method on hand-made cases with a known answer through `aggregate(J)` on plain
arrays; `fit` with every strategy on a tiny ResNet-10 (64x96, batch 2) on one device (the representation mode wherever
a strategy has it) and, in mixed_bfloat16, on tests/fixtures/tiny_encoder_model.py; the `.keras` round trip of the
strategies with state. Two replicas (every strategy's parameter mode among others): tests/test_distribution.py; JAX:
tests/test_jax_backend.py.

Tolerances: closed forms (PCGrad, GradVac, IMTL-G, Aligned-MTL, MGDA with two tasks, CAGrad with c = 0) to float32
precision (1e-5); the fixed-iteration solvers against exact references computed here in float64: MGDA (Frank-Wolfe,
three tasks) within 1e-3 of the minimum norm, CAGrad (projected gradient) within 1e-4 of a fine grid's objective,
UPGrad (projected Gauss-Seidel) within 1e-4 of the exact active-set solution, Nash-MTL (damped Newton) with the
bargaining condition alpha_t (G alpha)_t = 1 to 1e-4."""
import itertools

import keras
import numpy as np
import pytest

import models
from losses import weighting
from tests.fixtures import tiny_encoder_model

TWO = ("a", "b")
THREE = ("a", "b", "c")
#: two conflicting gradients (g_1 . g_2 = -0.5)
CONFLICT = np.array([[1.0, 0.0], [-0.5, 1.0]], dtype="float32")
#: three gradients in 4-D, pairwise conflicting or not
RANDOM_THREE = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
GRADIENT_NAMES = sorted(name for name, cls in weighting.STRATEGIES.items() if cls.needs_task_gradients)
NEW_LOSS_LEVEL = ("rlw", "famo", "imtl_l")
RANDOM = ("pcgrad", "gradvac", "graddrop", "rlw")
REPRESENTATION_NAMES = [name for name in GRADIENT_NAMES if "representation" in weighting.STRATEGIES[name].modes]


def aggregate(name, jacobian, **options):
    strategy = weighting.get(name, list(THREE[: len(jacobian)]), **options)
    return np.asarray(strategy.aggregate(jacobian), dtype="float64"), strategy


def weights_of(strategy):
    return np.array(list(strategy.task_weights.values()))


# ---- exact references (float64) --------------------------------------------------------------------------
def min_norm_point(gram):
    """argmin_{a in simplex} a^T G a by enumerating supports (KKT linear systems)."""
    best, best_value = None, np.inf
    size = len(gram)
    for count in range(1, size + 1):
        for support in itertools.combinations(range(size), count):
            index = list(support)
            system = np.block([[gram[np.ix_(index, index)], np.ones((count, 1))], [np.ones((1, count)), 0.0]])
            try:
                solution = np.linalg.solve(system, np.r_[np.zeros(count), 1.0])[:count]
            except np.linalg.LinAlgError:
                continue
            if np.all(solution >= -1e-12):
                weights = np.zeros(size)
                weights[index] = solution
                value = weights @ gram @ weights
                if value < best_value:
                    best, best_value = weights, value
    return best


def dual_cone_projection_weights(gram, lower):
    """argmin_{v >= lower} v^T G v by enumerating active sets."""
    size = len(gram)
    for count in range(size + 1):
        for active in itertools.combinations(range(size), count):
            free = [i for i in range(size) if i not in active]
            v = np.array(lower, dtype="float64")
            if free:
                active_list = list(active)
                v[free] = np.linalg.solve(gram[np.ix_(free, free)], -gram[np.ix_(free, active_list)] @ v[active_list])
            multipliers = gram @ v
            if np.all(v >= lower - 1e-12) and np.all(multipliers[list(active)] >= -1e-12):
                return v
    raise AssertionError("no KKT point")


# ---- registry, options, config -------------------------------------------------------------------------------
def test_every_strategy_is_registered_and_mgda_ub_is_mgda_in_representation_mode():
    expected = {"mgda", "pcgrad", "gradvac", "graddrop", "imtl_g", "imtl", "cagrad", "nash_mtl", "aligned_mtl",
                "upgrad", "db_mtl", "rlw", "famo", "imtl_l"}
    assert expected <= set(weighting.STRATEGIES) and "mgda_ub" in weighting.NAMES
    mgda_ub = weighting.get("mgda_ub", TWO)
    assert type(mgda_ub) is weighting.MGDAStrategy and mgda_ub.mode == "representation"
    assert weighting.get("mgda", TWO).mode == "parameters"
    with pytest.raises(ValueError, match="'mgda_ub' is 'mgda' with .*mode"):
        weighting.get("mgda_ub", TWO, mode="parameters")
    assert weighting.get("gradnorm", TWO).needs_task_gradients  # GradNorm is on the same hook


@pytest.mark.parametrize("name", GRADIENT_NAMES + list(NEW_LOSS_LEVEL))
def test_config_round_trip(name):
    options = {"seed": 5} if name in RANDOM else {}
    strategy = weighting.get(name, THREE, **options)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(strategy))
    assert type(restored) is type(strategy) and restored.get_config() == strategy.get_config()
    assert "seed" not in restored.get_config() or restored.get_config()["seed"] == 5


def test_options_are_checked_with_clear_errors():
    with pytest.raises(ValueError, match="`mode` of MGDAStrategy must be one of"):
        weighting.get("mgda", TWO, mode="features")
    with pytest.raises(ValueError, match="DB-MTL keeps moving averages"):
        weighting.get("db_mtl", TWO, mode="representation")
    with pytest.raises(ValueError, match="`beta` must be a number >= 0.0 and < 1.0"):  # its averages would stay 0
        weighting.get("db_mtl", TWO, beta=1.0)
    with pytest.raises(ValueError, match="`c` must be a number >= 0.0"):
        weighting.get("cagrad", TWO, c=-1)
    with pytest.raises(ValueError, match="`seed` must be None or an integer"):
        weighting.get("rlw", TWO, seed="zero")
    with pytest.raises(ValueError, match=r"shape \(2, P\)"):
        weighting.get("mgda", TWO).aggregate(np.ones((3, 4), "float32"))
    with pytest.raises(NotImplementedError, match="needs the whole matrix"):
        weighting.get("graddrop", TWO).weights_from_gram(np.eye(2, dtype="float32"))
    assert weighting.get("graddrop", TWO).task_weights == {}  # no weights: no {task}_weight logs


def test_weights_from_gram_gives_the_weights_of_aggregate():
    for name in GRADIENT_NAMES:
        if weighting.STRATEGIES[name].needs_whole_matrix:
            continue
        options = {"seed": 1} if name in RANDOM else {}
        combined, _ = aggregate(name, RANDOM_THREE, **options)
        weights = np.asarray(weighting.get(name, THREE, **options).weights_from_gram(RANDOM_THREE @ RANDOM_THREE.T))
        np.testing.assert_allclose(combined, weights @ RANDOM_THREE, rtol=1e-5, atol=1e-6, err_msg=name)


# ---- hand-made cases ---------------------------------------------------------------------------------------
def test_pcgrad_projects_each_conflicting_gradient_onto_the_others_normal_plane():
    combined, strategy = aggregate("pcgrad", CONFLICT, seed=0)
    g1, g2 = CONFLICT.astype("float64")
    expected = (g1 - (g1 @ g2) / (g2 @ g2) * g2) + (g2 - (g1 @ g2) / (g1 @ g1) * g1)  # (0.8, 0.4) + (0, 1)
    np.testing.assert_allclose(combined, expected, atol=1e-6)
    np.testing.assert_allclose(weights_of(strategy), [1.5, 1.4], atol=1e-6)
    agreeing = np.array([[1.0, 0.2], [0.5, 1.0]], "float32")
    np.testing.assert_allclose(aggregate("pcgrad", agreeing)[0], agreeing.sum(0), atol=1e-6)  # no conflict: the sum


def test_random_orders_come_from_the_seed_and_the_step():
    jacobian = np.array([[1.0, 0.0, 0.3], [-0.8, 1.0, 0.0], [-0.3, -0.7, 1.0]], "float32")
    first = weighting.get("pcgrad", THREE, seed=7)
    again = weighting.get("pcgrad", THREE, seed=7)
    draws = [np.asarray(first.aggregate(jacobian)) for _ in range(6)]
    assert all(np.allclose(np.asarray(again.aggregate(jacobian)), draw) for draw in draws)
    assert len({tuple(np.round(draw, 5)) for draw in draws}) > 1  # the order changes with the step


def test_mgda_two_tasks_is_the_closed_form_min_norm_point():
    combined, strategy = aggregate("mgda", CONFLICT)
    g1, g2 = CONFLICT.astype("float64")
    alpha = np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0, 1)  # Sener & Koltun, Algorithm 1
    np.testing.assert_allclose(weights_of(strategy), [alpha, 1 - alpha], atol=1e-6)
    np.testing.assert_allclose(combined, alpha * g1 + (1 - alpha) * g2, atol=1e-6)
    np.testing.assert_allclose(combined @ g1, combined @ g2, atol=1e-6)  # interior: equal inner products
    dominated = np.array([[1.0, 0.0], [2.0, 0.0]], "float32")  # the smaller gradient is the min-norm point
    np.testing.assert_allclose(aggregate("mgda", dominated)[0], [1.0, 0.0], atol=1e-6)


def test_mgda_three_tasks_is_within_1e3_of_the_exact_min_norm_point():
    for seed in range(5):
        jacobian = np.random.default_rng(seed).normal(size=(3, 5)).astype("float32")
        gram = jacobian.astype("float64") @ jacobian.T
        exact = min_norm_point(gram)
        combined, strategy = aggregate("mgda", jacobian)
        assert np.linalg.norm(combined) <= np.sqrt(exact @ gram @ exact) * (1 + 1e-3) + 1e-6, seed
        assert weights_of(strategy).sum() == pytest.approx(1.0, abs=1e-5) and weights_of(strategy).min() >= 0


def test_mgda_l2_normalization_uses_unit_gradients():
    scaled = CONFLICT * np.array([[10.0], [1.0]], "float32")
    combined, _ = aggregate("mgda", scaled, normalization="l2")
    unit, _ = aggregate("mgda", CONFLICT / np.linalg.norm(CONFLICT, axis=1, keepdims=True))
    np.testing.assert_allclose(combined, unit, atol=1e-6)


@pytest.mark.parametrize("jacobian", [CONFLICT, RANDOM_THREE], ids=["two", "three"])
def test_imtl_g_projects_equally_onto_every_unit_gradient(jacobian):
    combined, strategy = aggregate("imtl_g", jacobian)
    units = jacobian / np.linalg.norm(jacobian, axis=1, keepdims=True)
    projections = units.astype("float64") @ combined
    np.testing.assert_allclose(projections, projections[0], rtol=1e-5)
    assert weights_of(strategy).sum() == pytest.approx(1.0, abs=1e-5)


def test_imtl_hybrid_rows_are_the_scaled_losses_and_imtl_l_learns_the_scales():
    hybrid = weighting.get("imtl", TWO)
    hybrid.loss_scales.assign(np.log([2.0, 0.5]).astype("float32"))
    losses = np.array([3.0, 4.0], "float32")
    np.testing.assert_allclose(np.asarray(hybrid.task_objectives(losses)), [6.0 - np.log(2), 2.0 - np.log(0.5)],
                               rtol=1e-6)
    loss_level = weighting.get("imtl_l", TWO)
    loss_level.loss_scales.assign(np.log([2.0, 0.5]).astype("float32"))
    values = {task: keras.ops.convert_to_tensor(v) for task, v in zip(TWO, losses)}
    assert loss_level.task_weights == pytest.approx({"a": 2.0, "b": 0.5}, rel=1e-6)
    assert float(loss_level.combine(values)) == pytest.approx(6.0 + 2.0 - np.log(2) - np.log(0.5), rel=1e-6)
    assert len(loss_level.trainable_weights) == len(hybrid.trainable_weights) == 1  # s_t, learned by the optimizer


@pytest.mark.parametrize("jacobian", [CONFLICT, RANDOM_THREE, np.array([[1.0, 0.1], [0.8, 0.3]], "float32")],
                         ids=["two-conflicting", "three", "two-agreeing"])
def test_upgrad_conflicts_with_no_row_and_matches_the_exact_projection(jacobian):
    combined, strategy = aggregate("upgrad", jacobian)
    assert np.all(jacobian.astype("float64") @ combined >= -1e-6)
    gram = jacobian.astype("float64") @ jacobian.T
    normalized = gram / np.trace(gram) + 1e-4 * np.eye(len(gram))
    exact = sum(dual_cone_projection_weights(normalized, np.eye(len(gram))[i] / len(gram))
                for i in range(len(gram)))
    np.testing.assert_allclose(weights_of(strategy), exact, atol=1e-4)
    if np.all(gram >= 0):  # no conflict: every row is in the dual cone already, the mean gradient
        np.testing.assert_allclose(combined, jacobian.mean(0), rtol=1e-3)


def test_cagrad_with_c_zero_is_the_mean_gradient():
    for jacobian in (CONFLICT, RANDOM_THREE):
        np.testing.assert_allclose(aggregate("cagrad", jacobian, c=0.0)[0], jacobian.mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jacobian", [CONFLICT, RANDOM_THREE], ids=["two", "three"])
def test_cagrad_dual_is_within_1e4_of_a_grid_search(jacobian):
    gram = jacobian.astype("float64") @ jacobian.T
    size, c = len(gram), 0.4
    radius = c * np.sqrt(gram.mean())

    def objective(w):
        return w @ gram.mean(1) + radius * np.sqrt(w @ gram @ w)

    steps = np.linspace(0, 1, 401)
    grid = [np.array([a, 1 - a]) for a in steps] if size == 2 else \
        [np.array([a, b, 1 - a - b]) for a in steps[::4] for b in steps[::4] if a + b <= 1]
    best = min(objective(w) for w in grid)
    combined, strategy = aggregate("cagrad", jacobian, c=c, rescale=0)
    dual = weights_of(strategy) - 1.0 / size  # alpha = 1/T + sqrt(phi) w / ||g_w||, w on the simplex
    assert objective(dual / dual.sum()) <= best + 1e-4 * abs(best) + 1e-7
    # the update improves the worst task more than the mean gradient does
    assert (jacobian @ combined).min() >= (jacobian @ jacobian.mean(0)).min() - 1e-6


def test_nash_mtl_weights_satisfy_the_bargaining_condition():
    for jacobian in (CONFLICT, RANDOM_THREE):
        _, strategy = aggregate("nash_mtl", jacobian, max_norm=0.0)
        gram = jacobian.astype("float64") @ jacobian.T
        normalized = gram / np.linalg.norm(gram)
        alpha = weights_of(strategy)
        np.testing.assert_allclose(alpha * (normalized @ alpha), 1.0, atol=1e-4)
        np.testing.assert_allclose(np.asarray(strategy.objective_weights()), alpha, rtol=1e-6)  # whole loss weighted
    clipped, _ = aggregate("nash_mtl", RANDOM_THREE * 100, max_norm=1.0)
    assert np.linalg.norm(clipped) == pytest.approx(1.0, rel=1e-4)


def test_aligned_mtl_rows_become_orthogonal_with_equal_norms():
    for jacobian in (CONFLICT, RANDOM_THREE):
        gram = jacobian.astype("float64") @ jacobian.T
        values, vectors = np.linalg.eigh(gram)
        balance = np.sqrt(values.min()) * vectors @ np.diag(values ** -0.5) @ vectors.T
        aligned = balance @ jacobian
        np.testing.assert_allclose(aligned @ aligned.T, values.min() * np.eye(len(gram)), atol=1e-5)
        combined, _ = aggregate("aligned_mtl", jacobian)
        np.testing.assert_allclose(combined, aligned.sum(0), rtol=1e-4, atol=1e-5)


def test_gradvac_raises_the_similarity_to_its_target_and_moves_the_target():
    _, plain = aggregate("gradvac", CONFLICT, seed=0)
    np.testing.assert_allclose(weights_of(plain), [1.5, 1.4], atol=1e-6)  # target 0: PCGrad's projection
    cos = float(CONFLICT[0] @ CONFLICT[1] / np.linalg.norm(CONFLICT[0]) / np.linalg.norm(CONFLICT[1]))
    np.testing.assert_allclose(np.asarray(plain.target_similarities), [[0, 0.01 * cos], [0.01 * cos, 0]], atol=1e-7)
    strategy = weighting.get("gradvac", TWO, beta=0.5, seed=0)
    strategy.target_similarities.assign(np.array([[0.0, 0.5], [0.5, 0.0]], "float32"))
    weights = np.asarray(strategy.weights_from_gram(CONFLICT @ CONFLICT.T), dtype="float64")
    g1, g2 = CONFLICT.astype("float64")
    for vaccinated, other in ((g1 + (weights[1] - 1.0) * g2, g2), (g2 + (weights[0] - 1.0) * g1, g1)):
        # the vaccine sets the similarity exactly to the target (Wang et al., Algorithm 1)
        assert vaccinated @ other / np.linalg.norm(vaccinated) / np.linalg.norm(other) == pytest.approx(0.5, abs=1e-5)
    np.testing.assert_allclose(np.asarray(strategy.target_similarities)[0, 1], 0.5 * 0.5 + 0.5 * cos, atol=1e-6)


def test_graddrop_keeps_agreeing_signs_and_picks_one_sign_with_the_purity_as_probability():
    agreeing = np.array([[1.0, -2.0], [3.0, -1.0]], "float32")
    np.testing.assert_allclose(aggregate("graddrop", agreeing, seed=0)[0], [4.0, -3.0])
    np.testing.assert_allclose(aggregate("graddrop", CONFLICT, leak=1.0, seed=0)[0], CONFLICT.sum(0), atol=1e-6)
    # one coordinate, +3 against -1: purity 0.5 (1 + 2/4) = 0.75 of keeping the positive part
    strategy = weighting.get("graddrop", TWO, seed=3)
    column = np.array([[3.0], [-1.0]], "float32")
    kept = np.array([float(strategy.aggregate(column)[0]) for _ in range(400)])
    assert set(np.round(kept, 5)) <= {3.0, -1.0}
    assert np.mean(kept == 3.0) == pytest.approx(0.75, abs=0.07)


def test_graddrop_representation_marginalises_signed_gradients_over_the_batch():
    strategy = weighting.get("graddrop", TWO, mode="representation", seed=0)
    # two examples, one feature: after sign(A) the batch sums are +2 (task a) and +1 (task b): purity 1
    rows = [np.array([[[1.0], [-1.0]], [[0.5], [-0.5]]], "float32")]
    features = [np.array([[2.0], [-3.0]], "float32")]
    combined = strategy.aggregate_representation(rows, features, lambda tensor: tensor)
    np.testing.assert_allclose(np.asarray(combined[0]), [[1.5], [-1.5]])  # both tasks kept for both examples


def test_db_mtl_balances_the_moving_averages_of_the_log_loss_gradients():
    strategy = weighting.get("db_mtl", TWO)
    np.testing.assert_allclose(np.asarray(strategy.task_objectives(np.array([1.0, np.e], "float32"))), [0.0, 1.0],
                               atol=1e-6)
    first = np.array([[3.0, 4.0], [0.0, 1.0]], "float32")  # norms 5 and 1
    buffers = 0.1 * first  # step 1: beta / 1^sigma = 0.9 of the zero buffers
    np.testing.assert_allclose(np.asarray(strategy.aggregate(first)), (buffers * [[1.0], [5.0]]).sum(0), rtol=1e-5)
    np.testing.assert_allclose(weights_of(strategy), [1.0, 5.0], rtol=1e-5)
    second = np.array([[0.0, 2.0], [1.0, 0.0]], "float32")
    decay = 0.9 / np.sqrt(2.0)
    buffers = second + decay * (buffers - second)
    norms = np.linalg.norm(buffers, axis=1)
    np.testing.assert_allclose(np.asarray(strategy.aggregate(second)), (norms.max() / norms) @ buffers, rtol=1e-5)


def test_rlw_weights_lie_on_the_simplex_and_follow_the_seed():
    samples = []
    for seed in range(40):
        strategy = weighting.get("rlw", THREE, seed=seed)
        for _ in range(5):
            strategy.combine({task: keras.ops.ones(()) for task in THREE})
            samples.append(weights_of(strategy))
    samples = np.array(samples)
    np.testing.assert_allclose(samples.sum(1), 1.0, rtol=1e-5)
    assert samples.min() > 0 and len({tuple(np.round(s, 6)) for s in samples}) == len(samples)
    np.testing.assert_allclose(samples.mean(0), 1 / 3, atol=0.03)  # softmax of i.i.d. normals: mean 1/T
    replay = weighting.get("rlw", THREE, seed=0)
    replay.combine({task: keras.ops.ones(()) for task in THREE})
    np.testing.assert_allclose(weights_of(replay), samples[0], rtol=1e-6)
    before = weights_of(replay)
    replay.combine({task: keras.ops.ones(()) for task in THREE}, training=False)  # evaluation: no new draw
    np.testing.assert_allclose(weights_of(replay), before)


def test_famo_updates_its_logits_from_the_decrease_of_the_log_losses():
    strategy = weighting.get("famo", TWO, learning_rate=0.5, weight_decay=0.1)
    first, second = np.array([2.0, 8.0]), np.array([1.0, 6.0])

    def combine(values):
        return strategy.combine({task: keras.ops.convert_to_tensor(v, "float32") for task, v in zip(TWO, values)})

    combine(first)  # first step: no previous losses, logits stay 0
    np.testing.assert_allclose(np.asarray(strategy.logits), [0.0, 0.0])
    c = 1.0 / np.sum(0.5 / first)
    np.testing.assert_allclose(weights_of(strategy), c * 0.5 / first, rtol=1e-5)  # d total / d L = c z / L
    total = combine(second)
    decrease = np.log(first) - np.log(second)
    z = np.array([0.5, 0.5])
    expected = -0.5 * (z * (decrease - z @ decrease) + 0.1 * 0.0)
    np.testing.assert_allclose(np.asarray(strategy.logits), expected, rtol=1e-5)
    z = np.exp(expected) / np.exp(expected).sum()
    c = 1.0 / np.sum(z / second)
    assert float(total) == pytest.approx(float(np.sum(c * z * np.log(second))), rel=1e-5)
    assert strategy.task_weights == pytest.approx(dict(zip(TWO, c * z / second)), rel=1e-5)
    # the task whose log-loss fell less (b) gains weight
    assert z[1] > z[0]
    combine(second)
    logits_after = np.asarray(strategy.logits).copy()
    strategy.combine({task: keras.ops.ones(()) for task in TWO}, training=False)
    np.testing.assert_allclose(np.asarray(strategy.logits), logits_after)  # evaluation leaves them alone


def test_gradnorm_on_the_hook_updates_from_the_gram_diagonal():
    hook = weighting.get("gradnorm", TWO, alpha=2.0, learning_rate=0.1)
    reference = weighting.get("gradnorm", TWO, alpha=2.0, learning_rate=0.1)
    losses = {task: keras.ops.convert_to_tensor(v, "float32") for task, v in zip(TWO, (1.0, 2.0))}
    hook.combine(losses)
    jacobian = np.array([[3.0, 0.0], [0.0, 1.0]], "float32")  # norms 3 and 1
    combined = np.asarray(hook.aggregate(jacobian))
    np.testing.assert_allclose(combined, jacobian.sum(0))  # this step: the weights before the update (1, 1)
    reference.update_from_gradient_norms(losses, {"a": 3.0, "b": 1.0})
    assert hook.task_weights == pytest.approx(reference.task_weights, rel=1e-6)


# ---- training ----------------------------------------------------------------------------------------------
TINY = (64, 96, 3)


def segmentation_depth(n=2, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (n,) + TINY[:2]).astype("int32")
    labels[:, :4] = 255
    depth = rng.uniform(1, 80, (n,) + TINY[:2] + (1,)).astype("float32")
    return ({"image": rng.uniform(0, 255, (n,) + TINY).astype("float32")},
            {"segmentation": labels, "depth": depth})


def fit_every_strategy(configurations, build, x, y, policy="float32"):
    """One step of each (name, options) on one model from `build()`, recompiled for each strategy (eager: tracing
    T backward passes is what would take the time). Returns {label: (history, strategy, dtypes seen, moved)}."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build()
        results = {}
        for name, options in configurations:
            model.compile(optimizer=keras.optimizers.SGD(1e-3), weighting=name, weighting_options=options,
                          run_eagerly=True)
            seen = _record_dtypes(model.weighting)
            shared = model.representation_split()[0].trainable_weights[:3]
            before = [np.array(variable) for variable in shared]
            history = model.fit(x, y, batch_size=2, epochs=1, verbose=0).history
            moved = any(not np.allclose(b, np.array(a)) for b, a in zip(before, shared))
            results[f"{name}{options}"] = (history, model.weighting, seen, moved)
        return results
    finally:
        keras.mixed_precision.set_global_policy("float32")


def tiny_resnet10():
    return models.build_multitask({"segmentation": 4, "depth": 1}, input_shape=TINY, backbone="resnet10")


def _record_dtypes(strategy):
    """Wraps the strategy's hook so that the dtypes of G and of the row blocks it receives are recorded."""
    seen = []
    for method in ("weights_from_gram", "aggregate_blocks", "aggregate_representation"):
        original = getattr(strategy, method, None)
        if original is None:
            continue

        def spy(first, *rest, _original=original):
            seen.extend(keras.backend.standardize_dtype(block.dtype)
                        for block in (first if isinstance(first, list) else [first]))
            return _original(first, *rest)

        object.__setattr__(strategy, method, spy)
    return seen


def _check_fit(results):
    for label, (history, strategy, seen, moved) in results.items():
        assert moved, label
        for task in ("segmentation", "depth"):
            assert np.isfinite(history[f"{task}_loss"][0]) and np.isfinite(history["loss"][0]), label
            assert (f"{task}_weight" in history) == strategy.has_task_weights, (label, sorted(history))
        if strategy.needs_task_gradients:
            assert seen and set(seen) == {"float32"}, (label, seen)  # rows and G in float32, also under bfloat16


def test_every_strategy_fits_one_step_on_a_tiny_resnet10():
    """Every strategy in its representation mode where it has one (the FCN8 decoders read three of the encoder's
    five levels), in its only mode otherwise, and the parameter mode of representatives (Gram-only, whole matrix,
    GradNorm's last shared layer); the parameter mode of every strategy is fitted in tests/test_distribution.py."""
    configurations = [(name, {"mode": "representation"}) for name in REPRESENTATION_NAMES]
    configurations += [(name, {}) for name in ("mgda_ub", "mgda", "graddrop", "gradnorm", "db_mtl") + NEW_LOSS_LEVEL]
    _check_fit(fit_every_strategy(configurations, tiny_resnet10, *segmentation_depth()))


def test_every_strategy_fits_in_mixed_bfloat16_with_float32_gradients():
    """Every strategy under the mixed_bfloat16 policy (bfloat16 features, float32 rows and G), the representation
    mode (bfloat16 feature gradients) for a Gram-only, a whole-matrix and a stateful one."""
    configurations = [(name, {}) for name in GRADIENT_NAMES + list(NEW_LOSS_LEVEL)]
    configurations += [(name, {"mode": "representation"}) for name in ("mgda", "graddrop", "nash_mtl")]
    _check_fit(fit_every_strategy(configurations, tiny_encoder_model.build, *tiny_encoder_model.batch(n=2),
                                  policy="mixed_bfloat16"))


@pytest.mark.parametrize("name", ["famo", "nash_mtl", "gradvac", "db_mtl", "rlw"])
def test_state_is_saved_restored_and_resumed_with_the_model(name, tmp_path):
    """A `.keras` file carries the strategy's state; the restored model's next step equals the original's."""
    x, y = tiny_encoder_model.batch(n=4)
    model = tiny_encoder_model.build()
    options = {"seed": 2} if name in RANDOM else {}
    model.compile(optimizer=keras.optimizers.SGD(1e-2), weighting=name, weighting_options=options, run_eagerly=True)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored.weighting) is type(model.weighting)
    state = {v.path: np.array(v) for v in model.weighting.variables}
    assert state and {v.path: np.array(v) for v in restored.weighting.variables}.keys() == state.keys()
    for variable in restored.weighting.variables:
        np.testing.assert_allclose(np.array(variable), state[variable.path], err_msg=variable.path)
    restored.compile(optimizer=keras.optimizers.SGD(1e-2), weighting=restored.weighting, run_eagerly=True)
    model.compile(optimizer=keras.optimizers.SGD(1e-2), weighting=model.weighting, run_eagerly=True)
    ours = model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False).history
    theirs = restored.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False).history
    for key, values in ours.items():
        np.testing.assert_allclose(theirs[key], values, rtol=1e-5, err_msg=key)
