"""Task-weighting strategies: how the per-task losses of a multi-task network become one total loss.

`get(name, tasks, **options)` builds one; every strategy is a `keras.layers.Layer` with
`combine(losses) -> total`, `effective_weights(losses)`, `end_epoch(epoch, mean_losses)` and
`task_weights` (see losses/weighting/base.py). Equations and sources:

| name              | class                               | paper / equation                                  |
|-------------------|-------------------------------------|---------------------------------------------------|
| equal             | EqualWeightingStrategy              | MultiNet++ "equal weights", Leang IV-A.1           |
| fixed             | FixedWeightingStrategy              | AuxNet eq. 1-2 (AuxNet400/1000), Novosel eq. 5 GS  |
| handcrafted       | HandcraftedWeightingStrategy        | Leang eq. 3-4                                      |
| dynamic_scaling   | DynamicScalingStrategy              | Leang eq. 5-6                                      |
| uncertainty       | UncertaintyWeightingStrategy        | Kendall et al. 2018 (MultiNet++, Leang, Novosel)   |
| gradnorm          | GradNormStrategy                    | Chen et al. 2018 (Leang IV-A.5)                    |
| gls, product      | GeometricLossStrategy               | MultiNet++ eq. 1-2, 6; NeurAll eq. 1; Leang eq. 7  |
| fls               | FocusedLossStrategy                 | MultiNet++ eq. 3                                   |
| twb               | TaskWeightBalancingStrategy         | AuxNet Algorithm 1                                 |
| ftwb              | FocusedTaskWeightBalancingStrategy  | AuxNet Algorithm 2                                 |
| dwa               | DynamicWeightAverageStrategy        | Liu et al. 2019 (MultiNet++, Novosel)              |
| weight_learning   | WeightLearningStrategy              | Leang eq. 8-9                                      |
| async             | AsynchronousStrategy                | Leang eq. 10-12                                    |
"""
import keras

from losses.weighting.asynchronous import AsynchronousStrategy
from losses.weighting.auxnet import FocusedTaskWeightBalancingStrategy, TaskWeightBalancingStrategy
from losses.weighting.base import WeightingStrategy
from losses.weighting.dwa import DynamicWeightAverageStrategy
from losses.weighting.geometric import FocusedLossStrategy, GeometricLossStrategy
from losses.weighting.gradnorm import GradNormStrategy
from losses.weighting.loss_ratio import DynamicScalingStrategy, HandcraftedWeightingStrategy
from losses.weighting.static import EqualWeightingStrategy, FixedWeightingStrategy
from losses.weighting.uncertainty import UncertaintyWeightingStrategy
from losses.weighting.weight_learning import WeightLearningStrategy

STRATEGIES = {
    "equal": EqualWeightingStrategy,
    "fixed": FixedWeightingStrategy,
    "handcrafted": HandcraftedWeightingStrategy,
    "dynamic_scaling": DynamicScalingStrategy,
    "uncertainty": UncertaintyWeightingStrategy,
    "gradnorm": GradNormStrategy,
    "gls": GeometricLossStrategy,
    "fls": FocusedLossStrategy,
    "twb": TaskWeightBalancingStrategy,
    "ftwb": FocusedTaskWeightBalancingStrategy,
    "dwa": DynamicWeightAverageStrategy,
    "weight_learning": WeightLearningStrategy,
    "async": AsynchronousStrategy,
}
ALIASES = {"product": "gls"}
NAMES = tuple(STRATEGIES) + tuple(ALIASES)


def get(identifier, tasks=None, **options):
    """Returns the weighting strategy `identifier` for `tasks`.

    Args:
        identifier: a name from `NAMES` (case-insensitive), an existing `WeightingStrategy` (returned
            as is), or a config dict from `keras.saving.serialize_keras_object(strategy)`.
        tasks: list/tuple of task names, order kept; required with a name.
        **options: the strategy's options (see each class), e.g. `get("dwa", tasks, temperature=2.0)`.
    """
    if isinstance(identifier, WeightingStrategy):
        if options:
            raise ValueError(
                f"Options {sorted(options)} cannot be applied to an existing strategy "
                f"{type(identifier).__name__}; build a new one with `get(name, tasks, **options)`."
            )
        if tasks is not None and tuple(tasks) != identifier.tasks:
            raise ValueError(
                f"`tasks` {list(tasks)} differ from the tasks {list(identifier.tasks)} of the given strategy."
            )
        return identifier
    if isinstance(identifier, dict):
        strategy = keras.saving.deserialize_keras_object(identifier)
        if not isinstance(strategy, WeightingStrategy):
            raise ValueError(f"The config does not describe a weighting strategy: {identifier!r}.")
        return get(strategy, tasks, **options)
    if not isinstance(identifier, str):
        raise ValueError(
            f"Weighting strategy must be a name from {list(NAMES)} or a WeightingStrategy; got {identifier!r}."
        )
    key = identifier.lower()
    key = ALIASES.get(key, key)
    if key not in STRATEGIES:
        raise ValueError(f"Unknown weighting strategy {identifier!r}; allowed names: {list(NAMES)}.")
    strategy_class = STRATEGIES[key]
    allowed = strategy_class.option_names() + ("name",)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Weighting strategy {identifier!r} does not take the option(s) {unknown}; "
            f"allowed options: {list(allowed)}."
        )
    if tasks is None:
        raise ValueError(f"`tasks` (list of task names) is required to build weighting strategy {identifier!r}.")
    return strategy_class(tasks, **options)


__all__ = [
    "ALIASES",
    "NAMES",
    "STRATEGIES",
    "AsynchronousStrategy",
    "DynamicScalingStrategy",
    "DynamicWeightAverageStrategy",
    "EqualWeightingStrategy",
    "FixedWeightingStrategy",
    "FocusedLossStrategy",
    "FocusedTaskWeightBalancingStrategy",
    "GeometricLossStrategy",
    "GradNormStrategy",
    "HandcraftedWeightingStrategy",
    "TaskWeightBalancingStrategy",
    "UncertaintyWeightingStrategy",
    "WeightLearningStrategy",
    "WeightingStrategy",
    "get",
]
