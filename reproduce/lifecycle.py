"""The lifecycle of a run: reused from the cache when finished, resumed when interrupted, recorded in failed.json
when it fails (retried on the next invocation), and spread over an executor (a Ray cluster) with the runs it starts
from first. What a run does is the `step` its caller passes (reproduce.runner picks the Keras recipe or the
meta-learning search), so this module imports neither.
"""
import dataclasses
import os
import shutil
import traceback

from common.atomic import write_json
from reproduce.plan import Plan

class RunFailed(RuntimeError):
    """A run that could not finish; the message is what the tables print after "failed: "."""


def run(plan, name, step, keep_init=False, label=None):
    """Runs `step(plan, name, folder, keep_init, label) -> metrics` for experiment `name` unless a finished run with
    the same configuration exists (or --force). Returns its metrics; raises RunFailed (after writing failed.json)
    when it cannot finish."""
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
    try:
        metrics = step(plan, name, folder, keep_init, label or name)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # the run failed; the reason goes to its table cells and the others go on
        reason = _reason(error, plan[name], settings)
        write_json(failed, {"failed": reason, "traceback": traceback.format_exc()})
        raise RunFailed(reason) from error
    write_json(done, metrics)
    shutil.rmtree(os.path.join(folder, "backup"), ignore_errors=True)
    return metrics


def run_many(plan, order, run_one, keep_init=(), labels=None, executor=None, echo=print):
    """Runs the experiments `order` (dependencies first, as `Plan.order` gives them) on `executor` (a
    training.executors executor; default in this process, in order), each submitted once the run it starts from is
    done; cached runs are reused without being submitted. `keep_init`: the names later runs start from.

    Returns ({"trained": n, "reused": n}, {name: reason} of the failed runs and of those skipped because the run
    they start from failed). Every run is `run_one(plan, name, keep_init=..., label=...)` (picklable: a module's
    function) in a worker process: the cache, resume, failed.json and atomic
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
    write_datasets(settings, [plan[name] for name in to_run])
    after = {name: [plan[name].dependency] for name in to_run if plan[name].dependency}
    executor = executor or InProcessExecutor()
    in_workers = not isinstance(executor, InProcessExecutor)
    if in_workers:  # one line per run from here, no progress bars from the workers
        plan = Plan(plan.experiments.values(), dataclasses.replace(settings, progress=False))
        echo(f"{len(to_run)} runs to train on {type(executor).__name__}, {counts['reused']} reused from the cache")
    task = RunTask(plan, run_one, frozenset(keep_init), dict(labels), in_worker=in_workers)
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


def write_datasets(settings, experiments):
    """Generates the synthetic trees the experiments read (a no-op for real data) here, once, before concurrent
    workers or candidates read them."""
    for experiment in experiments:
        for part in settings.sources.components(experiment.dataset):
            settings.sources.reader(part, **experiment.data_options)


def prepare_worker():
    """A process that trains runs one after another (a Ray worker): deterministic ops, as the driver (same seed,
    same numbers), and a fresh Keras session, so the previous runs' graphs are not kept."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.backend.clear_session()


@dataclasses.dataclass(frozen=True)
class RunTask:
    """`run` of one experiment of `plan` by name, in whichever process the executor chooses (picklable for Ray).
    Returns {"train_seconds": s} (the metrics are in the run's folder); raises RunFailed (the reason is in the run's
    failed.json), so that the executor holds back the runs that start from it."""

    plan: Plan
    run_one: object  # run_one(plan, name, keep_init=..., label=...) -> metrics
    keep_init: frozenset = frozenset()
    labels: dict = None
    in_worker: bool = False  # a process of its own (Ray): determinism on, a fresh Keras session per run

    def __call__(self, name):
        if self.in_worker:
            prepare_worker()
        metrics = self.run_one(self.plan, name, keep_init=name in self.keep_init,
                               label=(self.labels or {}).get(name, name))
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
