"""MultiNet++ (Chennupati et al. 2019): datasets (Table 1), parameters (Table 2), 1/2/3-task learning with equal
weights, GLS and two-frame MultiNet++ (Table 3), weighting strategies (Table 4), validation losses (Fig. 4),
qualitative outputs (Fig. 3 on Cityscapes, Fig. 5 on KITTI).

Paper settings: ResNet-50 pretrained on ImageNet, FCN8 decoders, 224x384, cross-entropy for segmentation (20
classes on KITTI and Cityscapes, 13 on SYNTHIA: "the decoder predicts from 13 categories in SYNTHIA", which Table 2's
SYNTHIA counts confirm) and motion, Huber (delta 250) for depth, Adam. The depth decoder "outputs a 16-bit integer
at every pixel": depth trains on the datasets' 16-bit PNG values (`depth_units="paper16"`, data/depth_units.py),
where the Huber delta of 250 is about one pixel of disparity (in pixels it would never leave its quadratic part).
Not given, our choices: 100 epochs, batch 8, learning rate 1e-4, the best epoch by total validation loss.
"MultiNet++" = two frames through the shared encoder, features concatenated, GLS. Table 4 compares weightings of the
one-frame 3-task network (its Equal weights and GLS rows equal Table 3's 3-Task rows).

"Accuracy" (Sec. 4.3: "Accuracy ... for segmentation and motion tasks while regression accuracy is used for
depth"; NeurAll, which prints the same numbers, says "mean class IoU ... and per-class IoU were used as accuracy
metrics for semantic segmentation, motion detection"): segmentation and motion the same "IoU" as AuxNet's and
NeurAll's tables, the same authors' pooled Jaccard coefficient (reproduce/auxnet.py, reproduce/iou_definition.py);
depth delta1 (share of pixels within 1.25x of the true value, on disparity in pixels for KITTI / Cityscapes and
metres for SYNTHIA). Beside them, in columns the paper does not print: the standard mIoU of both, and motion's pixel
accuracy (the other literal reading of "Accuracy"; 98% fits a mostly static scene); the other scores are in
tableN_scores.csv.

Splits: KITTI's 200 labelled images are split 170/30 (the paper's 200/200 are the benchmark's train and test
images, whose labels are not public); Cityscapes train/val; SYNTHIA SEQS-02 (train) and SEQS-05 (val), every season
found under the root (the paper's 888/787 images are fewer than all seasons hold: Table 1 prints what we read).

    python -m reproduce multinet_pp [--table 3] [--quick]
"""
import functools
import os

from data import class_sets
from reproduce.experiment import Experiment
from reproduce.paper_numbers import CHECK, CROSS, DASH, MULTINET_PP_TABLE2_PRINTED, matches_printed
from reproduce.tables import Cell, Row, Table, printed

PAPER = "multinet_pp"
DATASETS = ("kitti", "cityscapes", "synthia")
TITLES = {"kitti": "KITTI", "cityscapes": "Cityscapes", "synthia": "SYNTHIA"}
SEGMENTATION_CLASSES = {"kitti": 20, "cityscapes": 20, "synthia": 13}
CLASS_SET = {"kitti": "cityscapes20", "cityscapes": "cityscapes20", "synthia": "synthia13"}
TASK_CHANNELS = {"segmentation": 20, "depth": 1, "motion": 2}  # KITTI and Cityscapes
TASK_TITLES = {"segmentation": "Segmentation", "depth": "Depth", "motion": "Motion"}
ACCURACY = {"segmentation": "segmentation/pooled_jaccard", "depth": "depth/delta1", "motion": "motion/pooled_jaccard"}
#: scores shown in extra columns beside a task's printed one: (column suffix, metric)
EXTRA_SCORES = {"segmentation": (("mIoU", "segmentation/miou"),),
                "motion": (("mIoU", "motion/miou"), ("pixel accuracy", "motion/pixel_accuracy"))}
GROUPS = {"Seg+Depth": ("segmentation", "depth"), "Seg+Motion": ("segmentation", "motion"),
          "3-Task": ("segmentation", "depth", "motion")}
