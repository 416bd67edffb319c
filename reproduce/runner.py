"""Trains and evaluates one `Experiment`: the one runner behind every table.

A run lives in OUT/runs/<experiment>-<hash>/, the hash covering its full configuration (experiment, data, budget,
seed, initialisation, and the run it starts from):
    config.json       what was run
    history.csv       per-epoch logs (loss, {task}_loss, {task}_weight, {task}_{metric}, val_...)
    tensorboard/      the same logs for TensorBoard (train/, validation/), and in validation/ image panels
                      (input | prediction | ground truth per task) of the first validation images every
                      max(1, epochs // 10) epochs and after the last (training.callbacks.PredictionPanels)
    backup/           keras.callbacks.BackupAndRestore state while training (resume after a kill)
    best.weights.h5   the weights of the best epoch by the experiment's monitor
    model.keras       the best model (kept unless --quick without --keep-models)
    init.weights.npz  layer weights that later experiments start from (only when one does)
    metrics.json      the scores on the validation split; written last, so its presence means "done"
    failed.json       why the last attempt failed (NaN loss, bad data, ...); retried on the next invocation
Every file the runner writes itself is written atomically.

Scale (training/distribution.py, training/executors.py): `Settings.strategy` trains each run on several devices
("mirrored") or hosts ("multiworker", TF_CONFIG) with the same GLOBAL batch (`--batch-size`), the same updates
(synchronised batch normalisation, the weighting strategy on the global batch's task losses) and the same data,
so it is not part of the hash: like the GPU model or the thread count, it is how a run is computed, not which run
it is, and a run is the same run whichever strategy trains, resumes or reuses it (config.json records the last
one). Bit for bit it is not: the replicas sum in another order, and Keras' `fit` under tf.distribute draws one
batch to build the model before training, which advances tf.data's reshuffling by one (the epochs see the
orders that the one-device run's next epochs see). `run_many` spreads independent runs over an executor (a Ray
cluster), each run submitted once the run it starts from is done, with the same cache, resume and atomic files.
"""
import csv
import dataclasses
import math
import os
import shutil
import time
import traceback

import keras
import numpy as np

from reproduce import class_sets, evaluation
from reproduce.datasets import DataSources, data_tasks
from reproduce.experiment import RUNNER_VERSION, config_hash
from training import distribution
from common.atomic import atomic_path, write_json
from training.callbacks import PredictionPanels, task_metrics
from training.fused_adam import FusedAdam

IMAGE_SIZE = (224, 384)
#: Settings.image_size that runs every experiment at its paper's own resolution (Experiment.paper_image_size)
PAPER_SIZE = "paper"
ENCODER_STRIDE = 32
QUICK = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "val_images": 2}
#: --quick meta-learning searches: two candidates per generation, two generations
QUICK_SEARCH = {"initial_population": 2, "offspring": 2, "parents": 2, "max_evaluations": 4}
#: below this many training steps, tracing the graph (30-40 s for ResNet-50 on CPU) costs more than it saves
EAGER_BELOW_STEPS = 40
DEFAULT_BACKBONES = {"build_detseg": "resnet10", "build_selfsup": "resnet18"}
#: validation images in the TensorBoard panels; about ten panels per run, plus the last epoch's
PANEL_IMAGES = 4
PANELS_PER_RUN = 10


class RunFailed(RuntimeError):
    """A run that could not finish; the message is what the tables print after "failed: "."""


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


