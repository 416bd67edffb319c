"""MultiNet++ (Chennupati et al. 2019): parameters (Table 2), 1/2/3-task learning with equal weights, GLS and
two-frame MultiNet++ (Table 3), weighting strategies (Table 4), validation losses (Fig. 4), qualitative
outputs (Figs. 3/5).

Paper settings: ResNet-50 pretrained on ImageNet, FCN8 decoders, 224x384, cross-entropy for segmentation (20
channels) and motion, Huber (delta 250) for depth, Adam. Not given, our choices: 100 epochs, batch 8, learning
rate 1e-4, the best epoch by total validation loss. "MultiNet++" = two frames through the shared encoder,
features concatenated, GLS. Table 4 compares weightings of the one-frame 3-task network (its Equal weights and
GLS rows equal Table 3's 3-Task rows). "Accuracy" in the tables: segmentation and motion mean IoU, depth delta1
(share of pixels within 1.25x of the true value); the other scores are in tableN_scores.csv.

    python -m reproduce multinet_pp [--table 3] [--quick]
"""
import functools
import os

from reproduce import class_sets
from reproduce.experiment import Experiment
from reproduce.tables import Cell, Row, Table, printed

PAPER = "multinet_pp"
DATASETS = ("kitti", "cityscapes", "synthia")
TITLES = {"kitti": "KITTI", "cityscapes": "Cityscapes", "synthia": "SYNTHIA"}
CLASS_SET = {"kitti": "cityscapes20", "cityscapes": "cityscapes20", "synthia": "synthia20"}
TASK_CHANNELS = {"segmentation": 20, "depth": 1, "motion": 2}
TASK_TITLES = {"segmentation": "Segmentation", "depth": "Depth", "motion": "Motion"}
ACCURACY = {"segmentation": "segmentation/miou", "depth": "depth/delta1", "motion": "motion/miou"}
GROUPS = {"Seg+Depth": ("segmentation", "depth"), "Seg+Motion": ("segmentation", "motion"),
          "3-Task": ("segmentation", "depth", "motion")}
METHODS = {"Equal weights": ("equal", 1), "GLS": ("gls", 1), "MultiNet++": ("gls", 2)}
TABLE4_METHODS = {"Equal weights": "equal", "Uncertainty": "uncertainty", "DWA": "dwa", "GLS": "gls"}
COMMON = dict(epochs=100, batch_size=8, learning_rate=1e-4, monitor="val_loss")


def tasks_of(dataset, tasks):
    """SYNTHIA has no motion labels (MultiNet++ Table 1)."""
    return tuple(t for t in tasks if not (dataset == "synthia" and t == "motion"))


def experiment(dataset, tasks, weighting="equal", frames=1):
    tasks = tuple(tasks)
    short = "-".join({"segmentation": "seg", "depth": "depth", "motion": "motion"}[t] for t in tasks)
    suffix = "" if len(tasks) == 1 else f"-{weighting}" + ("-2frames" if frames == 2 else "")
    builder = "build_multinet_pp" if frames == 2 else "build_multitask"
    options = {"tasks": {t: TASK_CHANNELS[t] for t in tasks}}
    if frames == 2:
        options["frames"] = 2
    return Experiment(f"mtl-{short}{suffix}-{dataset}", builder, dataset, options,
                      class_set=CLASS_SET[dataset] if "segmentation" in tasks else None, frames=frames,
                      weighting=weighting, **COMMON)


def single_task(dataset, task):
    return experiment(dataset, (task,))


def _table3_experiments():
    runs = []
    for dataset in DATASETS:
        runs += [single_task(dataset, t) for t in tasks_of(dataset, TASK_CHANNELS)]
        for group, tasks in GROUPS.items():
            tasks = tasks_of(dataset, tasks)
            if len(tasks) < 2 or (dataset == "synthia" and group != "Seg+Depth"):
                continue
            runs += [experiment(dataset, tasks, weighting, frames) for weighting, frames in METHODS.values()]
    return runs


def _table4_experiments():
    return [experiment(dataset, tuple(TASK_CHANNELS), weighting)
            for dataset in ("kitti", "cityscapes") for weighting in TABLE4_METHODS.values()]


