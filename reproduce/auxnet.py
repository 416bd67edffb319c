"""AuxNet (Chennupati et al. 2019): SegNet vs auxiliary-depth networks (Table 1) and vs FuseNet (Table 2).

Paper settings: ResNet-50 encoder pretrained on ImageNet, random decoders, 224x384, cross-entropy for segmentation
and mean absolute error for depth, Adam, 200 epochs, the best epoch by validation segmentation loss; KITTI
(12 classes) and SYNTHIA (13). Our choices where the paper is silent: learning rate 1e-4, batch size 8.
AuxNet400/1000 weigh segmentation 400/1000 times depth (`fixed`); TWB/FTWB are Algorithms 1/2 (`twb`, `ftwb`).
Table 2's "AuxNet" row is the paper's best AuxNet of Table 1 on that dataset (KITTI 79.24 = FTWB, SYNTHIA
92.60 = AuxNet1000); ours is likewise the best of our Table 1 AuxNets by validation mIoU.

    python -m reproduce auxnet            # the paper's budget
    python -m reproduce auxnet --quick    # a few steps per run, to check that everything runs
"""
from reproduce.experiment import Experiment
from reproduce.tables import Cell, Row, Table, printed

PAPER = "auxnet"
DATASETS = ("kitti", "synthia")
SECTIONS = {"kitti": "KITTI", "synthia": "SYNTHIA"}
NUM_CLASSES = {"kitti": 12, "synthia": 13}
CLASS_SET = {"kitti": "kitti12", "synthia": "synthia13"}
#: paper column -> class name in the class set (None: not a class of that set)
CLASS_COLUMNS = {"Sky": "sky", "Building": "building", "Road": "road", "Sidewalk": "sidewalk", "Fence": "fence",
                 "Vegetation": "vegetation", "Pole": "pole", "Car": "car", "Lane": "lanemarking"}
COMMON = dict(epochs=200, batch_size=8, learning_rate=1e-4, monitor="val_segmentation_loss")
AUX_WEIGHTINGS = {"AuxNet400": ("fixed", {"weights": {"segmentation": 400.0, "depth": 1.0}}),
                  "AuxNet1000": ("fixed", {"weights": {"segmentation": 1000.0, "depth": 1.0}}),
                  "AuxNetTWB": ("twb", {}),
                  "AuxNetFTWB": ("ftwb", {"main_task": "segmentation"})}


def segnet(dataset):
    return Experiment(f"segnet-{dataset}", "build_segnet", dataset, {"num_classes": NUM_CLASSES[dataset]},
                      class_set=CLASS_SET[dataset], **COMMON)


def auxnet(variant, dataset):
    weighting, options = AUX_WEIGHTINGS[variant]
    return Experiment(f"{variant.lower()}-{dataset}", "build_auxnet", dataset, {"num_classes": NUM_CLASSES[dataset]},
                      class_set=CLASS_SET[dataset], weighting=weighting, weighting_options=options,
                      losses={"depth": "mae"}, **COMMON)


def fusenet(dataset):
    return Experiment(f"fusenet-{dataset}", "build_fusenet", dataset, {"num_classes": NUM_CLASSES[dataset]},
                      class_set=CLASS_SET[dataset], data_options={"depth_input": True}, **COMMON)


EXPERIMENTS = ([segnet(d) for d in DATASETS] + [auxnet(v, d) for v in AUX_WEIGHTINGS for d in DATASETS]
               + [fusenet(d) for d in DATASETS])


def class_iou_cells(paper, table, section, row, experiment, dataset, columns):
    """IoU cells in percent: one per class column of the paper, then the mean ("IoU") and maybe "Params"."""
    from reproduce.class_sets import get

    names = get(CLASS_SET[dataset]).names
    cells = []
    for column in columns:
        paper_value = printed(paper, table, section, row, column)
        if column == "IoU":
            cells.append(Cell(experiment, "segmentation/miou", paper_value, scale=100))
        elif column == "Params":
            cells.append(Cell(experiment, "params", paper_value, digits=0))
        elif CLASS_COLUMNS[column] in names:
            cells.append(Cell(experiment, f"segmentation/iou/{CLASS_COLUMNS[column]}", paper_value, scale=100))
        else:
            cells.append(Cell(text="-", paper=paper_value if paper_value is not None else "-"))
    return tuple(cells)


def best_of(names, metric):
    """A cell value: `metric` of whichever of `names` has the best validation mIoU."""
    def derive(results):
        best = max(names, key=lambda name: results[name].get("segmentation/miou", float("-inf")))
        return results[best].get(metric)
    return derive


def _table1():
    columns = tuple(CLASS_COLUMNS) + ("IoU",)
    rows = []
    for dataset in DATASETS:
        section = SECTIONS[dataset]
        runs = {"SegNet": segnet(dataset).name} | {v: auxnet(v, dataset).name for v in AUX_WEIGHTINGS}
        for row, name in runs.items():
            rows.append(Row((section, row), class_iou_cells(PAPER, "table1", section, row, name, dataset, columns)))
    return Table(PAPER, "table1", "AuxNet Table 1: SegNet vs auxiliary networks (IoU %, validation split)",
                 ("Dataset", "Model"), columns, tuple(rows), DATASETS,
                 notes=("IoU = mean IoU over the class set's classes (reproduce/class_sets.py).",))


def _table2():
    rows = []
    for dataset in DATASETS:
        section = SECTIONS[dataset]
        aux_names = tuple(auxnet(v, dataset).name for v in AUX_WEIGHTINGS)
        for row, name in (("SegNet", segnet(dataset).name), ("FuseNet", fusenet(dataset).name)):
            rows.append(Row((section, row), class_iou_cells(PAPER, "table2", section, row, name, dataset,
                                                            ("IoU", "Params"))))
        rows.append(Row((section, "AuxNet"), (
            Cell(paper=printed(PAPER, "table2", section, "AuxNet", "IoU"), scale=100, needs=aux_names,
                 derive=best_of(aux_names, "segmentation/miou")),
            Cell(paper=printed(PAPER, "table2", section, "AuxNet", "Params"), digits=0, needs=aux_names,
                 derive=best_of(aux_names, "params")))))
    return Table(PAPER, "table2", "AuxNet Table 2: SegNet, FuseNet and AuxNet (mean IoU %, parameters)",
                 ("Dataset", "Model"), ("IoU", "Params"), tuple(rows), DATASETS,
                 notes=("AuxNet = the best of Table 1's AuxNet variants by validation mIoU, as the paper's row.",))


TABLES = [_table1(), _table2()]
FIGURES = []
