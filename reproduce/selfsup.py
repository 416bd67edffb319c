"""Novosel et al. 2019: boosting semantic segmentation with self-supervised colorization (C) and stereo disparity
(D) on Cityscapes (Table 1) and KITTI (Table 3), with grid search (GS), uncertainty (UW) and DWA weighting.

Paper settings: U-Net on ResNet-18, Adam lr 1e-3 (betas 0.9 / 0.999), batch 2, 100 epochs on Cityscapes and 20
on KITTI (KITTI's 200 images split 170/30). Initialisations: random (Xavier), ImageNet, or CoarseCTS = a run
pre-training colorization + disparity on the Cityscapes coarse-annotation images (train_extra; the synthetic
layout has no such split, so its train images stand in). KITTI runs start from the Cityscapes run of the same
row. GS: the segmentation weight is 1 and each self-supervised weight is searched over {0.1, 1, 10, 100}; the GS
row shows the grid run with the best validation mIoU. KITTI's GS rows use the weights the paper reports as best
on Cityscapes (reproduce.paper_numbers.SELFSUP_GRID_WEIGHTS) and start from that Cityscapes grid run. Disparity
scores are on depth = focal x baseline / disparity from the dataset's calibration, capped at 50 m. Our choices:
the CoarseCTS pre-training weighs its two tasks equally and starts from random weights; the best epoch is the one
with the lowest validation loss.

    python -m reproduce selfsup [--table 1] [--quick]
"""
import itertools

from reproduce.experiment import Experiment
from reproduce.paper_numbers import NA, SELFSUP_GRID_WEIGHTS
from reproduce.tables import Cell, Row, Table, printed

PAPER = "selfsup"
GRID = (0.1, 1.0, 10.0, 100.0)
COMBINATIONS = {"SS+C": ("segmentation", "colorization"), "SS+D": ("segmentation", "disparity"),
                "SS+C+D": ("segmentation", "colorization", "disparity")}
METHODS = {"GS": "fixed", "UW": "uncertainty", "DWA": "dwa"}
INITS = {"ImageNet": "imagenet", "CoarseCTS": "encoder:selfsup-coarse-cts"}
EPOCHS = {"cityscapes": 100, "kitti": 20}
SHORT = {"segmentation": "ss", "colorization": "c", "disparity": "d"}
PAPER_TASK = {"colorization": "colorization", "disparity": "depth"}  # SELFSUP_GRID_WEIGHTS names depth "depth"


def _experiment(name, dataset, tasks, weighting="equal", options=None, init="imagenet", **extra):
    return Experiment(name, "build_selfsup", dataset, {"num_classes": 19, "tasks": tuple(tasks)},
                      class_set="cityscapes19" if "segmentation" in tasks else None, weighting=weighting,
                      weighting_options=options or {}, init=init, learning_rate=1e-3, batch_size=2,
                      epochs=EPOCHS[dataset], **extra)


COARSE_CTS = _experiment("selfsup-coarse-cts", "cityscapes", ("colorization", "disparity"), init="random",
                         train_split="train_extra", data_options={"coarse": True})
BASELINE_INITS = {"SSrandom": "random", "SSImageNet": "imagenet", "SSCoarseCTS": INITS["CoarseCTS"]}


def baseline(dataset, row):
    name = f"selfsup-{dataset}-{row.lower()}"
    init = BASELINE_INITS[row] if dataset == "cityscapes" else f"model:{baseline('cityscapes', row).name}"
    return _experiment(name, dataset, ("segmentation",), init=init)


def grid_weights(tasks):
    """Every GS weight setting of `tasks`: segmentation 1, each other task one of GRID."""
    others = [t for t in tasks if t != "segmentation"]
    for values in itertools.product(GRID, repeat=len(others)):
        yield {"segmentation": 1.0} | dict(zip(others, values))


def _weights_tag(weights):
    return "-".join(f"{SHORT[t]}{w:g}" for t, w in weights.items() if t != "segmentation")


