"""Leang et al. 2020: nine task-weighting methods for a two-task network (detection + segmentation) on KITTI,
Cityscapes and WoodScape (Table II), and the weights used or found (Table I).

Paper settings: ResNet-10 encoder pretrained on ImageNet, YOLO-style detection head, FCN8 segmentation; KITTI
detection from KITTI object (Car, Pedestrian, Cyclist) and segmentation from KITTI semantics, two sets of
different images trained together (reproduce/datasets.py); Cityscapes 60/20/20 of the 5000 fine images with
boxes from the polygons; WoodScape 6K/2K/2K (a seeded 60/20/20: the paper's lists are not published). KITTI
segmentation: the paper uses Krešo et al.'s 445 images with 11 classes; we read the official KITTI semantics
benchmark's 200 labelled images (data_semantics.zip, 170/30), the set a user downloads from KITTI, with the same
road / sidewalk / void merge. Segmentation classes: road, sidewalk, void. Handcrafted weights by eq. 4,
w_seg = L_det / L_seg "at the first training iterations", w_det = 1, computed on our own losses (the `handcrafted`
strategy: the ratio of the mean losses over the first 10 batches, then frozen); the paper's Table I values (70 / 40
/ 100) belong to its loss scales and are shown beside ours in Table I. Not given, our choices: Adam 1e-4, batch 8,
50 epochs, the last epoch kept;
detection classes are each dataset's own (KITTI 3, Cityscapes 8, WoodScape 5). "Overall" is the arithmetic
mean of the three datasets' geometric means (the paper's 0.5700 is the mean of 0.7282, 0.4043, 0.5774).

The two meta-learning columns are evolutionary searches (reproduce/meta_search.py, training/meta_learning.py) as
the paper's V-A: weights in [0.1, 1000] (segmentation) and [0.1, 100] (detection) on a log scale, normalised to
sum to one; with async backprop also a frequency 1-10 per task; initial population 4, 4 new configurations per
generation, 2 parents; fitness the geometric mean of mAP and mIoU on the validation split; each candidate
fine-tunes the best model so far for 8 epochs (the paper's WoodScape budget, used for all three datasets). Not
given, our choice: 48 evaluations per search (the paper's best WoodScape configuration came after 44); the cells
are the best candidate's scores and weights.

    python -m reproduce task_weighting [--table 2] [--quick]
"""
import math

from reproduce.experiment import Experiment
from reproduce.tables import Cell, Row, Table, printed

PAPER = "task_weighting"
DATASETS = ("kitti_detseg", "cityscapes", "woodscape")
SECTIONS = {"kitti_detseg": "KITTI", "cityscapes": "Cityscapes", "woodscape": "WoodScape"}
DETECTION_CLASSES = {"kitti_detseg": 3, "cityscapes": 8, "woodscape": 5}
#: eq. 4's "first training iterations": the batches whose mean losses set the handcrafted weights
HANDCRAFTED_WARMUP_STEPS = 10
#: the paper's splits: Cityscapes' 5000 fine images 60/20/20, WoodScape's 6K/2K/2K (both seeded permutations)
DATA_OPTIONS = {"cityscapes": {"split_scheme": "leang"}, "woodscape": {"split_scheme": "leang"}}
WEIGHT_RANGES = {"segmentation": [0.1, 1000.0], "detection": [0.1, 100.0]}
FREQUENCY_RANGE = [1, 10]
SEARCH_EPOCHS = 8
SEARCHES = {  # Table II column -> the candidates' weighting and whether frequencies are searched too
    "Meta-learning task weighting": ("fixed", None),
    "Meta-learning task weighting async backprop": ("async", FREQUENCY_RANGE),
}
METHODS = {  # Table II column -> (strategy, options)
    "No task weighting": ("equal", {}),
    "Handcrafted task weighting": ("handcrafted", {"reference_task": "detection",
                                                   "warmup_steps": HANDCRAFTED_WARMUP_STEPS}),
    "Dynamic task loss scaling": ("dynamic_scaling", {"reference_task": "detection"}),
    "Uncertainty weighting": ("uncertainty", {}),
    "GradNorm": ("gradnorm", {}),
    "Geometric loss": ("gls", {}),
    "Weight learning": ("weight_learning", {}),
}


