"""Evolutionary meta-learning of task weights (Leang et al. 2020, IV-C) and of asynchronous backpropagation
frequencies (IV-D): a resumable search that trains candidates through a user-given `evaluate`.

    from training import evolution, meta_learning
    space = evolution.task_weight_space({"segmentation": (0.1, 1000), "detection": (0.1, 100)}, (1, 10))
    result = meta_learning.search(evaluate, space, "runs/meta", executor=RayExecutor())

`evaluate(candidate)` trains one configuration and returns {"fitness": float, "metrics": {...},
"checkpoint": path}. `candidate.values` holds the decoded variables ({"weight/segmentation": 0.97, ...,
"frequency/detection": 5}) and `candidate.start_from` the checkpoint of the best evaluation before the
candidate's generation (None in generation 0): dynamic weight transfer, each candidate fine-tunes the best model
so far for a short budget instead of training from scratch. Fitness is maximised (Leang: the geometric mean of
detection mAP and segmentation mIoU on the validation split); a candidate that raises, returns a NaN fitness or
whose worker dies gets the worst fitness, is recorded with its reason, and the search goes on.

The candidates of a generation are independent, so the executor may run them concurrently (Ray: one per GPU,
across hosts of a cluster); proposals depend only on finished generations (training/evolution.py), so the
history is the same however they were scheduled.

Files in `folder`, each written atomically after every evaluation:
    search_state.json  space, options, step size, every evaluation (pending ones too): resume reads it, and a
                       finished candidate is never run again
    evaluations.csv    one row per evaluation: generation, status, fitness, values, metrics, reason, seconds
    best.json          the best evaluation (values in Table I's format, fitness, metrics, checkpoint)
    fitness.png        fitness over evaluations with the best so far, and the metrics (Leang Fig. 3)
    weights.png        tested weights and frequencies over evaluations (Leang Fig. 4)
Checkpoints that can no longer be the start of a candidate (not the best) are deleted unless keep_checkpoints.
"""
import csv
import dataclasses
import io
import json
import math
import os
import shutil
import time

from common.atomic import atomic_path, write_json, write_text
from training.evolution import EvolutionOptions, EvolutionStrategy, worst_last
from training.executors import InProcessExecutor

STATE_FILE = "search_state.json"
STATE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One configuration to train: `values` decoded from the search space, `start_from` the best checkpoint so
    far (None in generation 0), `folder` the search's folder (a candidate may keep its files below it)."""

    index: int
    generation: int
    values: dict
    start_from: str
    folder: str


class SearchError(RuntimeError):
    """A search that cannot start or go on (a folder holding another search, every candidate failing, ...)."""


def search(evaluate, space, folder, options=EvolutionOptions(), executor=None, keep_checkpoints=False,
           echo=None, progress=True, metric_names=(), figures=True):
    """Runs (or resumes) the search in `folder` until `options.max_evaluations` or `options.patience`; returns the
    final state dict ("records": every evaluation, "best": the best one's index).

    executor: `InProcessExecutor()` (default) or `training.executors.RayExecutor(...)`.
    echo: called with one line per finished evaluation (default: printed above the progress bar).
    metric_names: metrics of `evaluate`'s results to plot beside the fitness (e.g. detection/map).
    figures: redraw fitness.png and weights.png after every generation (False: once, at the end).
    """
    from tqdm.auto import tqdm

    executor = executor or InProcessExecutor()
    os.makedirs(folder, exist_ok=True)
    state = _load_or_create(folder, space, options)
    strategy = EvolutionStrategy(space, options, sigma=state["sigma"])
    strategy.tabu_rejections = state["tabu_rejections"]
    records = state["records"]
    bar = tqdm(total=options.max_evaluations, initial=len(_finished(records)), desc="meta-learning",
               unit="candidate", disable=not progress, dynamic_ncols=True)
    echo = echo or bar.write
    try:
        while True:
            pending = [r for r in records if r["status"] == "pending"]
            if not pending:
                if strategy.finished(_finished(records)):
                    break
                generation = max((r["generation"] for r in records), default=-1) + 1
                best = _best(records)
                for unit in strategy.propose(generation, _finished(records)):
                    records.append({"index": len(records), "generation": generation, "unit": unit,
                                    "values": space.decode(unit), "status": "pending", "fitness": None,
                                    "metrics": {}, "checkpoint": None, "reason": None, "seconds": None,
                                    "start_from": best})
                state["tabu_rejections"] = strategy.tabu_rejections
                _save(folder, state, space)
                pending = [r for r in records if r["status"] == "pending"]
            generation = pending[0]["generation"]
            candidates = [Candidate(r["index"], generation, dict(r["values"]),
                                    records[r["start_from"]]["checkpoint"] if r["start_from"] is not None else None,
                                    os.path.abspath(folder)) for r in pending]
            submitted = time.time()
            for candidate, value, failure in executor.map(_Timed(evaluate), candidates):
                record = records[candidate.index]
                seconds = value.pop("_seconds") if isinstance(value, dict) else time.time() - submitted
                _record_outcome(record, value, failure, seconds)
                _save(folder, state, space)
                bar.update(1)
                echo(_progress_line(record, records, options))
            strategy.update(generation, _finished(records))
            state["sigma"] = strategy.sigma
            if not keep_checkpoints:
                _prune_checkpoints(records)
            _save(folder, state, space)
            if figures:
                _write_figures(folder, state, space, metric_names)
    finally:
        bar.close()
    if state["best"] is None:
        raise SearchError(f"{folder}: every candidate failed; the reasons are in {os.path.join(folder, STATE_FILE)}"
                          f" and evaluations.csv (first: {records[0]['reason'] if records else 'none ran'})")
    if not figures:  # otherwise drawn after the last generation already
        _write_figures(folder, state, space, metric_names)
    return state


