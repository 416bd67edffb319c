"""Leang et al.'s meta-learning columns as runs of the reproduction: an `Experiment` with a `search` is an
evolutionary search (training/meta_learning.py) whose candidates are ordinary runner runs of the same network.

Each candidate is the experiment with the candidate's normalised weights ("fixed", eq. 2) or weights and
backpropagation frequencies ("async", eq. 10-12 with the searched weights), trained for the experiment's `epochs`
(Leang: 8 on WoodScape) from the best candidate so far (dynamic weight transfer; generation 0 from the
experiment's own initialisation). Candidates run as Ray tasks (one per GPU, or one per host on CPUs;
`--ray-address` for a cluster) and live in the search's run folder:

    OUT/runs/<experiment>-<hash>/
        config.json, search_state.json, evaluations.csv, best.json, fitness.png, weights.png
        runs/candidate-NNN-<hash>/   each candidate's run (history, metrics, init.weights.npz of the best)
        model.keras                  the best candidate's network (unless --quick without --keep-models)
        metrics.json                 the best candidate's scores, its weights (weights/<task>, Table I) and
                                     frequencies (frequency/<task>), and the search's counts; written last

A killed reproduction resumes the search where it stopped (a candidate killed mid-training resumes from its own
backup); a search that is done is cached like any run.
"""
import dataclasses
import os
import time

from common.atomic import write_json
from reproduce import lifecycle
from reproduce.plan import Plan, run_image_size
from reproduce.recipe import build_model, copy_layer_weights, keep_model_files, train_and_evaluate
from training import evolution, meta_learning

FITNESS = "geometric_mean"
#: what a candidate's metrics.json says about the run rather than its scores (weights/<task>: the last epoch's
#: gated async weights, not the candidate's)
RUN_FACTS = ("params", "train_seconds", "step_seconds", "epochs", "init")


def space_of(experiment):
    spec = experiment.search
    return evolution.task_weight_space(spec["weight_ranges"], spec.get("frequency_range"))


def tasks_of(experiment):
    return tuple(experiment.search["weight_ranges"])


@dataclasses.dataclass(frozen=True)
class CandidateTrainer:
    """`evaluate` of the search: trains one candidate through the runner (picklable, so it runs on Ray)."""

    experiment: object
    settings: object
    init: str

    def __call__(self, candidate):
        lifecycle.prepare_worker(self.settings.imports)  # a Ray worker trains many candidates
        experiment = candidate_experiment(self.experiment, candidate, self.init)
        # A candidate is a run of its own, in this process or a Ray worker: never a worker of a multi-host job,
        # whose TF_CONFIG ports and task index belong to the reproduction's process.
        strategy = None if self.settings.strategy == "multiworker" else self.settings.strategy
        settings = dataclasses.replace(self.settings, out=candidate.folder, force=False, keep_models=False,
                                       progress=False, strategy=strategy)
        plan = Plan([experiment], settings)
        metrics = lifecycle.run(plan, experiment.name, train_and_evaluate, keep_init=True)
        scores = {key: value for key, value in metrics.items() if key not in RUN_FACTS and not key.startswith("weights/")}
        return {"fitness": metrics.get(self.experiment.search.get("fitness", FITNESS), float("nan")),
                "metrics": scores, "checkpoint": os.path.join(plan.run_dir(experiment.name), "init.weights.npz")}


def candidate_experiment(experiment, candidate, init):
    """The run of one candidate: the searched weights (and frequencies) as the experiment's weighting."""
    values = candidate.values
    weights = {task: float(values[f"weight/{task}"]) for task in tasks_of(experiment)}
    if experiment.search.get("frequency_range") is not None:
        frequencies = {task: int(values[f"frequency/{task}"]) for task in tasks_of(experiment)}
        weighting, options = "async", {"weights": weights, "frequencies": frequencies}
    else:
        weighting, options = "fixed", {"weights": weights}
    start = f"weights:{candidate.start_from}" if candidate.start_from else init
    return dataclasses.replace(experiment, name=f"candidate-{candidate.index:03d}", weighting=weighting,
                               weighting_options=options, init=start, search=None)


def search_and_evaluate(plan, name, folder, keep_init, label):
    """The step (reproduce.lifecycle.run) of a search experiment: search (or resume), then the best candidate's metrics."""
    from training.executors import RayExecutor

    experiment = plan[name]
    settings = plan.settings
    config = plan.config(name)
    write_json(os.path.join(folder, "config.json"), {"name": name, **config})
    started = time.time()
    lifecycle.write_datasets(settings, [experiment])
    options = evolution.EvolutionOptions(**config["budget"]["search"])
    executor = settings.search_executor or RayExecutor(settings.ray_address)
    trainer = CandidateTrainer(experiment, settings, config["init"])
    echo = None if settings.progress else print  # one line per candidate either way; None: above the bar
    print(f"{label}: meta-learning search of {options.max_evaluations} candidates in {folder}", flush=True)
    state = meta_learning.search(trainer, space_of(experiment), folder, options, executor, echo=echo,
                                 progress=settings.progress, metric_names=experiment.search.get("metrics", ()))
    best = meta_learning.best_evaluation(state)
    records = state["records"]
    metrics = dict(best["metrics"])
    metrics.update({key: value for key, value in best["values"].items() if key.startswith("frequency/")})
    metrics.update({f"weights/{task}": best["values"][f"weight/{task}"] for task in tasks_of(experiment)})
    metrics.update({
        "search/evaluations": len(records),
        "search/failed": sum(r["status"] == "failed" for r in records),
        "search/best_index": best["index"],
        "search/best_generation": best["generation"],
        "search/candidate_seconds": round(sum(r["seconds"] or 0 for r in records), 1),
        "train_seconds": round(time.time() - started, 1),
        "epochs": config["budget"]["epochs"],
        "init": config["init"],
    })
    if keep_init or settings.keeps_models():
        model = build_model(experiment, "random", run_image_size(experiment, settings))
        copy_layer_weights(model, best["checkpoint"])
        keep_model_files(model, folder, settings, keep_init)
    return metrics