METHODS = {"Equal weights": ("equal", 1), "GLS": ("gls", 1), "MultiNet++": ("gls", 2)}
TABLE4_METHODS = {"Equal weights": "equal", "Uncertainty": "uncertainty", "DWA": "dwa", "GLS": "gls"}
COMMON = dict(epochs=100, batch_size=8, learning_rate=1e-4, monitor="val_loss")
#: depth trains on the 16-bit PNG values the Huber delta of 250 was set for (module docstring)
PAPER_DEPTH = {"depth_units": "paper16"}


def tasks_of(dataset, tasks):
    """SYNTHIA has no motion labels (MultiNet++ Table 1)."""
    return tuple(t for t in tasks if not (dataset == "synthia" and t == "motion"))


def task_channels(dataset, tasks):
    return {t: SEGMENTATION_CLASSES[dataset] if t == "segmentation" else TASK_CHANNELS[t] for t in tasks}


def experiment(dataset, tasks, weighting="equal", frames=1):
    tasks = tuple(tasks)
    short = "-".join({"segmentation": "seg", "depth": "depth", "motion": "motion"}[t] for t in tasks)
    suffix = "" if len(tasks) == 1 else f"-{weighting}" + ("-2frames" if frames == 2 else "")
    builder = "build_multinet_pp" if frames == 2 else "build_multitask"
    options = {"tasks": task_channels(dataset, tasks)}
    if frames == 2:
        options["frames"] = 2
    return Experiment(f"mtl-{short}{suffix}-{dataset}", builder, dataset, options,
                      class_set=CLASS_SET[dataset] if "segmentation" in tasks else None, frames=frames,
                      weighting=weighting, data_options=PAPER_DEPTH if "depth" in tasks else {}, **COMMON)


def single_task(dataset, task):
    return experiment(dataset, (task,))


def three_task(dataset, weighting, frames=1):
    return experiment(dataset, tasks_of(dataset, TASK_CHANNELS), weighting, frames)


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
    return [three_task(dataset, weighting) for dataset in ("kitti", "cityscapes")
            for weighting in TABLE4_METHODS.values()]


EXPERIMENTS = list({e.name: e for e in _table3_experiments() + _table4_experiments()}.values())


# ----------------------------------------------------------------------------------------------- Table 1
ANNOTATION_ROWS = {"Segmentation": "segmentation", "Depth": "depth", "Motion": "motion"}
SPLIT_ROWS = {"# Train": "train", "# Validation": "val"}


def dataset_fact(dataset, row):
    """A Table 1 cell measured on the data in use: whether the reader gives a task's labels, how many labelled
    images a split has, and whether the data is the real dataset or our synthetic stand-in."""
    def measure(plan):
        sources = plan.settings.sources
        if row == "# Type":
            return "Real" if dataset in sources.roots else "Synthetic"
        reader, _ = sources.reader(dataset)
        if row in ANNOTATION_ROWS:
            task = ANNOTATION_ROWS[row]
            if task not in reader.tasks:
                return CROSS
            try:
                return CHECK if reader.list_examples("train", [task]) else CROSS
            except (ValueError, FileNotFoundError):  # e.g. motion without the Vertens et al. masks
                return CROSS
        return len(reader.list_examples(SPLIT_ROWS[row], ["segmentation"]))
    return measure


def _table1():
    rows = tuple(Row((row,), tuple(Cell(paper=printed(PAPER, "table1", "", row, TITLES[d]),
                                        measure=dataset_fact(d, row)) for d in DATASETS))
                 for row in (*ANNOTATION_ROWS, *SPLIT_ROWS, "# Type"))
    return Table(PAPER, "table1", "MultiNet++ Table 1: the datasets (annotations, labelled images, type)",
                 ("",), tuple(TITLES[d] for d in DATASETS), rows, DATASETS,
                 notes=("Ours: counted on the data this reproduction reads (the --data-root copies, or the synthetic "
                        "stand-ins). KITTI: our train / validation split of the 200 labelled images (170 / 30), where "
                        "the paper counts the benchmark's 200 training and 200 test images (the test labels are not "
                        "public). SYNTHIA: SEQS-02 / SEQS-05 with every season found under the root.",))


