"""What one invocation of `python -m reproduce` runs: its settings, each run's budget and image size, and the plan of
experiments with each run's configuration, hash and folder (OUT/runs/<experiment>-<hash>/).

The hash covers a run's full configuration (experiment, data, budget, seed, initialisation, and the run it starts
from); an experiment field left at its default stays out of it, so existing caches stay valid. How a run is
trained is reproduce/recipe.py; its lifecycle (cache, resume, failure, executors) reproduce/lifecycle.py.
"""
import dataclasses
import math
import os

from common.sizes import IMAGE_SIZE
from reproduce.datasets import DataSources
from reproduce.experiment import RUNNER_VERSION, config_hash

#: Settings.image_size that runs every experiment at its paper's own resolution (Experiment.paper_image_size)
PAPER_SIZE = "paper"
ENCODER_STRIDE = 32
#: the lock file in a run's folder that its owner holds (reproduce/lifecycle.py)
RUN_LOCK = "run.lock"
QUICK = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "val_images": 2}
#: --quick meta-learning searches: two candidates per generation, two generations
QUICK_SEARCH = {"initial_population": 2, "offspring": 2, "parents": 2, "max_evaluations": 4}


class ResultDamaged(ValueError):
    """A run's metrics.json or failed.json that does not read; the message names it and what to do."""


@dataclasses.dataclass
class Settings:
    """How this invocation runs experiments (command-line options), shared by all of them."""

    out: str
    sources: DataSources
    quick: bool = False
    epochs: int = None
    batch_size: int = None
    train_images: int = None
    val_images: int = None
    seed: int = 0
    force: bool = False
    retry: bool = True  # retry runs that failed before (--no-retry keeps their failures)
    keep_models: bool = None
    eager: str = "auto"
    pretrained: dict = dataclasses.field(default_factory=dict)
    progress: bool = True
    image_size: tuple = IMAGE_SIZE  # (height, width) of every run, or PAPER_SIZE: each experiment's paper's
    ray_address: str = None  # meta-learning candidates: None starts a local Ray instance
    strategy: str = None  # one run on several devices: training.distribution's "mirrored" or "multiworker"
    scale_lr: bool = False  # learning rate x (batch size / the experiment's batch size): linear scaling rule
    search_evaluations: int = None  # meta-learning searches: evaluations instead of the experiment's
    search_executor: object = None  # a training.executors executor instead of Ray (tests, debugging)
    imports: tuple = ()  # --import modules (common.user_modules.portable), imported again by every worker process

    @property
    def runs_dir(self):
        return os.path.join(self.out, "runs")

    def keeps_models(self):
        return (not self.quick) if self.keep_models is None else self.keep_models


@dataclasses.dataclass
class Budget:
    epochs: int
    batch_size: int
    steps_per_epoch: int
    val_images: int
    search: dict = None  # a meta-learning search's training.evolution.EvolutionOptions fields


def budget(experiment, settings):
    """Epochs, batch size and steps of a run: the paper's, or --quick's, or the command line's overrides."""
    quick = QUICK if settings.quick else {}
    epochs = settings.epochs or quick.get("epochs") or experiment.epochs
    batch_size = settings.batch_size or quick.get("batch_size") or experiment.batch_size
    steps = None
    if settings.train_images:
        steps = max(1, math.ceil(settings.train_images / batch_size))
    elif settings.quick:
        steps = quick["steps_per_epoch"]
    val_images = settings.val_images or quick.get("val_images")
    search = None
    if experiment.search is not None:
        search = {**experiment.search.get("options", {}), **(QUICK_SEARCH if settings.quick else {}),
                  "seed": settings.seed}
        if settings.search_evaluations:
            search["max_evaluations"] = settings.search_evaluations
    return Budget(epochs, batch_size, steps, val_images, search)


def run_image_size(experiment, settings):
    """(height, width) a run trains and evaluates at: --image-size, or with `paper` the experiment's published size;
    each side rounded up to a multiple of 32 (the encoders' stride; e.g. KITTI's 375x1242 runs at 384x1248)."""
    size = experiment.paper_image_size if settings.image_size == PAPER_SIZE else settings.image_size
    return tuple(int(math.ceil(int(side) / ENCODER_STRIDE) * ENCODER_STRIDE) for side in size)


def learning_rate(experiment, settings, run_budget):
    """The experiment's learning rate, or with --scale-lr that rate x (batch size of `run_budget` / the
    experiment's): Goyal et al.'s linear scaling rule, for a global batch other than the one the paper tuned its rate
    for."""
    if not settings.scale_lr:
        return experiment.learning_rate
    return experiment.learning_rate * run_budget.batch_size / experiment.batch_size


def backbone_of(experiment):
    """The encoder an experiment's network uses: its `backbone` option, else its builder's default (read from the
    builder's signature, so it is written in one place)."""
    import inspect

    import models

    if "backbone" in experiment.builder_options:
        return experiment.builder_options["backbone"]
    return inspect.signature(getattr(models, experiment.builder)).parameters["backbone"].default


