"""The lifecycle of a run: reused from the cache when finished, resumed when interrupted, recorded in failed.json
when it fails (retried, from a clean start, on the next invocation), owned by one process at a time, and spread over
an executor (a Ray cluster) with the runs it starts from first. What a run does is the `step` its caller passes
(reproduce.runner picks the Keras recipe or the meta-learning search), so this module imports neither.

One owner per run: a process trains a run only while it holds the OS file lock `run.lock` in the run's folder
(common.locks; the kernel releases it when the process dies). `run_many` first tries every run without waiting: a
run that another process holds is put back, and the process goes on with the others; when only held runs are left,
it waits for them (saying which process holds each) and then reuses what that process finished. So processes that
share a results folder (two terminals, `reproduce neurall` beside `reproduce auxnet`, cluster jobs, Ray workers)
train every run once between them. Everything that changes a run's folder (--force's clean start, moving a failed
attempt aside, training) happens under its lock.

Failures heal: a run with a failed.json is retried on the next invocation (unless --no-retry), and the retry starts
clean: the failed attempt's files go to `failed-<n>/` in the run's folder for inspection. Only a failure that left
a sound backup for a reason outside the run (a full disk) resumes from it. An interrupted run (no failed.json)
resumes from its backup, unless its files cannot be trusted (a history.csv that is not one row per epoch, a backup
that does not read), in which case they are moved aside too. A failure that repeats with the same reason says so.
"""
import dataclasses
import json
import os
import shutil
import traceback

from common import locks
from common.atomic import is_disk_full, write_json
from reproduce.plan import RUN_LOCK, Plan

#: failed.json's reason prefix for a full disk: the run resumes from its backup, and run_many stops
DISK_FULL = "disk full"


class RunFailed(RuntimeError):
    """A run that could not finish; the message is what the tables print after "failed: "."""


class RunBusy(RuntimeError):
    """Another process holds the run (or the run it starts from); the message says which."""


def run(plan, name, step, keep_init=False, label=None, wait=True, echo=print):
    """Runs `step(plan, name, folder, keep_init, label) -> metrics` for experiment `name` unless a finished run with
    the same configuration exists (or --force), holding the run's lock. Returns its metrics; raises RunFailed (after
    writing failed.json) when it cannot finish. When another process holds the run: with `wait`, says so through
    `echo` and waits for it (then reuses what it finished); without, raises RunBusy."""
    return run_counted(plan, name, step, keep_init, label, wait, echo)[0]


def run_counted(plan, name, step, keep_init=False, label=None, wait=True, echo=print):
    """`run`, returning (metrics, True if this call trained the run)."""
    folder = plan.run_dir(name)
    if is_cached(plan, name, keep_init):
        return plan.result(name), False
    os.makedirs(folder, exist_ok=True)
    label = label or name

    def waiting(holder):
        echo(f"{label}: held by {holder}; waiting for it, then using its result")

    try:
        with locks.exclusive(os.path.join(folder, RUN_LOCK), wait=wait, on_wait=waiting):
            return _run_owned(plan, name, step, keep_init, label, folder, echo)
    except locks.Busy as busy:
        raise RunBusy(f"held by {busy.holder}") from None


def _run_owned(plan, name, step, keep_init, label, folder, echo):
    settings = plan.settings
    if is_cached(plan, name, keep_init):  # False under --force
        return plan.result(name), False  # the process we waited for finished it
    dependency = plan[name].dependency
    if dependency and not is_cached(plan, dependency, keep_init=True):
        result = plan.result(dependency)
        if result is not None and "failed" in result:
            raise RunFailed(f"starts from {dependency}, which failed")
        raise RunBusy(f"waits for {dependency}, which is not finished")
    # a finished run retrained (--force, or later runs now start from it and it kept no weights) starts from scratch
    from_scratch = settings.force or os.path.isfile(os.path.join(folder, "metrics.json"))
    previous = _start_clean_where_needed(folder, from_scratch, echo)
    try:
        metrics = step(plan, name, folder, keep_init, label)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # the run failed; the reason goes to its table cells and the others go on
        reason = _reason(error, plan[name], settings, folder)
        shown = reason
        if previous is not None and previous.get("reason") == reason:
            shown = f"{reason} (the same failure as the previous attempt, kept in {previous['moved_to']})"
        write_json(os.path.join(folder, "failed.json"), {
            "failed": shown, "reason": reason, "attempt": (previous or {}).get("attempt", 0) + 1,
            "traceback": traceback.format_exc()})
        raise RunFailed(shown) from error
    write_json(os.path.join(folder, "metrics.json"), metrics)
    shutil.rmtree(os.path.join(folder, "backup"), ignore_errors=True)
    return metrics, True


