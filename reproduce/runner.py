"""Trains and evaluates one `Experiment`: the one runner behind every table, in three modules: reproduce/plan.py
(settings, budget, configuration and hash), reproduce/lifecycle.py (cache, resume, failures, executors) and
reproduce/recipe.py (the Keras training recipe); this module picks each run's step (the recipe, or the
meta-learning search of reproduce/meta_search.py) and keeps the names the rest of the package and users import.

A run lives in OUT/runs/<experiment>-<hash>/, the hash covering its full configuration (experiment, data, budget,
seed, initialisation, and the run it starts from):
    config.json       what was run
    history.csv       per-epoch logs (loss, {task}_loss, {task}_weight, {task}_{metric}, val_...)
    tensorboard/      the same logs for TensorBoard (train/, validation/), and in validation/ image panels
                      (input | prediction | ground truth per task) of the first validation images every
                      max(1, epochs // 10) epochs and after the last (training.callbacks.PredictionPanels)
    run.lock          the lock its owner holds while training it (run.lock.owner.json: which process)
    backup/           the resume state while training (training.checkpoints.RunBackup: network, weighting state
                      and optimizer moments of the last finished epoch), deleted when the run is done
    best.weights.h5   the network (and weighting state) of the best epoch by the experiment's monitor (kept unless
                      --quick without --keep-models)
    model.keras       the best model (kept unless --quick without --keep-models)
    init.weights.npz  layer weights that later experiments start from (only when one does)
    metrics.json      the scores on the validation split; written last, so its presence means "done"
    failed.json       why the last attempt failed (NaN loss, bad data, ...); retried on the next invocation
    failed-<n>/       an earlier failed (or untrustworthy) attempt's files, moved aside before a clean retry
Every file the runner writes itself is written atomically, and only by the process that holds run.lock.

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
from reproduce import lifecycle
from reproduce.datasets import DataSources  # noqa: F401  (the names this module always had)
from reproduce.lifecycle import RunFailed, RunTask, is_cached, ray_executor  # noqa: F401
from reproduce.plan import (  # noqa: F401
    ENCODER_STRIDE,
    IMAGE_SIZE,
    PAPER_SIZE,
    QUICK,
    QUICK_SEARCH,
    RUN_LOCK,
    Budget,
    Plan,
    Settings,
    budget,
    learning_rate,
    run_image_size,
)
from reproduce.recipe import (  # noqa: F401
    EAGER_BELOW_STEPS,
    AtomicBestCheckpoint,
    RunProgress,
    build_model,
    copy_layer_weights,
    keep_model_files,
    loss_overrides,
    prediction_panels,
    previous_best,
    read_history,
    save_layer_weights,
    target_units,
    training_data,
    validation_data,
)
from reproduce.recipe import train_and_evaluate as _train_and_evaluate
from training.checkpoints import HistoryDamaged  # noqa: F401  (read_history's error, beside it)


def step_for(experiment):
    """What a run of `experiment` does: the meta-learning search, or the Keras recipe."""
    if experiment.search is not None:
        from reproduce.meta_search import search_and_evaluate

        return search_and_evaluate
    return _train_and_evaluate


def run(plan, name, keep_init=False, label=None):
    """Trains and evaluates experiment `name` unless a finished run with the same configuration exists (or
    --force). Returns its metrics; raises RunFailed (after writing failed.json) when it cannot finish."""
    return lifecycle.run(plan, name, step_for(plan[name]), keep_init=keep_init, label=label)


def _run_one(plan, name, keep_init=False, label=None, wait=True):
    """(metrics, trained) of one run, for lifecycle.run_many; its step is looked up when called, so a worker runs
    the same."""
    return lifecycle.run_counted(plan, name, step_for(plan[name]), keep_init=keep_init, label=label, wait=wait)


def run_many(plan, order, keep_init=(), labels=None, executor=None, echo=print):
    """Runs the experiments `order` (dependencies first, as `Plan.order` gives them) on `executor` (a
    training.executors executor; default in this process, in order): reproduce.lifecycle.run_many with each run's
    step. Returns ({"trained": n, "reused": n}, {name: reason} of the failed and skipped runs)."""
    return lifecycle.run_many(plan, order, _run_one, keep_init=keep_init, labels=labels, executor=executor, echo=echo)