@dataclasses.dataclass(frozen=True)
class _Timed:
    """evaluate, with its own duration in the result (where it ran: not the time spent waiting for a worker)."""

    evaluate: object

    def __call__(self, candidate):
        started = time.time()
        value = self.evaluate(candidate)
        if isinstance(value, dict):
            value = {**value, "_seconds": time.time() - started}
        return value


def best_evaluation(state):
    """The best record of a search state (from `search` or search_state.json)."""
    return state["records"][state["best"]] if state.get("best") is not None else None


def read_state(folder):
    path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


# ----------------------------------------------------------------------------------------------- state
def _load_or_create(folder, space, options):
    state = read_state(folder)
    if state is None:
        return {"format": STATE_FORMAT, "space": space.get_config(), "options": dataclasses.asdict(options),
                "sigma": options.sigma, "tabu_rejections": 0, "records": [], "best": None}
    path = os.path.join(folder, STATE_FILE)
    if state.get("format") != STATE_FORMAT:
        raise SearchError(f"{path}: written by another version of the search (format {state.get('format')})")
    if state["space"] != space.get_config() or state["options"] != dataclasses.asdict(options):
        raise SearchError(f"{path} holds a search with another space or other options; resume it with the same "
                          f"settings, or use another folder")
    return state


def _finished(records):
    return [r for r in records if r["status"] != "pending"]


def _best(records):
    done = [r for r in records if r["status"] == "done"]
    if not done:
        return None
    return max(done, key=lambda r: (worst_last(r["fitness"]), -r["index"]))["index"]


def _record_outcome(record, value, failure, seconds):
    if failure is None:
        if not isinstance(value, dict) or "fitness" not in value:
            failure = f"evaluate returned {type(value).__name__}, not a dict with a 'fitness'"
        elif value["fitness"] is None or not math.isfinite(float(value["fitness"])):
            failure = f"fitness is {value['fitness']}"
    if failure is None:
        record.update(status="done", fitness=float(value["fitness"]), metrics=dict(value.get("metrics") or {}),
                      checkpoint=value.get("checkpoint"))
    else:
        record.update(status="failed", fitness=None, reason=failure,
                      metrics=dict((value or {}).get("metrics") or {}) if isinstance(value, dict) else {})
    record["seconds"] = round(seconds, 1)


def _save(folder, state, space):
    state["best"] = _best(state["records"])
    write_json(os.path.join(folder, STATE_FILE), state)
    write_text(os.path.join(folder, "evaluations.csv"), _csv(state["records"], space))
    best = best_evaluation(state)
    if best is not None:
        write_json(os.path.join(folder, "best.json"), {key: best[key] for key in
                                                        ("index", "generation", "values", "fitness", "metrics",
                                                         "checkpoint")})