EXPERIMENTS = list({e.name: e for e in _table3_experiments() + _table4_experiments()}.values())


def accuracy_cells(table, row, run_by_task, datasets, paper=PAPER):
    """One cell per (dataset, task) column: the run's accuracy score in percent, "-" where the row lacks it."""
    cells = []
    for dataset in datasets:
        for task in tasks_of(dataset, TASK_CHANNELS):
            column = f"{TITLES[dataset]} {TASK_TITLES[task]}"
            paper_value = printed(paper, table, "", row, column)
            name = run_by_task(dataset, task)
            if name is None:
                cells.append(Cell(text="-", paper=paper_value if paper_value is not None else "-"))
            else:
                cells.append(Cell(name, ACCURACY[task], paper_value, scale=100))
    return tuple(cells)


def columns_of(datasets):
    return tuple(f"{TITLES[d]} {TASK_TITLES[t]}" for d in datasets for t in tasks_of(d, TASK_CHANNELS))


def accuracy_table(paper=PAPER, table="table3", datasets=DATASETS, methods=METHODS, title=None):
    rows = [Row(("1-Task",), accuracy_cells(table, "1-Task", lambda d, t: single_task(d, t).name, datasets, paper))]
    for group, tasks in GROUPS.items():
        for method, (weighting, frames) in methods.items():
            row = f"{group} / {method}"

            def run_by_task(dataset, task, tasks=tasks, weighting=weighting, frames=frames, group=group):
                chosen = tasks_of(dataset, tasks)
                if task not in chosen or len(chosen) < 2 or (dataset == "synthia" and group != "Seg+Depth"):
                    return None
                return experiment(dataset, chosen, weighting, frames).name
            rows.append(Row((row,), accuracy_cells(table, row, run_by_task, datasets, paper)))
    return Table(paper, table, title or "MultiNet++ Table 3: 1-, 2- and 3-task learning (accuracy %)", ("Method",),
                 columns_of(datasets), tuple(rows), datasets, notes=_accuracy_note())


def _accuracy_note():
    return ("Accuracy: segmentation and motion = mean IoU, depth = delta1 (share of pixels with "
            "max(pred/true, true/pred) < 1.25, on the dataset's depth target: disparity for KITTI/Cityscapes, "
            "metres for SYNTHIA).",)


def _table4():
    datasets = ("kitti", "cityscapes")
    rows = [Row(("1-Task",), accuracy_cells("table4", "1-Task", lambda d, t: single_task(d, t).name, datasets))]
    for method, weighting in TABLE4_METHODS.items():
        rows.append(Row((method,), accuracy_cells(
            "table4", method, lambda d, t, w=weighting: experiment(d, tuple(TASK_CHANNELS), w).name, datasets)))
    return Table(PAPER, "table4", "MultiNet++ Table 4: weighting strategies for the 3-task network (accuracy %)",
                 ("Method",), columns_of(datasets), tuple(rows), datasets, notes=_accuracy_note())


PARAMETER_ROWS = {  # paper row -> (tasks, frames)
    "1-Task Segmentation": (("segmentation",), 1), "1-Task Depth": (("depth",), 1),
    "1-Task Motion": (("motion",), 1),
    "Seg+Depth / 1-Frame": (("segmentation", "depth"), 1), "Seg+Depth / 2-Frames": (("segmentation", "depth"), 2),
    "Seg+Motion / 1-Frame": (("segmentation", "motion"), 1),
    "Seg+Motion / 2-Frames": (("segmentation", "motion"), 2),
    "3-Task / 1-Frame": (tuple(TASK_CHANNELS), 1), "3-Task / 2-Frames": (tuple(TASK_CHANNELS), 2),
}


@functools.lru_cache(maxsize=None)  # each table write renders the cell twice (table and scores CSV)
def parameter_count(tasks, frames):
    """Parameters of the network, built now (no training): Table 2 is computed, never read from a run."""
    import models

    return models.build_multitask({t: TASK_CHANNELS[t] for t in tasks}, frames=frames).count_params()


