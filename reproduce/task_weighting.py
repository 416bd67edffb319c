"""Leang et al. 2020: nine task-weighting methods for a two-task network (detection + segmentation) on KITTI,
Cityscapes and WoodScape (Table II), and the weights used or found (Table I).

Paper settings: ResNet-10 encoder pretrained on ImageNet, YOLO-style detection head, FCN8 segmentation; KITTI
detection from KITTI object (Car, Pedestrian, Cyclist) and segmentation from KITTI semantics, two sets of
different images trained together (reproduce/datasets.py); Cityscapes 60/20/20 of the 5000 fine images with
boxes from the polygons; WoodScape. Segmentation classes: road, sidewalk, void. Handcrafted weights as Table I
(w_seg 70 / 40 / 100, w_det 1). Not given, our choices: Adam 1e-4, batch 8, 50 epochs, the last epoch kept;
detection classes are each dataset's own (KITTI 3, Cityscapes 8, WoodScape 5). "Overall" is the arithmetic
mean of the three datasets' geometric means (the paper's 0.5700 is the mean of 0.7282, 0.4043, 0.5774).
The two meta-learning columns come from the evolutionary search (its own issue) and read "not run yet".

    python -m reproduce task_weighting [--table 2] [--quick]
"""
import math

from reproduce.experiment import Experiment
from reproduce.tables import Cell, Row, Table, printed

PAPER = "task_weighting"
DATASETS = ("kitti_detseg", "cityscapes", "woodscape")
SECTIONS = {"kitti_detseg": "KITTI", "cityscapes": "Cityscapes", "woodscape": "WoodScape"}
DETECTION_CLASSES = {"kitti_detseg": 3, "cityscapes": 8, "woodscape": 5}
HANDCRAFTED_SEGMENTATION_WEIGHT = {"kitti_detseg": 70.0, "cityscapes": 40.0, "woodscape": 100.0}
DATA_OPTIONS = {"cityscapes": {"split_scheme": "leang"}}
METHODS = {  # Table II column -> (strategy, options) ; None: not a training run of this module
    "No task weighting": ("equal", {}),
    "Handcrafted task weighting": ("fixed", None),
    "Dynamic task loss scaling": ("dynamic_scaling", {"reference_task": "detection"}),
    "Uncertainty weighting": ("uncertainty", {}),
    "GradNorm": ("gradnorm", {}),
    "Geometric loss": ("gls", {}),
    "Weight learning": ("weight_learning", {}),
    "Meta-learning task weighting": None,
    "Meta-learning task weighting async backprop": None,
}
NOT_RUN_YET = "not run yet"


def experiment(dataset, method):
    strategy, options = METHODS[method]
    if options is None:
        options = {"weights": {"segmentation": HANDCRAFTED_SEGMENTATION_WEIGHT[dataset], "detection": 1.0}}
    return Experiment(f"detseg-{strategy}-{SECTIONS[dataset].lower()}", "build_detseg", dataset,
                      {"num_det_classes": DETECTION_CLASSES[dataset], "num_seg_classes": 3}, class_set="leang3",
                      weighting=strategy, weighting_options=options, learning_rate=1e-4, batch_size=8, epochs=50,
                      monitor=None, data_options=DATA_OPTIONS.get(dataset, {}))


RUN_METHODS = [m for m, spec in METHODS.items() if spec is not None]
EXPERIMENTS = [experiment(d, m) for d in DATASETS for m in RUN_METHODS]
ROWS = {"mAP (detection)": "detection/map", "mIoU (segment)": "segmentation/miou", "Geometric mean": "geometric_mean"}


def overall(method):
    names = tuple(experiment(d, method).name for d in DATASETS)

    def derive(results):
        values = [results[n].get("geometric_mean", float("nan")) for n in names]
        return sum(values) / len(values) if all(math.isfinite(v) for v in values) else float("nan")
    return names, derive


def _table2():
    rows = []
    for dataset in DATASETS:
        section = SECTIONS[dataset]
        for row, metric in ROWS.items():
            cells = []
            for method, spec in METHODS.items():
                paper_value = printed(PAPER, "table2", section, row, method)
                if spec is None:
                    cells.append(Cell(text=NOT_RUN_YET, paper=paper_value, digits=4))
                else:
                    cells.append(Cell(experiment(dataset, method).name, metric, paper_value, digits=4))
            rows.append(Row((section, row), tuple(cells)))
    cells = []
    for method, spec in METHODS.items():
        paper_value = printed(PAPER, "table2", "Overall", "Geometric mean", method)
        if spec is None:
            cells.append(Cell(text=NOT_RUN_YET, paper=paper_value, digits=4))
        else:
            names, derive = overall(method)
            cells.append(Cell(paper=paper_value, digits=4, needs=names, derive=derive))
    rows.append(Row(("Overall", "Geometric mean"), tuple(cells)))
    return Table(PAPER, "table2", "Leang et al. Table II: task-weighting methods (validation scores)",
                 ("Dataset", "Score"), tuple(METHODS), tuple(rows), DATASETS,
                 notes=("mAP at IoU 0.5 (pycocotools), mIoU over road / sidewalk / void, geometric mean = "
                        "sqrt(mAP x mIoU); Overall = mean of the three datasets' geometric means.",))


def _table1():
    """The weights each method trained with (fixed) or ended with (learned), from the run's last logged epoch."""
    columns = ("No task weighting", "Handcrafted task weighting", "Meta-learning task weighting",
               "Meta-learning task weighting async backprop")
    rows = []
    for dataset in DATASETS:
        section = SECTIONS[dataset]
        for row, task in (("ws", "segmentation"), ("wd", "detection"), ("async fs", None), ("async fd", None)):
            cells = []
            for method in columns:
                paper_value = printed(PAPER, "table1", section, row, method)
                if METHODS[method] is None:
                    cells.append(Cell(text=NOT_RUN_YET, paper=paper_value, digits=4))
                elif task is None:
                    cells.append(Cell(text="-", paper=paper_value if paper_value is not None else "-"))
                else:
                    cells.append(Cell(experiment(dataset, method).name, f"weights/{task}", paper_value, digits=4))
            rows.append(Row((section, row), tuple(cells)))
    return Table(PAPER, "table1", "Leang et al. Table I: task weights and asynchronous backprop frequencies",
                 ("Dataset", "Weight"), columns, tuple(rows), DATASETS,
                 notes=("Ours: the effective weight d total / d L_task in the last training epoch ({task}_weight "
                        "in history.csv). Handcrafted weights are the paper's Table I values, used as given.",))


TABLES = [_table2(), _table1()]
FIGURES = []
