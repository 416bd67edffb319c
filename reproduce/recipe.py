"""The Keras training recipe of one run: the network and its initialisation, the data, compile (FusedAdam, the
experiment's weighting and losses, streaming metrics), callbacks (resume backup, CSV history, TensorBoard with
prediction panels, the best epoch's weights), fit, evaluation on the validation split, and the files it keeps.
"""
import math
import os
import time

import keras
import numpy as np

from common.atomic import atomic_path, write_json
from data import class_sets
from models.fused_adam import FusedAdam
from reproduce import evaluation
from reproduce.datasets import data_tasks
from reproduce.plan import IMAGE_SIZE, run_image_size
from tasks import find_task
from training import checkpoints, distribution
from training.callbacks import PredictionPanels, StepTimer, task_metrics
from training.checkpoints import AtomicBestCheckpoint, read_history

#: below this many training steps, tracing the graph (30-40 s for ResNet-50 on CPU) costs more than it saves
EAGER_BELOW_STEPS = 40
#: validation images in the TensorBoard panels; about ten panels per run, plus the last epoch's
PANEL_IMAGES = 4
PANELS_PER_RUN = 10


def build_model(experiment, init, image_size=IMAGE_SIZE):
    import models

    options = dict(experiment.builder_options)
    options["input_shape"] = tuple(image_size) + (3,)
    options["weights"] = init.partition(":")[2] if init.startswith("imagenet:") else None
    return getattr(models, experiment.builder)(**options)


def train_and_evaluate(plan, name, folder, keep_init, label):
    """The step of a run (reproduce.lifecycle.run): train, evaluate, keep the files; returns the metrics."""
    experiment = plan[name]
    settings = plan.settings
    config = plan.config(name)
    strategy = distribution.get_strategy(settings.strategy)
    distribution.check_weighting(experiment.weighting, strategy)  # refuses what cannot run on several replicas
    # the strategy is not hashed (it changes no result beyond floating-point order); recorded for the reader
    write_json(os.path.join(folder, "config.json"), {"name": name, **config, "distribution": {
        "strategy": settings.strategy or "none", "replicas": distribution.replicas(strategy)}})
    plan_budget = plan.budget(name)
    keras.utils.set_random_seed(plan.seed(name))
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
    train, steps = training_data(experiment, settings, plan_budget, model.tasks, plan.seed(name))
    validation = validation_data(experiment, settings, plan_budget, model.tasks)
    train, validation = distribution.shard_by_data(train, strategy), distribution.shard_by_data(validation, strategy)
    eager = settings.eager == "always" or (settings.eager == "auto"
                                           and plan_budget.epochs * steps < EAGER_BELOW_STEPS)
    eager = eager and distribution.supports_eager(strategy)  # multiworker: graphs only
    with strategy.scope():
        model.compile(optimizer=FusedAdam(plan.learning_rate(name), beta_1=experiment.beta_1,
                                          beta_2=experiment.beta_2),
                      weighting=experiment.weighting, weighting_options=experiment.weighting_options or None,
                      loss=loss_overrides(experiment) or None, run_eagerly=eager,
                      metrics=task_metrics(model) or None)  # val_{task}_{metric} per epoch, in Keras' validation
        distribution.prepare_model(model, strategy)  # batch norm over the global batch
    best = os.path.join(folder, "best.weights.h5")
    history = os.path.join(folder, "history.csv")
    backup = os.path.join(folder, "backup")
    with strategy.scope():
        initial_epoch = checkpoints.restore(model, backup)  # an interrupted run resumes after its last epoch
    callbacks = [
        keras.callbacks.CSVLogger(history, append=True),
        keras.callbacks.TensorBoard(os.path.join(folder, "tensorboard"), write_graph=False, profile_batch=0),
        prediction_panels(experiment, settings, plan_budget, model.tasks, os.path.join(folder, "tensorboard")),
    ]
    if experiment.monitor:  # None keeps the last epoch
        callbacks.append(AtomicBestCheckpoint(best, experiment.monitor, experiment.monitor_mode,
                                              previous_best(history, experiment.monitor, experiment.monitor_mode)))
    if settings.progress:
        callbacks.append(RunProgress(label, plan_budget.epochs, steps, initial_epoch))
    timer = StepTimer()
    callbacks.append(timer)
    # last: an epoch is finished once everything above is written; kept until metrics.json exists, so a kill during
    # evaluation resumes after the last epoch, not at epoch 0
    callbacks.append(checkpoints.RunBackup(backup))
    with strategy.scope():  # keras.distribution (JAX) shards the batches of the distribution in scope
        model.fit(train, validation_data=validation, epochs=plan_budget.epochs, steps_per_epoch=steps, verbose=0,
                  callbacks=callbacks, initial_epoch=initial_epoch)
    if experiment.monitor and os.path.isfile(best):
        checkpoints.load_network_weights(model, best)
    metrics = evaluation.evaluate(model, experiment, settings, plan_budget, folder)
    last_epoch = (read_history(history) or [{}])[-1]
    for task in model.tasks:
        if last_epoch.get(f"{task}_weight") not in (None, ""):
            metrics[f"weights/{task}"] = float(last_epoch[f"{task}_weight"])
    metrics["params"] = model.count_params()  # the network's own: not the weighting strategy's variables
    metrics["train_seconds"] = round(time.time() - started, 1)
    if timer.median_seconds is not None:  # what a training step costs once running (the first step left out)
        metrics["step_seconds"] = round(timer.median_seconds, 4)
    metrics["epochs"] = plan_budget.epochs
    metrics["init"] = config["init"]
    keep_model_files(model, folder, settings, keep_init)
    return metrics


