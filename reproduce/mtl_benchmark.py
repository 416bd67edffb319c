"""`python -m reproduce mtl_benchmark [--seeds N] [--datasets kitti cityscapes woodscape]`: every weighting strategy,
the papers' and today's, on two of the papers' settings, beyond what the papers printed.

Settings (the papers' networks, data and budgets, so the papers' own rows are shared runs):
- MultiNet++'s 3-task 1-frame network (segmentation, depth, motion) on KITTI and Cityscapes, as its Table 4
  (reproduce/multinet_pp.py: 100 epochs, batch 8, Adam 1e-4, depth in 16-bit PNG units);
- Leang et al.'s detection + segmentation network on KITTI (KITTI object + semantics), Cityscapes and WoodScape, as
  its Table II (reproduce/task_weighting.py: 50 epochs, batch 8, Adam 1e-4).
Every strategy of `losses.weighting` but the meta-learning search and those that need options only a user can give
(`fixed`: its weights; `fls` runs with segmentation as its focus, MultiNet++'s choice), each in its default mode, and
`mgda_ub` (MGDA in the representation mode). `weight_learning` is Leang's two-task form (eq. 8), so it has no row in
the 3-task setting. Each method runs with seeds --seed, --seed + 1, ..., --seed + N - 1; the single-task baselines
are the same networks trained with weight 1 on one task and 0 on the others (MultiNet++: its 1-task networks).

Cells: mean ± standard deviation over the seeds. delta_m (Maninis et al. 2019, as LibMTL computes it) is the mean
over the K scores shown of (-1)^l_k (M_k - B_k) / B_k x 100, l_k = 1 where lower is better, B_k the single-task
score of the same seed, then averaged over the seeds (n/a where a baseline score is 0). Step time: the run's median
training step (its first left out), relative to equal weighting's of the same seed.
"""
import dataclasses
import math
import statistics

from reproduce import multinet_pp, task_weighting
from reproduce.tables import Cell, Row, Table

PAPER = "mtl_benchmark"
DATASETS = ("kitti", "cityscapes", "woodscape")
#: the strategies of each setting beside the papers' (a name and its options); mgda_ub is an alias with a mode
LOSS_LEVEL = ("equal", "handcrafted", "dynamic_scaling", "uncertainty", "gls", "fls", "twb", "ftwb", "dwa",
              "weight_learning", "async", "rlw", "famo", "imtl_l")
GRADIENT_LEVEL = ("gradnorm", "mgda", "mgda_ub", "pcgrad", "gradvac", "graddrop", "imtl_g", "imtl", "cagrad",
                  "nash_mtl", "aligned_mtl", "upgrad", "db_mtl")
#: (score column, metric, lower is better)
MULTINET_SCORES = (("Segmentation mIoU", "segmentation/miou", False), ("Depth AbsRel", "depth/abs_rel", True),
                   ("Depth delta1", "depth/delta1", False), ("Motion mIoU", "motion/miou", False))
LEANG_SCORES = (("Detection mAP", "detection/map", False), ("Segmentation mIoU", "segmentation/miou", False))
MULTINET_DATASETS = ("kitti", "cityscapes")
LEANG_DATASETS = {"kitti": "kitti_detseg", "cityscapes": "cityscapes", "woodscape": "woodscape"}


def _seeded(experiment, offset):
    if offset == 0:
        return experiment  # the papers' runs themselves (seed --seed), shared with their tables
    return dataclasses.replace(experiment, name=f"{experiment.name}-seed{offset}", seed_offset=offset)


def _options(setting, method):
    """The strategy's options in a setting: the paper's where the paper ran it."""
    if setting == "leang":
        known = {strategy: options for strategy, options in task_weighting.METHODS.values()}
        if method in known:
            return known[method]
    return {"focus": ["segmentation"]} if method == "fls" else {}


def _strategy(method):
    """(registered strategy, its preset options) of a method name: an alias such as mgda_ub runs as what it names,
    so its run is the strategy's own with that option."""
    from losses.weighting import resolve_alias

    return resolve_alias(method)


def methods(setting):
    names = LOSS_LEVEL + GRADIENT_LEVEL
    return tuple(name for name in names if not (setting == "multinet_pp" and name == "weight_learning"))


def multinet_run(dataset, method, offset=0):
    """The 3-task 1-frame MultiNet++ network with `method` (a name of `methods`), or with None its 1-task
    baseline for `method` = the task."""
    if method in multinet_pp.TASK_CHANNELS:
        return _seeded(multinet_pp.single_task(dataset, method), offset)
    strategy, preset = _strategy(method)
    base = multinet_pp.three_task(dataset, strategy)
    options = {**_options("multinet_pp", method), **preset}
    if options:
        base = dataclasses.replace(base, name=base.name.replace(f"-{strategy}-", f"-{method}-"),
                                   weighting_options=options)
    return _seeded(base, offset)


def leang_run(dataset, method, offset=0):
    """Leang's detection + segmentation network with `method`, or its single-task baseline for a task name."""
    dataset = LEANG_DATASETS[dataset]
    base = task_weighting.experiment(dataset, "No task weighting")
    if method in ("detection", "segmentation"):
        weights = {task: float(task == method) for task in ("detection", "segmentation")}
        name, strategy, options = base.name.replace("-equal-", f"-only-{method}-"), "fixed", {"weights": weights}
    else:
        strategy, preset = _strategy(method)
        name, options = base.name.replace("-equal-", f"-{method}-"), {**_options("leang", method), **preset}
    return _seeded(dataclasses.replace(base, name=name, weighting=strategy, weighting_options=options), offset)


