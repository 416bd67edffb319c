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
| rlw               | RandomLossWeightingStrategy         | Lin et al. 2022 (TMLR), Algorithm 1                |
| famo              | FAMOStrategy                        | Liu et al. 2023 (NeurIPS), Algorithm 1             |
| imtl_l            | ImtlLStrategy                       | Liu et al. 2021 (ICLR), IMTL-L, Sec. 3.2           |

Gradient level (losses/weighting/gradient.py: `aggregate(J)`, `weights_from_gram(G)`, modes "parameters" and
"representation"; the model's train step computes one gradient per task):

| name              | class                               | paper / equation                                  |
|-------------------|-------------------------------------|---------------------------------------------------|
| mgda, mgda_ub     | MGDAStrategy                        | Sener & Koltun 2018 eq. 3, Alg. 1-2; UB: Sec. 3.3 |
| pcgrad            | PCGradStrategy                      | Yu et al. 2020, Algorithm 1                        |
| gradvac           | GradVacStrategy                     | Wang et al. 2021, Algorithm 1                      |
| graddrop          | GradDropStrategy                    | Chen et al. 2020, Algorithm 1, eq. 1 (whole matrix)|
| imtl_g            | ImtlGStrategy                       | Liu et al. 2021, IMTL-G, Sec. 3.1                  |
| imtl              | ImtlStrategy                        | Liu et al. 2021, IMTL (hybrid), Sec. 3.3           |
| cagrad            | CAGradStrategy                      | Liu et al. 2021 (NeurIPS), Algorithm 1             |
| nash_mtl          | NashMTLStrategy                     | Navon et al. 2022, G alpha = 1/alpha               |
| aligned_mtl       | AlignedMTLStrategy                  | Senushkin et al. 2023, Algorithm 1                 |
| upgrad            | UPGradStrategy                      | Quinton & Rey 2024, eq. 3, Proposition 1           |
| db_mtl            | DBMTLStrategy                       | Lin et al. 2023, Algorithm 1 (whole matrix)        |
| gradnorm          | GradNormStrategy                    | Chen et al. 2018 (see above; its rows set w only) |

`mgda_ub` is an alias: `mgda` with mode="representation" (ALIASES maps a name to a name, or to a name and preset
options).
"""
import keras

from losses.weighting.aligned_mtl import AlignedMTLStrategy
from losses.weighting.asynchronous import AsynchronousStrategy
from losses.weighting.auxnet import FocusedTaskWeightBalancingStrategy, TaskWeightBalancingStrategy
from losses.weighting.base import WeightingStrategy
from losses.weighting.cagrad import CAGradStrategy
from losses.weighting.db_mtl import DBMTLStrategy
from losses.weighting.dwa import DynamicWeightAverageStrategy
from losses.weighting.famo import FAMOStrategy
from losses.weighting.geometric import FocusedLossStrategy, GeometricLossStrategy
from losses.weighting.gradient import GradientWeightingStrategy
from losses.weighting.graddrop import GradDropStrategy
from losses.weighting.gradnorm import GradNormStrategy
from losses.weighting.gradvac import GradVacStrategy
from losses.weighting.imtl import ImtlGStrategy, ImtlLStrategy, ImtlStrategy
from losses.weighting.loss_ratio import DynamicScalingStrategy, HandcraftedWeightingStrategy
from losses.weighting.mgda import MGDAStrategy
from losses.weighting.nash_mtl import NashMTLStrategy
from losses.weighting.pcgrad import PCGradStrategy
from losses.weighting.rlw import RandomLossWeightingStrategy
from losses.weighting.static import EqualWeightingStrategy, FixedWeightingStrategy
from losses.weighting.uncertainty import UncertaintyWeightingStrategy
from losses.weighting.upgrad import UPGradStrategy
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
    "rlw": RandomLossWeightingStrategy,
    "famo": FAMOStrategy,
    "imtl_l": ImtlLStrategy,
    "mgda": MGDAStrategy,
    "pcgrad": PCGradStrategy,
    "gradvac": GradVacStrategy,
    "graddrop": GradDropStrategy,
    "imtl_g": ImtlGStrategy,
    "imtl": ImtlStrategy,
    "cagrad": CAGradStrategy,
    "nash_mtl": NashMTLStrategy,
    "aligned_mtl": AlignedMTLStrategy,
    "upgrad": UPGradStrategy,
    "db_mtl": DBMTLStrategy,
}
#: other names: a strategy's name, or (its name, preset options)
ALIASES = {"product": "gls", "mgda_ub": ("mgda", {"mode": "representation"})}
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
    key, preset = resolve_alias(key, options)
    options = {**preset, **options}
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


def resolve_alias(key, options=None):
    """(strategy name, preset options) of a lower-case name or alias (`mgda_ub` -> ("mgda", {"mode":
    "representation"})); an option contradicting the alias's preset is refused."""
    options = options or {}
    target = ALIASES.get(key, key)
    name, preset = target if isinstance(target, tuple) else (target, {})
    contradicted = sorted(option for option, value in preset.items() if option in options and options[option] != value)
    if contradicted:
        raise ValueError(f"{key!r} is {name!r} with {preset}; it cannot take {contradicted} = "
                         f"{[options[option] for option in contradicted]} (use {name!r} for that).")
    return name, preset


__all__ = [
    "ALIASES",
    "NAMES",
    "resolve_alias",
    "STRATEGIES",
    "AlignedMTLStrategy",
    "AsynchronousStrategy",
    "CAGradStrategy",
    "DBMTLStrategy",
    "DynamicScalingStrategy",
    "DynamicWeightAverageStrategy",
    "EqualWeightingStrategy",
    "FAMOStrategy",
    "FixedWeightingStrategy",
    "FocusedLossStrategy",
    "FocusedTaskWeightBalancingStrategy",
    "GeometricLossStrategy",
    "GradDropStrategy",
    "GradNormStrategy",
    "GradVacStrategy",
    "GradientWeightingStrategy",
    "HandcraftedWeightingStrategy",
    "ImtlGStrategy",
    "ImtlLStrategy",
    "ImtlStrategy",
    "MGDAStrategy",
    "NashMTLStrategy",
    "PCGradStrategy",
    "RandomLossWeightingStrategy",
    "TaskWeightBalancingStrategy",
    "UPGradStrategy",
    "UncertaintyWeightingStrategy",
    "WeightLearningStrategy",
    "WeightingStrategy",
    "get",
]