def _table2():
    rows = []
    for row, (tasks, frames) in PARAMETER_ROWS.items():
        rows.append(Row((row,), (Cell(paper=printed(PAPER, "table2", "", row, "Params"), digits=0,
                                      derive=lambda results, t=tasks, f=frames: parameter_count(t, f)),)))
    return Table(PAPER, "table2", "MultiNet++ Table 2: parameters (KITTI and Cityscapes, 20 classes)", ("Model",),
                 ("Params",), tuple(rows), (),
                 notes=("Computed by building each network at 224x384 (no training). The paper prints rounded "
                        "counts (23.77M); they are shown expanded.",))


TABLES = [_table2(), accuracy_table(), _table4()]


# ----------------------------------------------------------------------------------------------- figures
def fig4(plan, path):
    """Validation loss per epoch, 1-task vs 3-task (MultiNet++), per task and dataset."""
    from reproduce.figures import plot_curves
    from reproduce.runner import read_history

    panels = []
    for dataset in ("kitti", "cityscapes", "synthia"):
        multi = experiment(dataset, tasks_of(dataset, TASK_CHANNELS), "gls", 2) if dataset != "synthia" else \
            experiment(dataset, ("segmentation", "depth"), "gls", 2)
        for task in tasks_of(dataset, TASK_CHANNELS):
            series = {}
            for label, run in (("1-task", single_task(dataset, task)), ("multi-task (MultiNet++)", multi)):
                history = read_history(os.path.join(plan.run_dir(run.name), "history.csv"))
                series[label] = [float(row.get(f"val_{task}_loss") or "nan") for row in history]
            panels.append((f"{TITLES[dataset]} {task}", series))
    return plot_curves(panels, path, title="MultiNet++ Fig. 4: validation loss per epoch")


def qualitative(plan, path, dataset, single, multi, title):
    """Input, 1-task output, multi-task output and ground truth, one row per task (first validation image)."""
    import numpy as np

    from reproduce.figures import colorize_depth, colorize_motion, colorize_segmentation, plot_panel

    palette = class_sets.get(CLASS_SET.get(dataset, "cityscapes20")).palette

    def load(name):
        file = os.path.join(plan.run_dir(name), "samples.npz")
        return dict(np.load(file)) if os.path.isfile(file) else {}

    def tile(values, task):
        if values is None:
            return None
        if task == "segmentation":
            return colorize_segmentation(values, palette)
        if task == "motion":
            return colorize_motion(values)
        return colorize_depth(values)

    multi_samples = load(multi)
    rows, row_titles = [], []
    for task, name in single.items():
        single_samples = load(name)
        image = (multi_samples.get("image") if "image" in multi_samples else single_samples.get("image"))
        first = lambda samples, key: samples[key][0] if key in samples else None  # noqa: E731
        truth = first(multi_samples, f"true/{task}")
        truth = truth if truth is not None else first(single_samples, f"true/{task}")
        rows.append([None if image is None else np.clip(image[0], 0, 255).astype("uint8"),
                     tile(first(single_samples, f"pred/{task}"), task), tile(first(multi_samples, f"pred/{task}"), task),
                     tile(truth, task)])
        row_titles.append(task)
    return plot_panel(rows, ["Input", "1-task", "Multi-task", "Ground truth"], path, title=title,
                      row_titles=row_titles)


def fig3(plan, path):
    return qualitative(plan, path, "kitti", {t: single_task("kitti", t).name for t in TASK_CHANNELS},
                       experiment("kitti", tuple(TASK_CHANNELS), "gls", 2).name,
                       "MultiNet++ Figs. 3/5: KITTI, 1-task vs MultiNet++ outputs")


def fig5(plan, path):
    return qualitative(plan, path, "cityscapes", {t: single_task("cityscapes", t).name for t in TASK_CHANNELS},
                       experiment("cityscapes", tuple(TASK_CHANNELS), "gls", 2).name,
                       "MultiNet++ Figs. 3/5: Cityscapes, 1-task vs MultiNet++ outputs")


FIGURES = [("fig4", fig4), ("fig3", fig3), ("fig5", fig5)]
