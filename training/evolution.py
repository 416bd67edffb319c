"""The evolution strategy of Leang et al. 2020, Section IV-C: mixed continuous / integer variables, a step along
a fitness gradient estimated from the population, and a tabu list. Pure numpy, no training: it proposes
candidates and learns from their fitness (`training/meta_learning.py` runs the loop).

The paper names the ingredients and three sizes (initial population 4, 4 new configurations per generation,
2 parents each); the rest is ours, each an `EvolutionOptions` field:
- Every variable is searched in a unit coordinate u in [0, 1]. A "log" variable is w' = 10^w with w' in
  [low, high] (the paper's task weights), a "linear" one is low + u (high - low); an integer variable is a
  numeric one rounded after decoding (the paper's frequencies, 1-10, "followed by a rounding operation").
- Generation 0 samples the initial population uniformly.
- Each new configuration: 2 parents drawn from the best `initial_population` evaluations so far (the elite),
  more likely the better they rank; intermediate recombination (a random point of the box the parents span);
  Gaussian mutation with step size sigma; then a step of `gradient_step * sigma` along the natural-evolution-
  strategy gradient of the elite (rank-based utilities times the elite's offsets from its mean, normalised).
- sigma follows Rechenberg's 1/5 success rule (the paper's ref. [38]): after each generation it grows by
  `sigma_factor` when more than 1/5 of the new configurations beat the best before them, else shrinks.
- Tabu: a candidate is rejected when, in what training sees (normalised weights, rounded integers), every
  coordinate is within `tabu_radius` of an evaluated or already proposed one; it is redrawn with a doubled
  mutation, up to `tabu_tries` times (then the last draw stands: the space is exhausted at that resolution).
- Stopping: after `max_evaluations`, or `patience` generations without improvement (None: never early).
Everything random comes from numpy's generator seeded with (seed, generation), so proposals depend only on the
finished generations: the same seed gives the same candidates however the evaluations were scheduled, and a
resumed search proposes exactly what the uninterrupted one would have.
"""
import dataclasses
import math

import numpy as np

SCALES = ("log", "linear")


@dataclasses.dataclass(frozen=True)
class Variable:
    """One searched value in [low, high]: `scale` "log" searches log10 of it; `integer` rounds it."""

    name: str
    low: float
    high: float
    scale: str = "log"
    integer: bool = False

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"variable {self.name!r}: scale {self.scale!r} must be one of {SCALES}")
        if not self.low < self.high or (self.scale == "log" and self.low <= 0):
            raise ValueError(f"variable {self.name!r}: needs low < high (and low > 0 on a log scale); got "
                             f"[{self.low}, {self.high}]")

    def decode(self, unit):
        unit = min(max(float(unit), 0.0), 1.0)
        if self.scale == "log":
            value = 10 ** (math.log10(self.low) + unit * (math.log10(self.high) - math.log10(self.low)))
        else:
            value = self.low + unit * (self.high - self.low)
        value = min(max(value, self.low), self.high)
        return int(round(value)) if self.integer else value

    def encode(self, value):
        if self.scale == "log":
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Variables, and the group of them normalised to sum to one after decoding (Leang's task weights)."""

    variables: tuple
    normalised: tuple = ()

    def __post_init__(self):
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"a search space needs distinct variable names; got {names}")
        unknown = sorted(set(self.normalised) - set(names))
        if unknown:
            raise ValueError(f"normalised variables {unknown} are not in the space {names}")

    @property
    def names(self):
        return tuple(v.name for v in self.variables)

    def decode(self, unit):
        """Unit coordinates -> {name: value}, integers rounded, the normalised group summing to one."""
        values = {v.name: v.decode(u) for v, u in zip(self.variables, unit)}
        if self.normalised:
            total = sum(values[name] for name in self.normalised)
            values.update({name: values[name] / total for name in self.normalised})
        return values

    def signature(self, unit):
        """What training sees, in unit-like coordinates: the tabu list compares these. Scaling every normalised
        weight by the same factor gives the same normalised weights, hence the same signature."""
        coordinates = []
        logs = {v.name: math.log10(v.decode(u)) for v, u in zip(self.variables, unit) if v.name in self.normalised}
        mean_log = sum(logs.values()) / len(logs) if logs else 0.0
        for variable, u in zip(self.variables, unit):
            if variable.name in logs:
                span = math.log10(variable.high) - math.log10(variable.low)
                coordinates.append((logs[variable.name] - mean_log) / span)
            elif variable.integer:
                coordinates.append(variable.encode(variable.decode(u)))
            else:
                coordinates.append(min(max(float(u), 0.0), 1.0))
        return np.asarray(coordinates)

    def get_config(self):
        return {"variables": [dataclasses.asdict(v) for v in self.variables], "normalised": list(self.normalised)}

    @classmethod
    def from_config(cls, config):
        return cls(tuple(Variable(**v) for v in config["variables"]), tuple(config["normalised"]))