def settings_of(datasets):
    """[(setting, dataset, run(dataset, method, offset), scores, baseline tasks)] for the chosen datasets."""
    chosen = []
    for dataset in datasets:
        if dataset in MULTINET_DATASETS:
            chosen.append(("multinet_pp", dataset, multinet_run, MULTINET_SCORES, tuple(multinet_pp.TASK_CHANNELS)))
        chosen.append(("leang", dataset, leang_run, LEANG_SCORES, ("detection", "segmentation")))
    return chosen


def _check(options):
    seeds = int(options.get("seeds", 1))
    datasets = tuple(options.get("datasets") or DATASETS)
    unknown = sorted(set(datasets) - set(DATASETS))
    if seeds < 1 or unknown:
        raise ValueError(f"mtl_benchmark: --seeds must be >= 1 and --datasets among {', '.join(DATASETS)}; got "
                         f"{seeds} and {', '.join(unknown)}")
    return seeds, datasets


def experiments_for(options):
    seeds, datasets = _check(options)
    found = {}
    for setting, dataset, run, _, tasks in settings_of(datasets):
        for offset in range(seeds):
            for method in methods(setting) + tasks:
                experiment = run(dataset, method, offset)
                found.setdefault(experiment.name, experiment)
    return list(found.values())


def _task_of(metric):
    return metric.partition("/")[0]


def _mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _format(value, scale=1.0, digits=2):
    if value is None:
        return "n/a"
    mean, std = value
    if not (math.isfinite(mean) and math.isfinite(std)):
        return "n/a"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def score_cell(names, metric, scale):
    def derive(results):
        values = [results[name].get(metric) for name in names]
        return None if any(v is None for v in values) else _mean_std([float(v) for v in values])
    return Cell(needs=tuple(names), derive=derive, formatter=lambda value: _format(value, scale))


def delta_m_cell(method_names, baseline_names, scores):
    """method_names[s], baseline_names[s][task]: the runs of seed s."""
    def derive(results):
        per_seed = []
        for seed, name in enumerate(method_names):
            terms = []
            for _, metric, lower_is_better in scores:
                ours = results[name].get(metric)
                base = results[baseline_names[seed][_task_of(metric)]].get(metric)
                if ours is None or base is None or float(base) == 0.0:
                    return None
                sign = -1.0 if lower_is_better else 1.0
                terms.append(sign * (float(ours) - float(base)) / float(base) * 100.0)
            per_seed.append(statistics.mean(terms))
        return _mean_std(per_seed)
    needs = tuple(method_names) + tuple(n for by_task in baseline_names for n in by_task.values())
    return Cell(needs=needs, derive=derive, formatter=_format)


def step_time_cell(method_names, equal_names):
    def derive(results):
        ratios = []
        for name, equal in zip(method_names, equal_names):
            ours, reference = results[name].get("step_seconds"), results[equal].get("step_seconds")
            if not ours or not reference:
                return None
            ratios.append(float(ours) / float(reference))
        return _mean_std(ratios)
    return Cell(needs=tuple(method_names) + tuple(equal_names), derive=derive,
                formatter=lambda value: _format(value) + ("x" if value else ""))


def tables_for(options):
    seeds, datasets = _check(options)
    tables = []
    for setting, dataset, run, scores, tasks in settings_of(datasets):
        baselines = [{task: run(dataset, task, seed).name for task in tasks} for seed in range(seeds)]
        equal = [run(dataset, "equal", seed).name for seed in range(seeds)]
        columns = tuple(column for column, _, _ in scores) + ("delta_m (%)", "step time vs equal")
        rows = []
        for task in tasks:  # the single-task baselines: their own task's scores
            names = [baselines[seed][task] for seed in range(seeds)]
            cells = [score_cell(names, metric, 100.0 if not lower else 1.0) if _task_of(metric) == task
                     else Cell(text="-") for _, metric, lower in scores]
            rows.append(Row((f"single-task {task}",), tuple(cells) + (Cell(text="0 (reference)"), Cell(text="-"))))
        for method in methods(setting):
            names = [run(dataset, method, seed).name for seed in range(seeds)]
            cells = [score_cell(names, metric, 1.0 if lower else 100.0) for _, metric, lower in scores]
            cells += [delta_m_cell(names, baselines, scores), step_time_cell(names, equal)]
            rows.append(Row((method,), tuple(cells)))
        title = {"multinet_pp": "MultiNet++'s 3-task 1-frame network", "leang": "Leang et al.'s detection + "
                 "segmentation network"}[setting]
        section = LEANG_DATASETS[dataset] if setting == "leang" else dataset
        tables.append(Table(
            PAPER, f"{setting}_{dataset}", f"Beyond the papers: every weighting strategy on {title}, {dataset} "
            f"(mean ± std over {seeds} seed{'s' if seeds > 1 else ''})", ("Method",), columns, tuple(rows),
            (section,), notes=(
                "Not a table of any paper: the papers' setting with today's strategies beside theirs, the same "
                "budget for every method (reproduce/mtl_benchmark.py).",
                "Scores in percent except AbsRel; delta_m: mean relative change against the single-task networks "
                "of the same seed over the scores shown, sign so that higher is better (Maninis et al. 2019); step "
                "time: median training step against equal weighting's.")))
    return tables


FIGURES = []