class Plan:
    """The experiments known to this invocation (all papers', so `init` can name any of them), by name."""

    def __init__(self, experiments, settings):
        self.experiments = {}
        for experiment in experiments:
            known = self.experiments.get(experiment.name)
            if known is not None and known.config() != experiment.config():
                raise ValueError(f"two different experiments are named {experiment.name!r}")
            self.experiments[experiment.name] = experiment
        self.settings = settings
        self._configs = {}
        self._budgets = {}

    def __getitem__(self, name):
        if name not in self.experiments:
            raise KeyError(f"no experiment named {name!r}")
        return self.experiments[name]

    def order(self, names):
        """`names` and the runs they start from, dependencies first, each once."""
        ordered, seen = [], set()

        def visit(name, trail=()):
            if name in trail:
                raise ValueError(f"experiments start from each other in a cycle: {' -> '.join(trail + (name,))}")
            if name in seen:
                return
            dependency = self[name].dependency
            if dependency:
                visit(dependency, trail + (name,))
            seen.add(name)
            ordered.append(name)

        for name in names:
            visit(name)
        return ordered

    def initialisation(self, experiment):
        """(init actually used, note): ImageNet falls back to random when no pretrained file is at hand."""
        if experiment.init != "imagenet":
            return experiment.init, ""
        from models.encoders import resolve_weights

        backbone = backbone_of(experiment)
        request = self.settings.pretrained.get(backbone, "imagenet")
        try:
            return f"imagenet:{resolve_weights(backbone, request)}", ""
        except (FileNotFoundError, ValueError) as error:
            return "random", (f"ImageNet initialisation asked for, but no pretrained {backbone} file was found, so "
                              f"the encoder starts from random weights ({str(error).split('. ')[0]}).")

    def imagenet_backbones(self, names):
        """The encoders that `names` (and the runs they start from) want ImageNet weights for, without a
        --pretrained file: what must be in the Keras cache before their hashes are computed."""
        backbones = set()
        for name in self.order(names):
            experiment = self[name]
            backbone = backbone_of(experiment)
            if experiment.init == "imagenet" and backbone not in self.settings.pretrained:
                backbones.add(backbone)
        return sorted(backbones)

    def budget(self, name):
        """The run's Budget (`budget`), computed once per run."""
        if name not in self._budgets:
            self._budgets[name] = budget(self[name], self.settings)
        return self._budgets[name]

    def seed(self, name):
        """The run's seed: --seed plus the experiment's seed_offset."""
        return self.settings.seed + self[name].seed_offset

    def learning_rate(self, name):
        return learning_rate(self[name], self.settings, self.budget(name))

    def config(self, name):
        """The full configuration of a run (what its hash covers)."""
        if name not in self._configs:
            experiment = self[name]
            settings = self.settings
            init, _ = self.initialisation(experiment)
            dependency = experiment.dependency
            run_budget = dataclasses.asdict(self.budget(name))
            if run_budget["search"] is None:
                run_budget.pop("search")  # runs cached before searches existed keep their hashes
            experiment_config = experiment.config()
            if settings.scale_lr:  # hashed as the rate it trains with; without --scale-lr the hash is unchanged
                experiment_config["learning_rate"] = self.learning_rate(name)
            config = {
                "experiment": experiment_config,
                "budget": run_budget,
                "data": settings.sources.identity(experiment.dataset),
                "image_size": list(run_image_size(experiment, settings)),
                "seed": self.seed(name),
                "init": init,
                "starts_from": self.run_id(dependency) if dependency else None,
                "runner_version": RUNNER_VERSION,
            }
            self._configs[name] = config
        return self._configs[name]

    def run_id(self, name):
        return f"{name}-{config_hash(self.config(name))}"

    def run_dir(self, name):
        return os.path.join(self.settings.runs_dir, self.run_id(name))

    def result(self, name):
        """metrics dict of a finished run, {"failed": reason} of a failed one, or None."""
        import json

        folder = self.run_dir(name)
        for file_name in ("metrics.json", "failed.json"):
            path = os.path.join(folder, file_name)
            if os.path.isfile(path):
                try:
                    with open(path) as handle:
                        return json.load(handle)
                except ValueError as error:
                    raise ResultDamaged(f"{path} is damaged ({error}): delete it and run the same command again "
                                        f"(the run is trained again), or pass --force") from None
        return None

    def status(self, name):
        """done, failed: reason, running (which process holds it), partial (resumes) or to run."""
        from common.locks import held_by_another

        result = self.result(name)
        if result is not None:
            return f"failed: {result['failed']}" if "failed" in result else "done"
        folder = self.run_dir(name)
        holder = held_by_another(os.path.join(folder, RUN_LOCK))
        if holder is not None:
            return f"running ({holder})"
        started = (os.path.isdir(os.path.join(folder, "backup"))
                   or os.path.isfile(os.path.join(folder, "search_state.json")))
        return "partial" if started else "to run"

    def needed_as_start(self, names):
        return {self[name].dependency for name in names if self[name].dependency}