def learning_rate(experiment, settings):
    """The experiment's learning rate, or with --scale-lr that rate x (batch size of the run / the experiment's):
    Goyal et al.'s linear scaling rule, for a global batch other than the one the paper tuned its rate for."""
    if not settings.scale_lr:
        return experiment.learning_rate
    return experiment.learning_rate * budget(experiment, settings).batch_size / experiment.batch_size


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

        backbone = experiment.builder_options.get("backbone", DEFAULT_BACKBONES.get(experiment.builder, "resnet50"))
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
            backbone = experiment.builder_options.get("backbone", DEFAULT_BACKBONES.get(experiment.builder, "resnet50"))
            if experiment.init == "imagenet" and backbone not in self.settings.pretrained:
                backbones.add(backbone)
        return sorted(backbones)

    def config(self, name):
        """The full configuration of a run (what its hash covers)."""
        if name not in self._configs:
            experiment = self[name]
            settings = self.settings
            init, _ = self.initialisation(experiment)
            dependency = experiment.dependency
            run_budget = dataclasses.asdict(budget(experiment, settings))
            if run_budget["search"] is None:
                run_budget.pop("search")  # runs cached before searches existed keep their hashes
            experiment_config = experiment.config()
            if settings.scale_lr:  # hashed as the rate it trains with; without --scale-lr the hash is unchanged
                experiment_config["learning_rate"] = learning_rate(experiment, settings)
            config = {
                "experiment": experiment_config,
                "budget": run_budget,
                "data": settings.sources.identity(experiment.dataset),
                "image_size": list(run_image_size(experiment, settings)),
                "seed": settings.seed,
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
                with open(path) as handle:
                    return json.load(handle)
        return None

    def status(self, name):
        result = self.result(name)
        if result is not None:
            return f"failed: {result['failed']}" if "failed" in result else "done"
        folder = self.run_dir(name)
        started = (os.path.isdir(os.path.join(folder, "backup"))
                   or os.path.isfile(os.path.join(folder, "search_state.json")))
        return "partial" if started else "to run"

    def needed_as_start(self, names):
        return {self[name].dependency for name in names if self[name].dependency}


def run(plan, name, keep_init=False, label=None):
    """Trains and evaluates experiment `name` unless a finished run with the same configuration exists (or
    --force). Returns its metrics; raises RunFailed (after writing failed.json) when it cannot finish."""
    settings = plan.settings
    folder = plan.run_dir(name)
    done = os.path.join(folder, "metrics.json")
    if is_cached(plan, name, keep_init):
        return plan.result(name)
    if os.path.isfile(done) or settings.force:
        shutil.rmtree(folder, ignore_errors=True)  # retrain from scratch: no stale history, best or backup
    os.makedirs(folder, exist_ok=True)
    failed = os.path.join(folder, "failed.json")
    if os.path.isfile(failed):
        os.remove(failed)
    if plan[name].search is not None:
        from reproduce.meta_search import search_and_evaluate as train_and_evaluate
    else:
        train_and_evaluate = _train_and_evaluate
    try:
        metrics = train_and_evaluate(plan, name, folder, keep_init, label or name)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # the run failed; the reason goes to its table cells and the others go on
        reason = _reason(error, plan[name], settings)
        write_json(failed, {"failed": reason, "traceback": traceback.format_exc()})
        raise RunFailed(reason) from error
    write_json(done, metrics)
    shutil.rmtree(os.path.join(folder, "backup"), ignore_errors=True)
    return metrics


def run_many(plan, order, keep_init=(), labels=None, executor=None, echo=print):
    """Runs the experiments `order` (dependencies first, as `Plan.order` gives them) on `executor` (a
    training.executors executor; default in this process, in order), each submitted once the run it starts from is
    done; cached runs are reused without being submitted. `keep_init`: the names later runs start from.

    Returns ({"trained": n, "reused": n}, {name: reason} of the failed runs and of those skipped because the run
    they start from failed). Every run is `run(...)` in a worker process: the cache, resume, failed.json and atomic
    files are the same as in this process; the workers must see `settings.out` at the same path."""
    from training.executors import InProcessExecutor

    settings = plan.settings
    labels = labels or {}
    keep_init = set(keep_init)
    counts = {"trained": 0, "reused": 0}
    failures = {}
    to_run = []
    for name in order:
        if is_cached(plan, name, name in keep_init):
            counts["reused"] += 1
        else:
            to_run.append(name)
    for name in to_run:  # generated here once, not by concurrent workers
        for part in settings.sources.components(plan[name].dataset):
            settings.sources.reader(part, **plan[name].data_options)
    after = {name: [plan[name].dependency] for name in to_run if plan[name].dependency}
    executor = executor or InProcessExecutor()
    in_workers = not isinstance(executor, InProcessExecutor)
    if in_workers:  # one line per run from here, no progress bars from the workers
        plan = Plan(plan.experiments.values(), dataclasses.replace(settings, progress=False))
        echo(f"{len(to_run)} runs to train on {type(executor).__name__}, {counts['reused']} reused from the cache")
    task = RunTask(plan, frozenset(keep_init), dict(labels), in_worker=in_workers)
    for name, result, failure in executor.map(task, to_run, after=after):
        label = labels.get(name, name)
        dependency = plan[name].dependency
        if failure is not None and dependency in failures:
            failures[name] = f"starts from {dependency}, which failed"
            echo(f"{name}: skipped: {failures[name]}")
        elif failure is not None:
            failures[name] = failure.removeprefix(f"{RunFailed.__name__}: ")  # the reason its cells print
            echo(f"{label}: failed: {failures[name]}")
        else:
            counts["trained"] += 1
            if in_workers:
                echo(f"{label}: done in {result['train_seconds'] / 60:.1f} min")
    return counts, failures


@dataclasses.dataclass(frozen=True)
class RunTask:
    """`run` of one experiment of `plan` by name, in whichever process the executor chooses (picklable for Ray).
    Returns {"train_seconds": s} (the metrics are in the run's folder); raises RunFailed (the reason is in the run's
    failed.json), so that the executor holds back the runs that start from it."""

    plan: Plan
    keep_init: frozenset = frozenset()
    labels: dict = None
    in_worker: bool = False  # a process of its own (Ray): determinism on, a fresh Keras session per run

    def __call__(self, name):
        if self.in_worker:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.experimental.enable_op_determinism()  # as the driver: same seed, same numbers
            keras.backend.clear_session()  # a Ray worker trains many runs; do not keep the previous graphs
        metrics = run(self.plan, name, keep_init=name in self.keep_init, label=(self.labels or {}).get(name, name))
        return {"train_seconds": metrics.get("train_seconds", 0.0)}


def ray_executor(plan, address=None, whole_node=False):
    """A RayExecutor for `run_many`: each run asks for one GPU, or all CPUs of the smallest node
    (training.executors.run_resources; `whole_node`: every GPU of a node, for runs that mirror themselves over
    them); a meta-learning search asks for nothing, as its candidates are Ray tasks that ask for their own."""
    from training.executors import RayExecutor, run_resources

    chosen = {}

    def resources(name):
        if plan[name].search is not None:
            return {"num_cpus": 0}
        if "run" not in chosen:  # connected by now: RayExecutor.map connects before asking
            chosen["run"] = run_resources(whole_node=whole_node)
        return chosen["run"]

    return RayExecutor(address, resources=resources)


def is_cached(plan, name, keep_init=False):
    """True when `run` would return the cached metrics of `name` without training (not with --force)."""
    folder = plan.run_dir(name)
    return (not plan.settings.force and os.path.isfile(os.path.join(folder, "metrics.json"))
            and (not keep_init or os.path.isfile(os.path.join(folder, "init.weights.npz"))))


def _reason(error, experiment, settings):
    from models import NonFiniteLossError

    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, NonFiniteLossError):
        return f"NaN/Inf loss: {text}"
    if type(error).__name__ in ("InvalidArgumentError", "DataLossError"):
        # TensorFlow's decoders do not name the file they choke on; find it
        corrupt = settings.sources.find_unreadable_image(experiment.dataset, experiment.data_options)
        if corrupt:
            return f"unreadable image {corrupt} ({text[:120]})"
    return f"{type(error).__name__}: {text}"[:300]