# ----------------------------------------------------------------------------------------------- Table 2
PARAMETER_ROWS = {  # paper row -> (tasks, frames)
    "1-Task Segmentation": (("segmentation",), 1), "1-Task Depth": (("depth",), 1),
    "1-Task Motion": (("motion",), 1),
    "Seg+Depth / 1-Frame": (("segmentation", "depth"), 1), "Seg+Depth / 2-Frames": (("segmentation", "depth"), 2),
    "Seg+Motion / 1-Frame": (("segmentation", "motion"), 1),
    "Seg+Motion / 2-Frames": (("segmentation", "motion"), 2),
    "3-Task / 1-Frame": (tuple(TASK_CHANNELS), 1), "3-Task / 2-Frames": (tuple(TASK_CHANNELS), 2),
}
#: Table 2's blocks: (column prefix, segmentation classes, the block's columns in order)
PARAMETER_BLOCKS = (("", 20, ("Encoder", "Segmentation", "Depth", "Motion", "Params")),
                    ("SYNTHIA ", 13, ("Encoder", "Segmentation", "Depth", "Params")))
PARAMETER_COLUMNS = tuple(prefix + column for prefix, _, columns in PARAMETER_BLOCKS for column in columns)


@functools.lru_cache(maxsize=None)  # each table write renders every cell twice (table and scores CSV)
def parameter_breakdown(tasks, frames, segmentation_classes=20):
    """{"Encoder", "Segmentation", "Depth", "Motion", "Params"} parameter counts of the network, built now (no
    training): the shared encoder, each task's decoder (its layers are named after the task) and the total."""
    import models

    channels = {t: segmentation_classes if t == "segmentation" else TASK_CHANNELS[t] for t in tasks}
    model = models.build_multitask(channels, frames=frames)
    counts = {"Encoder": model.get_layer("encoder").count_params(), "Params": model.count_params()}
    for task in tasks:
        counts[TASK_TITLES[task]] = sum(layer.count_params() for layer in model.layers
                                        if layer.name == task or layer.name.startswith(f"{task}_"))
    if sum(value for key, value in counts.items() if key != "Params") != counts["Params"]:
        raise AssertionError(f"{channels}, {frames} frames: encoder and decoders do not add up to the total")
    return counts


def parameter_text(printed_text):
    """Our exact count, marked "≠" when neither rounding nor truncating it gives the paper's printed text."""
    def text(count):
        return f"{count:,}" + ("" if matches_printed(count, printed_text) else " ≠")
    return text


def _table2():
    rows = []
    for row, (tasks, frames) in PARAMETER_ROWS.items():
        printed_row = dict(zip(PARAMETER_COLUMNS, MULTINET_PP_TABLE2_PRINTED[row]))
        cells = []
        for prefix, classes, columns in PARAMETER_BLOCKS:
            for column in columns:
                text = printed_row[prefix + column]
                if text == "-":
                    cells.append(Cell(text="-", paper=DASH))
                    continue
                cells.append(Cell(paper=text, formatter=parameter_text(text),
                                  derive=lambda results, t=tasks, f=frames, c=classes, k=column:
                                  parameter_breakdown(t, f, c)[k]))
        rows.append(Row((row,), tuple(cells)))
    return Table(PAPER, "table2", "MultiNet++ Table 2: parameters (KITTI & Cityscapes: 20 classes; SYNTHIA: 13)",
                 ("Model",), PARAMETER_COLUMNS, tuple(rows), (),
                 notes=("Computed by building each network (no training): the shared ResNet-50 encoder, each task's "
                        "FCN8 decoder and the total. Ours is exact; the paper prints two decimals of K or M, sometimes "
                        "rounded and sometimes truncated (the encoder's 23,587,712 is 23.58M; one depth decoder of "
                        "3,878 is 3.88K in one block and 3.87K in the other). \u2260 marks a count that neither "
                        "rounds nor truncates to the printed value. Params is the paper's Total.",))