def keep_model_files(model, folder, settings, keep_init):
    """init.weights.npz when a later run starts from this one; model.keras and best.weights.h5 unless --quick drops
    them (without --keep-models)."""
    if keep_init:
        save_layer_weights(model, os.path.join(folder, "init.weights.npz"))
    if settings.keeps_models():
        with atomic_path(os.path.join(folder, "model.keras")) as temporary:
            model.save(temporary)
    elif os.path.isfile(os.path.join(folder, "best.weights.h5")):
        os.remove(os.path.join(folder, "best.weights.h5"))


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


def training_data(experiment, settings, plan_budget, tasks, seed=None):
    """(dataset, steps per epoch) of the experiment's training split, shuffled by `seed` (default: --seed)."""
    seed = settings.seed if seed is None else seed
    sources = settings.sources
    class_set = class_sets.get(experiment.class_set) if experiment.class_set else None
    if experiment.dataset == "kitti_detseg":
        ds, size = sources.load_detseg_training(experiment.train_split, class_set, plan_budget.batch_size,
                                                seed, run_image_size(experiment, settings),
                                                **experiment.data_options)
        steps = math.ceil(size / plan_budget.batch_size)
    else:
        ds = sources.load(experiment.dataset, experiment.train_split, data_tasks(tasks),
                          frames=experiment.frames, class_set=class_set, batch_size=plan_budget.batch_size,
                          shuffle=True, seed=seed, image_size=run_image_size(experiment, settings),
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
        unlabelled = find_task(task).ignore_value if find_task(task) is not None else None
        filler = np.full_like(present, 0 if unlabelled is None else unlabelled)
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


class RunProgress(keras.callbacks.Callback):
    """One progress bar per run: label, epoch, step bar, loss and ETA (tqdm); a resumed run starts at its epoch."""

    def __init__(self, label, epochs, steps, initial_epoch=0):
        super().__init__()
        self.label, self.epochs, self.steps, self.initial_epoch = label, epochs, steps, initial_epoch
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs * self.steps, initial=self.initial_epoch * self.steps, desc=self.label,
                        unit="step", leave=True, dynamic_ncols=True)

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