def task_weight_space(weight_ranges, frequency_range=None):
    """Leang et al.'s space: a log10-scale weight per task within weight_ranges[task] = (min, max), normalised
    to sum to one ("weight/<task>"), and with `frequency_range` = (1, 10) an integer backpropagation frequency
    per task ("frequency/<task>")."""
    variables = [Variable(f"weight/{task}", float(low), float(high)) for task, (low, high) in weight_ranges.items()]
    if frequency_range is not None:
        low, high = frequency_range
        variables += [Variable(f"frequency/{task}", float(low), float(high), "linear", integer=True)
                      for task in weight_ranges]
    return SearchSpace(tuple(variables), tuple(f"weight/{task}" for task in weight_ranges))


@dataclasses.dataclass(frozen=True)
class EvolutionOptions:
    """The search's settings (see the module docstring); the first three are the paper's."""

    initial_population: int = 4
    offspring: int = 4
    parents: int = 2
    max_evaluations: int = 48  # the paper's WoodScape search found its best after 44
    patience: int = None
    sigma: float = 0.1
    sigma_factor: float = 1.5
    min_sigma: float = 0.01
    max_sigma: float = 0.5
    gradient_step: float = 1.0
    tabu_radius: float = 0.02
    tabu_tries: int = 100
    seed: int = 0

    def __post_init__(self):
        for name in ("initial_population", "offspring", "parents", "max_evaluations", "tabu_tries"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"EvolutionOptions.{name} must be a positive integer; got {getattr(self, name)!r}")
        if self.parents > self.initial_population:
            raise ValueError(f"EvolutionOptions.parents ({self.parents}) cannot exceed the elite, "
                             f"initial_population ({self.initial_population})")
        if not 0 < self.min_sigma <= self.sigma <= self.max_sigma:
            raise ValueError("EvolutionOptions needs 0 < min_sigma <= sigma <= max_sigma")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"EvolutionOptions.patience must be None or >= 1; got {self.patience!r}")


def worst_last(fitness):
    """Sort key: failed evaluations (None or NaN fitness) count as the worst fitness."""
    return -math.inf if fitness is None or not math.isfinite(fitness) else fitness


def rank_utilities(count):
    """NES fitness shaping: utilities of ranks 1..count (best first), summing to zero."""
    raw = np.maximum(0.0, math.log(count / 2 + 1) - np.log(np.arange(1, count + 1)))
    return raw / raw.sum() - 1.0 / count