def build_model(experiment, init, image_size=IMAGE_SIZE):
    import models

    options = dict(experiment.builder_options)
    options["input_shape"] = tuple(image_size) + (3,)
    options["weights"] = init.partition(":")[2] if init.startswith("imagenet:") else None
    return getattr(models, experiment.builder)(**options)


def _train_and_evaluate(plan, name, folder, keep_init, label):
    experiment = plan[name]
    settings = plan.settings
    config = plan.config(name)
    strategy = distribution.get_strategy(settings.strategy)
    distribution.check_weighting(experiment.weighting, strategy)  # GradNorm: one device only
    # the strategy is not hashed (it changes no result beyond floating-point order); recorded for the reader
    write_json(os.path.join(folder, "config.json"), {"name": name, **config, "distribution": {
        "strategy": settings.strategy or "none", "replicas": distribution.replicas(strategy)}})
    plan_budget = budget(experiment, settings)
    keras.utils.set_random_seed(settings.seed)
    started = time.time()

    with strategy.scope():  # network, optimizer, weighting strategy and metrics: variables on every replica
        model = build_model(experiment, config["init"], run_image_size(experiment, settings))
        model.target_units = target_units(experiment, settings, model)
        if experiment.dependency:
            dependency = plan.run_dir(experiment.dependency)
            copy_layer_weights(model, os.path.join(dependency, "init.weights.npz"),
                               only_encoder=experiment.init.startswith("encoder:"))
        elif experiment.init.startswith("weights:"):
            copy_layer_weights(model, experiment.init.partition(":")[2])
    train, steps = training_data(experiment, settings, plan_budget, model.tasks)
    validation = validation_data(experiment, settings, plan_budget, model.tasks)
    train, validation = distribution.shard_by_data(train, strategy), distribution.shard_by_data(validation, strategy)
    eager = settings.eager == "always" or (settings.eager == "auto"
                                           and plan_budget.epochs * steps < EAGER_BELOW_STEPS)
    eager = eager and distribution.supports_eager(strategy)  # multiworker: graphs only
    with strategy.scope():
        model.compile(optimizer=FusedAdam(learning_rate(experiment, settings), beta_1=experiment.beta_1,
                                          beta_2=experiment.beta_2),
                      weighting=experiment.weighting, weighting_options=experiment.weighting_options or None,
                      loss=loss_overrides(experiment) or None, run_eagerly=eager,
                      metrics=task_metrics(model) or None)  # val_{task}_{metric} per epoch, in Keras' validation
        distribution.prepare_model(model, strategy)  # batch norm over the global batch
    best = os.path.join(folder, "best.weights.h5")
    history = os.path.join(folder, "history.csv")
    callbacks = [
        # kept until metrics.json exists, so a kill during evaluation resumes after the last epoch, not at epoch 0
        keras.callbacks.BackupAndRestore(os.path.join(folder, "backup"), double_checkpoint=True,
                                         delete_checkpoint=False),
        keras.callbacks.CSVLogger(history, append=True),
        keras.callbacks.TensorBoard(os.path.join(folder, "tensorboard"), write_graph=False, profile_batch=0),
        prediction_panels(experiment, settings, plan_budget, model.tasks, os.path.join(folder, "tensorboard")),
    ]
    if experiment.monitor:  # None keeps the last epoch
        callbacks.append(AtomicBestCheckpoint(best, experiment.monitor, experiment.monitor_mode,
                                              previous_best(history, experiment.monitor, experiment.monitor_mode)))
    if settings.progress:
        callbacks.append(RunProgress(label, plan_budget.epochs, steps))
    with strategy.scope():  # keras.distribution (JAX) shards the batches of the distribution in scope
        model.fit(train, validation_data=validation, epochs=plan_budget.epochs, steps_per_epoch=steps, verbose=0,
                  callbacks=callbacks)
    if experiment.monitor and os.path.isfile(best):
        model.load_weights(best)
    metrics = evaluation.evaluate(model, experiment, settings, plan_budget, folder)
    last_epoch = (read_history(history) or [{}])[-1]
    for task in model.tasks:
        if last_epoch.get(f"{task}_weight") not in (None, ""):
            metrics[f"weights/{task}"] = float(last_epoch[f"{task}_weight"])
    metrics["params"] = model.count_params()  # the network's own: not the weighting strategy's variables
    metrics["train_seconds"] = round(time.time() - started, 1)
    metrics["epochs"] = plan_budget.epochs
    metrics["init"] = config["init"]
    keep_model_files(model, folder, settings, keep_init)
    return metrics