def experiment(dataset, method):
    search = None
    if method in SEARCHES:
        strategy, frequency_range = SEARCHES[method]
        name, options, epochs = f"detseg-meta-{strategy}-{SECTIONS[dataset].lower()}", {}, SEARCH_EPOCHS
        search = {"weight_ranges": WEIGHT_RANGES, "frequency_range": frequency_range, "fitness": "geometric_mean",
                  "metrics": ["detection/map", "segmentation/miou"],
                  "options": {"initial_population": 4, "offspring": 4, "parents": 2, "max_evaluations": 48}}
    else:
        strategy, options = METHODS[method]
        name, epochs = f"detseg-{strategy}-{SECTIONS[dataset].lower()}", 50
    return Experiment(name, "build_detseg", dataset,
                      {"num_det_classes": DETECTION_CLASSES[dataset], "num_seg_classes": 3}, class_set="leang3",
                      weighting=strategy, weighting_options=options, learning_rate=1e-4, batch_size=8,
                      epochs=epochs, monitor=None, data_options=DATA_OPTIONS.get(dataset, {}), search=search)


COLUMNS = tuple(METHODS) + tuple(SEARCHES)
EXPERIMENTS = [experiment(d, m) for d in DATASETS for m in COLUMNS]
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
            cells = tuple(Cell(experiment(dataset, method).name, metric, printed(PAPER, "table2", section, row, method),
                               digits=4) for method in COLUMNS)
            rows.append(Row((section, row), cells))
    cells = []
    for method in COLUMNS:
        names, derive = overall(method)
        cells.append(Cell(paper=printed(PAPER, "table2", "Overall", "Geometric mean", method), digits=4,
                          needs=names, derive=derive))
    rows.append(Row(("Overall", "Geometric mean"), tuple(cells)))
    return Table(PAPER, "table2", "Leang et al. Table II: task-weighting methods (validation scores)",
                 ("Dataset", "Score"), COLUMNS, tuple(rows), DATASETS,
                 notes=("mAP at IoU 0.5 (pycocotools), mIoU over road / sidewalk / void, geometric mean = "
                        "sqrt(mAP x mIoU); Overall = mean of the three datasets' geometric means.",
                        "Meta-learning columns: the best candidate of each dataset's evolutionary search (its "
                        "evaluations.csv, fitness.png and weights.png are in its run folder)."))


def _table1():
    """The weights each method trained with (fixed) or ended with (learned), from the run's last logged epoch."""
    columns = ("No task weighting", "Handcrafted task weighting", "Meta-learning task weighting",
               "Meta-learning task weighting async backprop")
    rows = []
    for dataset in DATASETS:
        section = SECTIONS[dataset]
        for row, metric in (("ws", "weights/segmentation"), ("wd", "weights/detection"),
                            ("async fs", "frequency/segmentation"), ("async fd", "frequency/detection")):
            cells = []
            for method in columns:
                paper_value = printed(PAPER, "table1", section, row, method)
                searched = metric.startswith("weights/") or SEARCHES.get(method, (None, None))[1] is not None
                if searched:
                    cells.append(Cell(experiment(dataset, method).name, metric, paper_value,
                                      digits=0 if metric.startswith("frequency/") else 4))
                else:
                    cells.append(Cell(text="-", paper=paper_value if paper_value is not None else "-"))
            rows.append(Row((section, row), tuple(cells)))
    return Table(PAPER, "table1", "Leang et al. Table I: task weights and asynchronous backprop frequencies",
                 ("Dataset", "Weight"), columns, tuple(rows), DATASETS,
                 notes=("Ours: the effective weight d total / d L_task in the last training epoch ({task}_weight "
                        "in history.csv). Handcrafted: eq. 4 on our own losses (L_det / L_seg over the first "
                        f"{HANDCRAFTED_WARMUP_STEPS} batches, then fixed); the paper's values come from its losses' "
                        "scales, so they need not agree.",
                        "Meta-learning columns: the best candidate's normalised weights (and backpropagation "
                        "frequencies) found by the search."))


TABLES = [_table2(), _table1()]
FIGURES = []