class EvolutionStrategy:
    """Proposes generations of candidates (`propose`) from the evaluations so far (`update`).

    An evaluation is a dict with "unit" (list of unit coordinates), "fitness" (float, None when it failed) and
    "generation". The strategy keeps no history of its own besides sigma, so its state is what the caller stores.
    """

    def __init__(self, space, options=EvolutionOptions(), sigma=None):
        self.space, self.options = space, options
        self.sigma = options.sigma if sigma is None else sigma
        self.tabu_rejections = 0

    def size_of(self, generation):
        return self.options.initial_population if generation == 0 else self.options.offspring

    def propose(self, generation, evaluations):
        """The unit coordinates of generation `generation`'s candidates (a list of lists)."""
        rng = np.random.default_rng([self.options.seed, generation])
        count = min(self.size_of(generation), self.options.max_evaluations - len(evaluations))
        taken = [self.space.signature(e["unit"]) for e in evaluations]
        dimensions = len(self.space.variables)
        if generation == 0:
            draw = lambda attempt: rng.uniform(0.0, 1.0, dimensions)  # noqa: E731
        else:
            elite = self.elite(evaluations)
            points = np.asarray([e["unit"] for e in elite])
            direction = self.gradient(points)
            ranks = np.arange(len(elite), 0, -1, dtype=float)
            probabilities = ranks / ranks.sum()

            def draw(attempt):
                chosen = rng.choice(len(elite), size=min(self.options.parents, len(elite)), replace=False,
                                    p=probabilities)
                low, high = points[chosen].min(axis=0), points[chosen].max(axis=0)
                child = low + rng.uniform(0.0, 1.0, dimensions) * (high - low)
                sigma = self.sigma * 2 ** attempt
                child = child + sigma * rng.standard_normal(dimensions) + self.options.gradient_step * sigma * direction
                return reflect(child)
        proposals = []
        for _ in range(count):
            for attempt in range(self.options.tabu_tries):
                child = draw(attempt)
                signature = self.space.signature(child)
                if not any(np.max(np.abs(signature - other)) < self.options.tabu_radius for other in taken):
                    break
                self.tabu_rejections += 1
            taken.append(self.space.signature(child))
            proposals.append([float(u) for u in child])
        return proposals

    def elite(self, evaluations):
        """The best `initial_population` evaluations, best first (ties: the earlier one)."""
        ordered = sorted(enumerate(evaluations), key=lambda item: (-worst_last(item[1]["fitness"]), item[0]))
        return [e for _, e in ordered[:self.options.initial_population]]

    def gradient(self, points):
        """Unit-length NES ascent direction of the elite (best first), or zeros when it is degenerate."""
        if len(points) < 2:
            return np.zeros(points.shape[1])
        direction = rank_utilities(len(points)) @ (points - points.mean(axis=0))
        norm = np.linalg.norm(direction)
        return direction / norm if norm > 1e-12 else np.zeros(points.shape[1])

    def update(self, generation, evaluations):
        """1/5 success rule after generation `generation` finished; `evaluations` includes it."""
        if generation == 0:
            return
        before = [worst_last(e["fitness"]) for e in evaluations if e["generation"] < generation]
        new = [worst_last(e["fitness"]) for e in evaluations if e["generation"] == generation]
        best_before = max(before, default=-math.inf)
        success = sum(f > best_before for f in new) / max(len(new), 1)
        if success > 0.2:
            self.sigma *= self.options.sigma_factor
        elif success < 0.2:
            self.sigma /= self.options.sigma_factor
        self.sigma = min(max(self.sigma, self.options.min_sigma), self.options.max_sigma)

    def finished(self, evaluations):
        if len(evaluations) >= self.options.max_evaluations:
            return True
        patience = self.options.patience
        if patience is None:
            return False
        generations = max((e["generation"] for e in evaluations), default=0)
        best = max(range(len(evaluations)), key=lambda i: (worst_last(evaluations[i]["fitness"]), -i), default=None)
        return best is not None and generations - evaluations[best]["generation"] >= patience


def reflect(point):
    """Folds coordinates back into [0, 1] (a mutation past a bound lands inside, not stuck on it)."""
    point = np.mod(np.asarray(point, dtype=float), 2.0)
    return np.where(point > 1.0, 2.0 - point, point)