# ----------------------------------------------------------------------------------------------- Tables 3, 4
def accuracy_cells(table, row, run_by_task, datasets, paper=PAPER):
    """One cell per (dataset, task) column: the run's accuracy score in percent, "-" where the row lacks it; then the
    extra scores (EXTRA_SCORES) of the same runs, which the paper does not print."""
    cells, extras = [], []
    for dataset in datasets:
        for task in tasks_of(dataset, TASK_CHANNELS):
            column = f"{TITLES[dataset]} {TASK_TITLES[task]}"
            paper_value = printed(paper, table, "", row, column)
            name = run_by_task(dataset, task)
            if name is None:
                cells.append(Cell(text="-", paper=paper_value if paper_value is not None else "-"))
            else:
                cells.append(Cell(name, ACCURACY[task], paper_value, scale=100))
            for _, metric in EXTRA_SCORES.get(task, ()):
                extras.append(Cell(text="-") if name is None else Cell(name, metric, scale=100))
    return tuple(cells) + tuple(extras)


def columns_of(datasets):
    printed_columns = tuple(f"{TITLES[d]} {TASK_TITLES[t]}" for d in datasets for t in tasks_of(d, TASK_CHANNELS))
    extra_columns = tuple(f"{TITLES[d]} {TASK_TITLES[t]} {suffix} (not printed)" for d in datasets
                          for t in tasks_of(d, TASK_CHANNELS) for suffix, _ in EXTRA_SCORES.get(t, ()))
    return printed_columns + extra_columns


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
                 columns_of(datasets), tuple(rows), datasets, notes=accuracy_notes())


def accuracy_notes():
    return ("Accuracy: segmentation and motion = the pooled Jaccard coefficient ((I + 1) / (U + 1) over every pixel "
            "and one-hot channel of an image, averaged over images), the reading of the same authors' 'IoU' that fits "
            "AuxNet's and NeurAll's printed rows (reproduce/iou_definition.py); depth = delta1 (share of pixels with "
            "max(pred/true, true/pred) < 1.25) on disparity in pixels (KITTI, Cityscapes) or depth in metres "
            "(SYNTHIA). Depth trains on the 16-bit PNG values (KITTI: disparity x 256; SYNTHIA: centimetres).",
            "Columns marked (not printed): scores of the same runs that the paper does not print: the standard "
            "dataset mIoU, and motion's pixel accuracy (the other literal reading of 'Accuracy').")


def _table4():
    datasets = ("kitti", "cityscapes")
    rows = [Row(("1-Task",), accuracy_cells("table4", "1-Task", lambda d, t: single_task(d, t).name, datasets))]
    for method, weighting in TABLE4_METHODS.items():
        rows.append(Row((method,), accuracy_cells(
            "table4", method, lambda d, t, w=weighting: three_task(d, w).name, datasets)))
    return Table(PAPER, "table4", "MultiNet++ Table 4: weighting strategies for the 3-task network (accuracy %)",
                 ("Method",), columns_of(datasets), tuple(rows), datasets, notes=accuracy_notes())


TABLES = [_table1(), _table2(), accuracy_table(), _table4()]


# ----------------------------------------------------------------------------------------------- figures
def fig4(plan, path):
    """Fig. 4: validation loss per epoch of the 1-task models and the 3-task models of Table 4 (equal weights, GLS,
    uncertainty, DWA), for segmentation, depth and motion on KITTI and Cityscapes."""
    from reproduce.figures import plot_curves
    from reproduce.runner import read_history

    panels = []
    for dataset in ("kitti", "cityscapes"):
        runs = {"1-Task": None} | {method: three_task(dataset, weighting).name
                                   for method, weighting in TABLE4_METHODS.items()}
        for task in TASK_CHANNELS:
            runs["1-Task"] = single_task(dataset, task).name
            series = {}
            for label, name in runs.items():
                history = read_history(os.path.join(plan.run_dir(name), "history.csv"))
                series[label] = [float(row.get(f"val_{task}_loss") or "nan") for row in history]
            panels.append((f"{TITLES[dataset]} {TASK_TITLES[task]}", series))
    return plot_curves(panels, path, title="MultiNet++ Fig. 4: validation loss per epoch, 1-task vs 3-task models")