def _own_files(folder):
    """The run's files and folders, without its lock and the attempts moved aside."""
    lock_files = {RUN_LOCK, os.path.basename(locks.owner_path(RUN_LOCK))}
    return [entry for entry in sorted(os.listdir(folder))
            if entry not in lock_files and not entry.startswith("failed-")]


def _move_aside(folder, note, entries=None):
    """Moves `entries` (default: all the run's files) into a new failed-<n>/ with `note` (why) in its README.txt;
    returns "failed-<n>/"."""
    number = 1
    while os.path.exists(os.path.join(folder, f"failed-{number}")):
        number += 1
    aside = os.path.join(folder, f"failed-{number}")
    os.makedirs(aside)
    for entry in _own_files(folder) if entries is None else entries:
        os.replace(os.path.join(folder, entry), os.path.join(aside, entry))
    with open(os.path.join(aside, "README.txt"), "w") as handle:
        handle.write(note + "\n")
    return f"failed-{number}/"


def _start_clean_where_needed(folder, from_scratch, echo):
    """Prepares an owned run folder for training; returns the previous attempt's failure (its failed.json with
    "moved_to") when there was one, else None. `from_scratch`: everything goes. A failed attempt: moved aside, unless it
    failed for want of disk space with a sound backup (then only its failed.json goes, and training resumes). An
    interrupted attempt: resumed, unless its files cannot be trusted (moved aside)."""
    from training.checkpoints import BackupDamaged, HistoryDamaged, read_backup, read_history

    if from_scratch:
        for entry in _own_files(folder) + [e for e in os.listdir(folder) if e.startswith("failed-")]:
            path = os.path.join(folder, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        return None
    try:
        read_history(os.path.join(folder, "history.csv"))
        read_backup(os.path.join(folder, "backup"))
        damage = None
    except (HistoryDamaged, BackupDamaged) as error:
        damage = str(error).split(". ")[0]
    failed_path = os.path.join(folder, "failed.json")
    if not os.path.isfile(failed_path):
        if damage is not None:
            aside = _move_aside(folder, f"Moved aside before a clean retry: {damage}.")
            echo(f"{folder}: its files cannot be trusted ({damage}); moved to {aside}, training from scratch")
        return None
    try:
        with open(failed_path) as handle:
            previous = json.load(handle)
    except (OSError, ValueError):
        previous = {"failed": "unknown (failed.json unreadable)"}
    previous.setdefault("reason", previous.get("failed"))
    note = f"Attempt {previous.get('attempt', 1)} failed: {previous['failed']}"
    resumable = str(previous["reason"]).startswith(DISK_FULL) and damage is None
    previous["moved_to"] = _move_aside(folder, note, entries=["failed.json"] if resumable else None)
    return previous


def run_many(plan, order, run_one, keep_init=(), labels=None, executor=None, echo=print):
    """Runs the experiments `order` (dependencies first, as `Plan.order` gives them) on `executor` (a
    training.executors executor; default in this process, in order), each submitted once the run it starts from is
    done; cached runs are reused without being submitted. `keep_init`: the names later runs start from.

    Returns ({"trained": n, "reused": n}, {name: reason} of the failed runs and of those skipped because the run
    they start from failed). Every run is `run_one(plan, name, keep_init=..., label=..., wait=...)` (picklable: a
    module's function) in a worker process: the cache, resume, failed.json, locks and atomic files are the same as
    in this process; the workers must see `settings.out` at the same path. Runs held by another process are tried
    again after the others; when nothing else is left, this process waits for them (module docstring)."""
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
        elif not settings.retry and "failed" in (result := plan.result(name) or {}):  # --no-retry: it stands
            failures[name] = result["failed"]
            echo(f"{labels.get(name, name)}: failed before, not retried (--no-retry): {result['failed']}")
        else:
            to_run.append(name)
    note_other_runner_versions(plan, echo)
    if to_run:
        from reproduce.disk import check_space

        check_space(plan, to_run, keep_init)
    write_datasets(settings, [plan[name] for name in to_run])
    executor = executor or InProcessExecutor()
    in_workers = not isinstance(executor, InProcessExecutor)
    if in_workers:  # one line per run from here, no progress bars from the workers
        plan = Plan(plan.experiments.values(), dataclasses.replace(settings, progress=False))
        echo(f"{len(to_run)} runs to train on {type(executor).__name__}, {counts['reused']} reused from the cache")
    pending, wait, told = [name for name in to_run if name not in failures], False, set()
    while pending:
        task = RunTask(plan, run_one, frozenset(keep_init), dict(labels), in_worker=in_workers, wait=wait)
        after = {name: [plan[name].dependency] for name in pending if plan[name].dependency}
        held = []
        for name, result, failure in executor.map(task, pending, after=after):
            label = labels.get(name, name)
            dependency = plan[name].dependency
            if failure is not None and dependency in failures:
                failures[name] = f"starts from {dependency}, which failed"
                echo(f"{name}: skipped: {failures[name]}")
            elif failure is not None:
                failures[name] = failure.removeprefix(f"{RunFailed.__name__}: ")  # the reason its cells print
                echo(f"{label}: failed: {failures[name]}")
                if failures[name].startswith(DISK_FULL):
                    echo(f"Stopped: the disk is full (the other runs would fail the same way). {failures[name]}")
                    return counts, failures
            elif result.get("busy"):
                held.append(name)
                if name not in told:
                    told.add(name)
                    echo(f"{label}: {result['busy']}; going on with the other runs first")
            else:
                counts["trained" if result["trained"] else "reused"] += 1
                if in_workers and result["trained"]:
                    echo(f"{label}: done in {result['train_seconds'] / 60:.1f} min")
        # what another process holds is tried again after the rest; once nothing else moved, this process waits
        wait = len(held) == len(pending)
        pending = held
    return counts, failures


def write_datasets(settings, experiments):
    """Generates the synthetic trees the experiments read (a no-op for real data) here, once, before concurrent
    workers or candidates read them."""
    for experiment in experiments:
        for part in settings.sources.components(experiment.dataset):
            settings.sources.reader(part, **experiment.data_options)


def prepare_worker(imports=()):
    """A process that trains runs one after another (a Ray worker): the user's --import modules (their tasks and
    strategies must be registered there too), deterministic ops, as the driver (same seed, same numbers), and a fresh
    Keras session, so the previous runs' graphs are not kept."""
    import keras

    from common.user_modules import import_user_modules

    import_user_modules(imports)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.backend.clear_session()


@dataclasses.dataclass(frozen=True)
class RunTask:
    """`run` of one experiment of `plan` by name, in whichever process the executor chooses (picklable for Ray).
    Returns {"trained": bool, "train_seconds": s} (the metrics are in the run's folder), or {"busy": why} when
    another process holds the run (`wait` False); raises RunFailed (the reason is in the run's failed.json), so
    that the executor holds back the runs that start from it."""

    plan: Plan
    run_one: object  # run_one(plan, name, keep_init=..., label=..., wait=...) -> (metrics, trained)
    keep_init: frozenset = frozenset()
    labels: dict = None
    in_worker: bool = False  # a process of its own (Ray): determinism on, a fresh Keras session per run
    wait: bool = True  # wait for a run another process holds (else report it busy)

    def __call__(self, name):
        if self.in_worker:
            prepare_worker(self.plan.settings.imports)
        try:
            metrics, trained = self.run_one(self.plan, name, keep_init=name in self.keep_init,
                                            label=(self.labels or {}).get(name, name), wait=self.wait)
        except RunBusy as busy:
            return {"busy": str(busy)}
        return {"trained": trained, "train_seconds": metrics.get("train_seconds", 0.0)}


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


def note_other_runner_versions(plan, echo):
    """Says when OUT/runs holds runs of another RUNNER_VERSION: they are never reused or shown (their hashes differ),
    so they are named rather than silently left beside the current ones."""
    from reproduce.experiment import RUNNER_VERSION

    runs = plan.settings.runs_dir
    others = {}
    for entry in sorted(os.listdir(runs)) if os.path.isdir(runs) else ():
        try:
            with open(os.path.join(runs, entry, "config.json")) as handle:
                version = json.load(handle).get("runner_version")
        except (OSError, ValueError):
            continue
        if version != RUNNER_VERSION:
            others.setdefault(version, []).append(entry)
    for version, entries in sorted(others.items(), key=lambda item: str(item[0])):
        echo(f"Note: {runs} holds {len(entries)} run(s) of runner version {version} (this is version "
             f"{RUNNER_VERSION}), e.g. {entries[0]}: they are not reused and not in the tables; delete them to free "
             f"their space, or keep them for reference.")
    return others


def _reason(error, experiment, settings, folder):
    from models import NonFiniteLossError

    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if is_disk_full(error):
        return (f"{DISK_FULL}: no space left on the device of {folder}: free space there and run the same command "
                f"again (the run resumes from its last finished epoch)")
    if isinstance(error, NonFiniteLossError):
        return f"NaN/Inf loss: {text}"
    if type(error).__name__ in ("InvalidArgumentError", "DataLossError"):
        # TensorFlow's decoders do not name the file they choke on; find it
        corrupt = settings.sources.find_unreadable_image(experiment.dataset, experiment.data_options)
        if corrupt:
            return f"unreadable image {corrupt} ({text[:120]})"
    return f"{type(error).__name__}: {text}"[:300]