def keep_model_files(model, folder, settings, keep_init):
    """init.weights.npz when a later run starts from this one; model.keras unless --quick drops it."""
    if keep_init:
        save_layer_weights(model, os.path.join(folder, "init.weights.npz"))
    if settings.keeps_models():
        with atomic_path(os.path.join(folder, "model.keras")) as temporary:
            model.save(temporary)


def target_units(experiment, settings, model):
    """{"depth": unit} (and {"depth_image": unit} for FuseNet) that the model trains on (data/depth_units.py)."""
    names = [name for name in ("depth",) if name in model.tasks]
    names += [tensor.name for tensor in keras.tree.flatten(model.input) if tensor.name == "depth_image"]
    if not names:
        return {}
    unit = settings.sources.depth_unit(experiment.dataset, experiment.data_options)
    return {name: unit for name in names}


def loss_overrides(experiment):
    """{task: loss} for the tasks whose loss the experiment changes (e.g. AuxNet's MAE depth loss)."""
    import losses

    return {task: losses.default_loss(task, kind=kind) for task, kind in experiment.losses.items()}


def training_data(experiment, settings, plan_budget, tasks):
    """(dataset, steps per epoch) of the experiment's training split."""
    sources = settings.sources
    class_set = class_sets.get(experiment.class_set) if experiment.class_set else None
    if experiment.dataset == "kitti_detseg":
        ds, size = sources.load_detseg_training(experiment.train_split, class_set, plan_budget.batch_size,
                                                settings.seed, run_image_size(experiment, settings),
                                                **experiment.data_options)
        steps = math.ceil(size / plan_budget.batch_size)
    else:
        ds = sources.load(experiment.dataset, experiment.train_split, data_tasks(tasks),
                          frames=experiment.frames, class_set=class_set, batch_size=plan_budget.batch_size,
                          shuffle=True, seed=settings.seed, image_size=run_image_size(experiment, settings),
                          **experiment.data_options)
        steps = int(ds.cardinality())
    if plan_budget.steps_per_epoch:
        steps = min(steps, plan_budget.steps_per_epoch)
        ds = ds.take(steps)
    if steps < 1:
        raise ValueError(f"the {experiment.train_split} split of {experiment.dataset} gives no batch")
    return ds, steps