def _csv(records, space):
    metric_names = sorted({name for r in records for name in r["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "generation", "status", "fitness", *space.names, *metric_names, "start_from",
                     "seconds", "reason"])
    for r in records:
        writer.writerow([r["index"], r["generation"], r["status"], "" if r["fitness"] is None else r["fitness"],
                         *[r["values"][n] for n in space.names], *[r["metrics"].get(m, "") for m in metric_names],
                         "" if r["start_from"] is None else r["start_from"], r["seconds"] or "", r["reason"] or ""])
    return buffer.getvalue()


def _prune_checkpoints(records):
    """Deletes the checkpoints of finished evaluations that are not the best: no later candidate starts there."""
    best = _best(records)
    for record in _finished(records):
        path = record.get("checkpoint")
        if record["index"] != best and path and os.path.exists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _progress_line(record, records, options):
    best = _best(records)
    values = ", ".join(f"{name} {_short(value)}" for name, value in record["values"].items())
    outcome = f"fitness {record['fitness']:.4f}" if record["status"] == "done" else f"FAILED ({record['reason']})"
    best_text = f"best so far {records[best]['fitness']:.4f} (#{best})" if best is not None else "no success yet"
    return (f"generation {record['generation']} candidate #{record['index']} "
            f"({len(_finished(records))}/{options.max_evaluations}): {outcome} [{values}]; {best_text}")


def _short(value):
    return str(value) if isinstance(value, int) else f"{value:.4g}"


# ----------------------------------------------------------------------------------------------- figures
def _write_figures(folder, state, space, metric_names=()):
    """Leang Fig. 3 (fitness, and the task metrics, over evaluations) and Fig. 4 (tested weights and
    frequencies over evaluations)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    records = _finished(state["records"])
    if not records:
        return
    indices = [r["index"] for r in records]
    fitness = [r["fitness"] if r["status"] == "done" else float("nan") for r in records]
    best_so_far, best = [], -math.inf
    for value in fitness:
        best = max(best, value) if math.isfinite(value) else best
        best_so_far.append(best if math.isfinite(best) else float("nan"))
    metric_names = [m for m in metric_names if any(m in r["metrics"] for r in records)]
    figure, axes = plt.subplots(1, 2 if metric_names else 1, figsize=(11 if metric_names else 6, 3.5), squeeze=False)
    axes[0][0].plot(indices, fitness, "o", label="candidate")
    axes[0][0].plot(indices, best_so_far, "-", label="best so far")
    failed = [r["index"] for r in records if r["status"] == "failed"]
    if failed:
        axes[0][0].plot(failed, [min(f for f in fitness if math.isfinite(f)) if any(map(math.isfinite, fitness))
                                 else 0.0] * len(failed), "x", color="red", label="failed")
    axes[0][0].set(xlabel="evaluation", ylabel="fitness", title="(a) fitness over evaluations")
    axes[0][0].legend()
    if metric_names:
        for name in metric_names:
            axes[0][1].plot(indices, [r["metrics"].get(name, float("nan")) for r in records], "o-", label=name)
        axes[0][1].set(xlabel="evaluation", title="(b) task metrics over evaluations")
        axes[0][1].legend()
    _save_figure(plt, figure, os.path.join(folder, "fitness.png"))

    continuous = [v.name for v in space.variables if not v.integer]
    integers = [v.name for v in space.variables if v.integer]
    figure, axes = plt.subplots(1, 2 if integers else 1, figsize=(11 if integers else 6, 3.5), squeeze=False)
    for name in continuous:
        axes[0][0].plot(indices, [r["values"][name] for r in records], "o-", label=name)
    if any(v.scale == "log" and v.name not in space.normalised for v in space.variables):
        axes[0][0].set_yscale("log")
    axes[0][0].set(xlabel="evaluation", title="(a) tested weights" + (" (normalised)" if space.normalised else ""))
    axes[0][0].legend()
    for name in integers:
        axes[0][1].plot(indices, [r["values"][name] for r in records], "o-", label=name)
    if integers:
        axes[0][1].set(xlabel="evaluation", title="(b) backpropagation frequencies")
        axes[0][1].legend()
    _save_figure(plt, figure, os.path.join(folder, "weights.png"))


def _save_figure(plt, figure, path):
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
