"""NeurAll (Sistu et al. 2019): multi-stream segmentation (Table I), auxiliary learning (Table II), the
two-stream three-task model with sum vs product of losses (Table III) and its qualitative outputs (Fig. 3).

Tables I and II repeat AuxNet's SegNet and AuxNet runs (same numbers in both papers), so they share those runs
(reproduce/auxnet.py). MSNet2 concatenates the two frames' encoded features per level; RNNet2 runs a ConvLSTM
over them (its size is not given; see the README). Table III's numbers are MultiNet++ Table 3's "Equal weights"
(sum of losses) and "GLS" (product of losses) rows, so it shares those runs (reproduce/multinet_pp.py); NeurAll
describes the 3-task model as two-stream while MultiNet++ calls the same numbers its one-frame GLS model: we
follow MultiNet++ (one frame) and keep its two-frame runs in MultiNet++ Table 3.

Budgets: NeurAll gives no training length. Tables I and II share AuxNet's runs, which train AuxNet's 200 epochs;
MSNet2 and RNNet2 train the same 200 epochs, so Table I compares like with like. Table III shares MultiNet++'s
runs, which train 100 epochs (MultiNet++ gives no length either; reproduce/multinet_pp.py), and their depth trains
on the 16-bit PNG values, as MultiNet++'s Huber delta needs.

    python -m reproduce neurall [--table 1] [--quick]
"""
from reproduce import auxnet, multinet_pp
from reproduce.experiment import Experiment
from reproduce.tables import Row, Table

PAPER = "neurall"
DATASETS = auxnet.DATASETS
SECTIONS = auxnet.SECTIONS
CLASS_COLUMNS = tuple(auxnet.CLASS_COLUMNS)


def multistream(builder, dataset):
    return Experiment(f"{builder.removeprefix('build_')}-{dataset}", builder, dataset,
                      {"num_classes": auxnet.NUM_CLASSES[dataset]}, class_set=auxnet.CLASS_SET[dataset], frames=2,
                      **auxnet.COMMON)


EXPERIMENTS = [multistream(b, d) for b in ("build_msnet2", "build_rnnet2") for d in DATASETS]


def _class_table(key, title, rows_by_label, columns):
    rows = []
    for dataset in DATASETS:
        section = SECTIONS[dataset]
        for label, run in rows_by_label(dataset).items():
            rows.append(Row((section, label), auxnet.class_iou_cells(PAPER, key, section, label, run, dataset,
                                                                     columns)))
    return Table(PAPER, key, title, ("Dataset", "Model"), columns, tuple(rows), DATASETS, notes=auxnet.IOU_NOTES)


def _table1():
    def rows(dataset):
        return {"SegNet": auxnet.segnet(dataset).name, "MSNet2": multistream("build_msnet2", dataset).name,
                "RNNet2": multistream("build_rnnet2", dataset).name}
    return _class_table("table1", "NeurAll Table I: single- vs multi-stream semantic segmentation (IoU %)", rows,
                        CLASS_COLUMNS + ("IoU", "Params", auxnet.STANDARD_MIOU))


def _table2():
    def rows(dataset):
        return {"SegNet": auxnet.segnet(dataset).name} | {
            v: auxnet.auxnet(v, dataset).name for v in ("AuxNet400", "AuxNet1000", "AuxNetTWB")}
    return _class_table("table2", "NeurAll Table II: single task vs auxiliary learning (IoU %)", rows,
                        CLASS_COLUMNS + ("IoU", auxnet.STANDARD_MIOU))


def _table3():
    methods = {"Sum of Losses": multinet_pp.METHODS["Equal weights"],
               "Product of Losses": multinet_pp.METHODS["GLS"]}
    return multinet_pp.accuracy_table(PAPER, "table3", ("kitti", "cityscapes"), methods,
                               "NeurAll Table III: 1-, 2- and 3-task models, sum vs product of losses (accuracy %)")


def fig3(plan, path):
    return multinet_pp.qualitative(
        plan, path, "kitti", {t: multinet_pp.single_task("kitti", t).name for t in multinet_pp.TASK_CHANNELS},
        multinet_pp.experiment("kitti", tuple(multinet_pp.TASK_CHANNELS), "gls").name,
        "NeurAll Fig. 3: input, 1-task outputs, 3-task (product of losses) outputs, ground truth (KITTI)")


TABLES = [_table1(), _table2(), _table3()]
FIGURES = [("fig3", fig3)]