def load_samples(plan, name):
    """The first validation images, targets and predictions a run kept (reproduce.evaluation's samples.npz)."""
    import numpy as np

    file = os.path.join(plan.run_dir(name), "samples.npz")
    return dict(np.load(file)) if os.path.isfile(file) else {}


def tile(values, task, dataset):
    from reproduce.figures import colorize_depth, colorize_motion, colorize_segmentation

    if values is None:
        return None
    if task == "segmentation":
        return colorize_segmentation(values, class_sets.get(CLASS_SET[dataset]).palette)
    if task == "motion":
        return colorize_motion(values)
    return colorize_depth(values)


def _input_tile(samples, index):
    import numpy as np

    images = samples.get("image")
    return None if images is None or len(images) <= index else np.clip(images[index], 0, 255).astype("uint8")


def qualitative(plan, path, dataset, single, multi, title):
    """Input, 1-task output, multi-task output and ground truth, one row per task (first validation image)."""
    multi_samples = load_samples(plan, multi)
    rows, row_titles = [], []
    for task, name in single.items():
        single_samples = load_samples(plan, name)
        first = lambda samples, key: samples[key][0] if key in samples else None  # noqa: E731
        truth = first(multi_samples, f"true/{task}")
        truth = truth if truth is not None else first(single_samples, f"true/{task}")
        image = _input_tile(multi_samples, 0)
        rows.append([image if image is not None else _input_tile(single_samples, 0),
                     tile(first(single_samples, f"pred/{task}"), task, dataset),
                     tile(first(multi_samples, f"pred/{task}"), task, dataset), tile(truth, task, dataset)])
        row_titles.append(task)
    from reproduce.figures import plot_panel

    return plot_panel(rows, ["Input", "1-task", "Multi-task", "Ground truth"], path, title=title,
                      row_titles=row_titles)


def fig3(plan, path):
    """Fig. 3: input, single-task outputs, MultiNet++ output and ground truth on Cityscapes."""
    return qualitative(plan, path, "cityscapes", {t: single_task("cityscapes", t).name for t in TASK_CHANNELS},
                       three_task("cityscapes", "gls", 2).name,
                       "MultiNet++ Fig. 3: Cityscapes, 1-task vs MultiNet++ outputs")


FIG5_COLUMNS = {"1-Task": lambda d: single_task(d, "segmentation").name,
                "Equal Weights": lambda d: three_task(d, "equal").name, "GLS": lambda d: three_task(d, "gls").name,
                "MultiNet++": lambda d: three_task(d, "gls", 2).name}


def fig5(plan, path, dataset="kitti"):
    """Fig. 5: segmentation of the validation images by the 1-task model and the 3-task models (equal weights, GLS,
    MultiNet++) beside the input and the ground truth, one row per image, on KITTI."""
    from reproduce.evaluation import SAMPLES
    from reproduce.figures import plot_panel

    samples = {label: load_samples(plan, name(dataset)) for label, name in FIG5_COLUMNS.items()}
    rows = []
    for index in range(SAMPLES):
        def of(values, key, index=index):
            array = values.get(key)
            return None if array is None or len(array) <= index else array[index]
        image = next((_input_tile(s, index) for s in samples.values() if _input_tile(s, index) is not None), None)
        truth = next((of(s, "true/segmentation") for s in samples.values()
                      if of(s, "true/segmentation") is not None), None)
        rows.append([image] + [tile(of(s, "pred/segmentation"), "segmentation", dataset) for s in samples.values()]
                    + [tile(truth, "segmentation", dataset)])
    return plot_panel(rows, ["Input Images", *FIG5_COLUMNS, "Ground Truth"], path,
                      title="MultiNet++ Fig. 5: KITTI segmentation, 1-task vs 3-task models")


FIGURES = [("fig3", fig3), ("fig4", fig4), ("fig5", fig5)]