def multitask(dataset, combination, method, init_label, weights=None):
    tasks = COMBINATIONS[combination]
    tag = "" if weights is None else "-" + _weights_tag(weights)
    name = f"selfsup-{dataset}-{combination.lower().replace('+', '')}-{method.lower()}{tag}-{init_label.lower()}"
    if dataset == "cityscapes":
        init = INITS[init_label]
    else:
        init = f"model:{multitask('cityscapes', combination, method, init_label, weights).name}"
    options = {"weights": weights} if method == "GS" else {}
    return _experiment(name, dataset, tasks, METHODS[method], options, init)


def paper_grid_choice(combination):
    """The GS weights the paper reports as best on Cityscapes, in our task names."""
    chosen = SELFSUP_GRID_WEIGHTS[combination]
    return {task: float(chosen[PAPER_TASK.get(task, task)]) for task in COMBINATIONS[combination]}


def runs_of_row(dataset, combination, method, init_label):
    """The runs a multi-task row chooses from: the whole grid for GS on Cityscapes, else one run."""
    if method != "GS":
        return [multitask(dataset, combination, method, init_label)]
    if dataset == "cityscapes":
        return [multitask(dataset, combination, method, init_label, w) for w in grid_weights(COMBINATIONS[combination])]
    return [multitask(dataset, combination, method, init_label, paper_grid_choice(combination))]


def _all_experiments():
    runs = [COARSE_CTS]
    for dataset in ("cityscapes", "kitti"):
        runs += [baseline(dataset, row) for row in BASELINE_INITS]
        for combination, method, init_label in itertools.product(COMBINATIONS, METHODS, INITS):
            runs += runs_of_row(dataset, combination, method, init_label)
    return runs


EXPERIMENTS = _all_experiments()
COLUMNS = {"Sem. mIOU": "segmentation/miou", "Color mIOU": "colorization/miou", "AbsRel": "disparity/abs_rel",
           "SqRel": "disparity/sq_rel", "RMSE": "disparity/rmse", "RMSE_log": "disparity/rmse_log"}


def best_run(names):
    """A derive: `metric` of the grid run with the best validation segmentation mIoU."""
    def metric_of(metric):
        def derive(results):
            best = max(names, key=lambda n: results[n].get("segmentation/miou", float("-inf")))
            return results[best].get(metric)
        return derive
    return metric_of


def _cells(table, row, runs, columns):
    cells = []
    names = tuple(run.name for run in runs)
    pick = best_run(names)
    for column in columns:
        paper_value = printed(PAPER, table, "", row, column)
        metric = COLUMNS[column]
        task = metric.split("/")[0]
        if task not in runs[0].builder_options["tasks"]:
            cells.append(Cell(text="n/a", paper=paper_value if paper_value is not None else NA))
        elif len(runs) == 1:
            cells.append(Cell(names[0], metric, paper_value))
        else:
            cells.append(Cell(paper=paper_value, needs=names, derive=pick(metric)))
    return tuple(cells)


def _table(key, dataset, columns, title):
    rows = [Row((row,), _cells(key, row, [baseline(dataset, row)], columns)) for row in BASELINE_INITS]
    for combination, method, init_label in itertools.product(COMBINATIONS, METHODS, INITS):
        label = f"{combination} ({method}) / {init_label}"
        rows.append(Row((label,), _cells(key, label, runs_of_row(dataset, combination, method, init_label),
                                          columns)))
    return Table(PAPER, key, title, ("Model",), columns, tuple(rows), (dataset,),
                 notes=("GS rows: the grid run with the best validation mIoU (Cityscapes); KITTI GS rows use the "
                        "paper's Cityscapes choice. Disparity scores on depth capped at 50 m.",))


TABLES = [_table("table1", "cityscapes", tuple(COLUMNS), "Novosel et al. Table 1: Cityscapes validation"),
          _table("table3", "kitti", ("Sem. mIOU",), "Novosel et al. Table 3: KITTI validation (mIoU)")]
FIGURES = []