def validation_data(experiment, settings, plan_budget, tasks):
    """The validation split for the per-epoch monitor (losses only; scores come from reproduce.evaluation)."""
    if experiment.dataset == "kitti_detseg":
        return None  # two disjoint sets: the monitor reads training logs (see the experiment's monitor)
    class_set = class_sets.get(experiment.class_set) if experiment.class_set else None
    ds = settings.sources.load(experiment.dataset, experiment.val_split, data_tasks(tasks),
                               frames=experiment.frames, class_set=class_set, batch_size=plan_budget.batch_size,
                               image_size=run_image_size(experiment, settings), **experiment.data_options)
    if plan_budget.val_images:
        ds = ds.take(math.ceil(plan_budget.val_images / plan_budget.batch_size))
    return ds


def prediction_panels(experiment, settings, plan_budget, tasks, log_dir):
    """TensorBoard panels of the first validation images every max(1, epochs // 10) epochs and after the last.

    Targets are those of reproduce.evaluation (segmentation mapped onto the class set's channels, coloured with its
    palette; true disparity for stereo disparity). Leang's KITTI (two validation sets) shows detection images
    first, then segmentation images, each with only its own labels."""
    from reproduce.datasets import COMPOSITES

    class_set = class_sets.get(experiment.class_set) if experiment.class_set else None
    parts = COMPOSITES.get(experiment.dataset, {None: experiment.dataset})
    share = math.ceil(PANEL_IMAGES / len(parts))
    examples = []
    for task, dataset in parts.items():
        wanted = evaluation.eval_tasks([task] if task else tasks)
        ds = settings.sources.load(dataset, experiment.val_split, wanted, frames=experiment.frames,
                                   class_set=class_set, segmentation_dataset=dataset,
                                   image_size=run_image_size(experiment, settings),
                                   **experiment.data_options)
        limit = min(share, plan_budget.val_images or share)
        examples += [(inputs, targets) for inputs, targets in ds.take(limit).as_numpy_iterator()]
    if not examples:
        raise ValueError(f"the {experiment.val_split} split of {experiment.dataset} gave no image for the panels")
    inputs = {name: np.stack([x[name] for x, _ in examples]) for name in examples[0][0]}
    targets = {}
    for task in sorted({key for _, y in examples for key in y}):
        present = next(y[task] for _, y in examples if task in y)
        filler = np.full_like(present, {"segmentation": 255, "motion": 255, "detection": -1}.get(task, 0))
        targets[task] = np.stack([y.get(task, filler) for _, y in examples])  # filler: not labelled
    palettes = {"segmentation": class_set.palette} if class_set is not None else None
    return PredictionPanels(inputs, targets, log_dir, every=max(1, plan_budget.epochs // PANELS_PER_RUN),
                            max_images=len(examples), palettes=palettes)


def save_layer_weights(model, path):
    """Every layer's weights by layer name (the encoder as one sub-model), for `init="model:..."`/"encoder:..."."""
    arrays = {}
    for layer in model.layers:
        for index, value in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{index}"] = value
    with atomic_path(path) as temporary:
        np.savez(temporary, **arrays)


def copy_layer_weights(model, path, only_encoder=False):
    """Loads the layers of `path` (save_layer_weights) whose names and shapes match; the encoder must match."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the run this experiment starts from kept no weights")
    with np.load(path) as stored:
        saved = {key: stored[key] for key in stored.files}
    copied = 0
    for layer in model.layers:
        if only_encoder and "encoder" not in layer.name:
            continue
        current = layer.get_weights()
        values = [saved.get(f"{layer.name}/{i}") for i in range(len(current))]
        if current and all(v is not None and v.shape == c.shape for v, c in zip(values, current)):
            layer.set_weights(values)
            copied += 1
        elif "encoder" in layer.name and current:
            raise ValueError(f"{path}: its {layer.name!r} does not fit this model's (other backbone or input size)")
    if copied == 0:
        raise ValueError(f"{path}: no layer of this model matches the stored weights")
    return copied


def previous_best(history_path, monitor, mode):
    """The best monitored value of an interrupted run's history, so a resumed run keeps its best checkpoint."""
    values = [float(row[monitor]) for row in read_history(history_path) if row.get(monitor) not in (None, "")]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def read_history(path):
    """Rows of history.csv, one per epoch (a resumed run may have written an epoch twice: the last row wins)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as handle:
        rows = {}
        for row in csv.DictReader(handle):
            if row.get("epoch") not in (None, ""):
                rows[int(row["epoch"])] = row
    return [rows[epoch] for epoch in sorted(rows)]


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Saves the weights of the best epoch by `monitor`, atomically (a kill never leaves half a file).

    Without validation data the monitor falls back to the training log of the same name (without "val_").
    """

    def __init__(self, path, monitor, mode="min", best=None):
        super().__init__()
        self.path, self.monitor, self.mode, self.best = path, monitor, mode, best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get(self.monitor.removeprefix("val_")))
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best = value
            with atomic_path(self.path) as temporary:
                self.model.save_weights(temporary)


class RunProgress(keras.callbacks.Callback):
    """One progress bar per run: label, epoch, step bar, loss and ETA (tqdm)."""

    def __init__(self, label, epochs, steps):
        super().__init__()
        self.label, self.epochs, self.steps = label, epochs, steps
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs * self.steps, desc=self.label, unit="step", leave=True, dynamic_ncols=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.bar.n = epoch * self.steps
        self.bar.set_postfix_str(f"epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs and "loss" in logs:
            self.bar.set_postfix_str(f"epoch {self._epoch() + 1}/{self.epochs} loss {float(logs['loss']):.4g}")

    def _epoch(self):
        return min(self.bar.n // max(self.steps, 1), self.epochs - 1)

    def on_train_end(self, logs=None):
        self.bar.close()
