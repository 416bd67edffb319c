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
import os

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
#: the paper's resolutions (height x width): "each image from the Cityscapes dataset is resized to 1024x512"; KITTI's
#: native 1242x375 (runs round it up to 384x1248, the encoders' multiple of 32); used with --image-size paper
PAPER_IMAGE_SIZE = {"cityscapes": (512, 1024), "kitti": (375, 1242)}
SHORT = {"segmentation": "ss", "colorization": "c", "disparity": "d"}
PAPER_TASK = {"colorization": "colorization", "disparity": "depth"}  # SELFSUP_GRID_WEIGHTS names depth "depth"


def _experiment(name, dataset, tasks, weighting="equal", options=None, init="imagenet", **extra):
    return Experiment(name, "build_selfsup", dataset, {"num_classes": 19, "tasks": tuple(tasks)},
                      class_set="cityscapes19" if "segmentation" in tasks else None, weighting=weighting,
                      weighting_options=options or {}, init=init, learning_rate=1e-3, batch_size=2,
                      epochs=EPOCHS[dataset], paper_image_size=PAPER_IMAGE_SIZE[dataset], **extra)


COARSE_CTS = _experiment("selfsup-coarse-cts", "cityscapes", ("colorization", "disparity"), init="random",
                         train_split="train_extra", data_options={"coarse": True})
BASELINE_INITS = {"SSrandom": "random", "SSImageNet": "imagenet", "SSCoarseCTS": INITS["CoarseCTS"]}


def baseline(dataset, row):
    name = f"selfsup-{dataset}-{row.lower()}"
    init = BASELINE_INITS[row] if dataset == "cityscapes" else f"model:{baseline('cityscapes', row).name}"
    return _experiment(name, dataset, ("segmentation",), init=init)


SINGLE_TASKS = {"C": "colorization", "D": "disparity"}


def single_self_supervised(task, init_label):
    """Colorization or disparity alone on Cityscapes (the scores the paper prints in its text beside Table 1)."""
    name = f"selfsup-cityscapes-{SHORT[task]}-only-{init_label.lower()}"
    return _experiment(name, "cityscapes", (task,), init=INITS[init_label])


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
    runs = [COARSE_CTS] + [single_self_supervised(task, init) for task in SINGLE_TASKS.values() for init in INITS]
    for dataset in ("cityscapes", "kitti"):
        runs += [baseline(dataset, row) for row in BASELINE_INITS]
        for combination, method, init_label in itertools.product(COMBINATIONS, METHODS, INITS):
            runs += runs_of_row(dataset, combination, method, init_label)
    return runs


EXPERIMENTS = _all_experiments()
#: the official Cityscapes scores (reproduce.evaluation: cityscapesscripts' definitions at the labels' full
#: resolution) by Table 2 column; Table 1's Cityscapes "Sem. mIOU" is the class mIoU of these
OFFICIAL_COLUMNS = {"Class mIOU": "cityscapes/class_miou", "Class iIOU": "cityscapes/class_iiou",
                    "Category mIOU": "cityscapes/category_miou", "Category iIOU": "cityscapes/category_iiou"}
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
        if metric == "segmentation/miou" and runs[0].dataset == "cityscapes":
            metric = OFFICIAL_COLUMNS["Class mIOU"]  # as the official evaluation scores Cityscapes
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
                        "paper's Cityscapes choice. Disparity scores on depth capped at 50 m.",)
                 + (("Sem. mIOU on Cityscapes: the class mIoU of the official cityscapesscripts evaluation, at the "
                     "labels' full resolution (predictions upsampled to 2048x1024).",) if dataset == "cityscapes"
                    else ()))


def _single_task_table():
    """The single-task colorization and disparity scores the paper prints in its text (Sec. 4.2)."""
    rows = []
    for short, task in SINGLE_TASKS.items():
        for init_label in INITS:
            label = f"{short} / {init_label}"
            run = single_self_supervised(task, init_label)
            cells = []
            for column in ("Color mIOU", "AbsRel", "SqRel"):
                paper_value = printed(PAPER, "table1_text", "", label, column)
                metric = COLUMNS[column]
                cells.append(Cell(run.name, metric, paper_value) if metric.startswith(task)
                             else Cell(text="-"))  # the other task's score: not a cell of the paper's text
            rows.append(Row((label,), tuple(cells)))
    return Table(PAPER, "table1_text", "Novosel et al. Sec. 4.2 (text): colorization and disparity trained alone, "
                 "Cityscapes validation", ("Model",), ("Color mIOU", "AbsRel", "SqRel"), tuple(rows), ("cityscapes",),
                 notes=("The paper prints these in its text beside Table 1; the disparity scores are on depth capped "
                        "at 50 m, as Table 1's.",))


def multitask_runs(dataset):
    """Every multi-task run of a dataset's table (the whole grid of the GS rows)."""
    return tuple(run.name for combination, method, init_label in itertools.product(COMBINATIONS, METHODS, INITS)
                 for run in runs_of_row(dataset, combination, method, init_label))


#: Table 2's rows: the baseline, and "Best" = the multi-task run with the best validation mIoU (the paper's: SS+D GS)
TABLE2_ROWS = {"Baseline (SSImageNet)": (baseline("cityscapes", "SSImageNet").name,),
               "Best": multitask_runs("cityscapes")}
SUBMISSION_FOLDER = "table2_test_submission"


def _table2():
    rows = []
    for row, names in TABLE2_ROWS.items():
        pick = best_run(names)
        rows.append(Row((row,), tuple(Cell(paper=printed(PAPER, "table2", "", row, column), needs=names,
                                           derive=pick(metric)) for column, metric in OFFICIAL_COLUMNS.items())))
    return Table(PAPER, "table2", "Novosel et al. Table 2: class and category mIoU and iIoU (ours: Cityscapes "
                 "validation; the paper's: test)", ("Model",), tuple(OFFICIAL_COLUMNS), tuple(rows), ("cityscapes",),
                 notes=("The test labels are not public: ours are the same scores on the validation split, computed as "
                        "the official cityscapesscripts evaluation does (labelIds at the labels' full resolution, "
                        "2048x1024 for Cityscapes; predictions upsampled to it; iIoU weighted by instance size). The "
                        "test-split predictions of both rows are written in the benchmark's submission format to "
                        f"OUT/selfsup/{SUBMISSION_FOLDER}/ (its README.md says what was written, or why not) for "
                        "the evaluation server.",
                        "Best: the multi-task run of Table 1 with the best validation mIoU (the paper's is SS+D, GS, "
                        "ImageNet)."))


LITERATURE = ("SegNet", "PSPNet", "DeepLab v3", "ENet", "ICNet", "UNet - ResNet18", "UNet - MobileNet",
              "ResNet18 with distillation", "ShuffleNet V2 + DPC")


def _table4():
    rows = []
    for row in LITERATURE:  # other methods: the paper's numbers as printed
        rows.append(Row((row,), tuple(Cell(text="", paper=printed(PAPER, "table4", "", row, column))
                                      for column in ("Test mIOU", "Validation mIOU"))))
    for row, names in (("Ours - Baseline (SSImageNet)", TABLE2_ROWS["Baseline (SSImageNet)"]),
                       ("Ours - Best", TABLE2_ROWS["Best"])):
        rows.append(Row((row,), (
            Cell(text="not public", paper=printed(PAPER, "table4", "", row, "Test mIOU")),
            Cell(paper=printed(PAPER, "table4", "", row, "Validation mIOU"), needs=names,
                 derive=best_run(names)("cityscapes/class_miou")))))
    return Table(PAPER, "table4", "Novosel et al. Table 4: class mIoU on Cityscapes, other methods and ours",
                 ("Method",), ("Test mIOU", "Validation mIOU"), tuple(rows), ("cityscapes",),
                 notes=("Other methods: the paper's numbers as it prints them (not ours). Ours: the official class mIoU "
                        "on the validation split (as Table 2); the test labels are not public, so the test column "
                        f"is the server's (predictions in OUT/selfsup/{SUBMISSION_FOLDER}/).",))


def write_test_submission(plan, folder, results):
    """Table 2's models on the Cityscapes test split, in the benchmark's submission format (labelIds PNGs at the
    images' full resolution, named as the server expects: metrics.cityscapes.write_submission_png), one folder per
    row under `folder`/SUBMISSION_FOLDER; its README.md says what was written or why not (no test split, as in the
    synthetic stand-in; a run not finished; a run that kept no model.keras, as --quick runs). A row whose run is
    unchanged since the last writing is not predicted again."""
    import keras
    import numpy as np

    from data.readers.base import png_info
    from metrics.cityscapes import NUM_TRAIN_IDS, write_submission_png
    from reproduce.runner import run_image_size
    from common.atomic import write_text

    out = os.path.join(folder, SUBMISSION_FOLDER)
    lines = ["# Cityscapes test split in the benchmark's submission format (Novosel et al. Table 2)", ""]
    try:
        reader, split = plan.settings.sources.reader("cityscapes", "test")
        examples = reader.list_examples(split, [])
    except (FileNotFoundError, ValueError) as error:
        examples, why = [], f"no Cityscapes test split to predict ({str(error).splitlines()[0]})"
    else:
        why = "" if examples else "the Cityscapes test split has no image"
    for row, names in TABLE2_ROWS.items():
        done = [name for name in names if name in results and "segmentation/miou" in results[name]]
        if why or not done:
            lines.append(f"- {row}: not written: {why or 'its runs have not finished'}")
            continue
        name = max(done, key=lambda n: results[n]["segmentation/miou"])
        model_file = os.path.join(plan.run_dir(name), "model.keras")
        target = os.path.join(out, row.split(" ")[0].lower())
        marker = os.path.join(target, "RUN.txt")
        if not os.path.isfile(model_file):
            lines.append(f"- {row}: not written: run {plan.run_id(name)} kept no model.keras (--quick drops it; "
                         "--keep-models keeps it)")
            continue
        if not (os.path.isfile(marker) and open(marker).read().strip() == plan.run_id(name)):
            model = keras.saving.load_model(model_file, compile=False)
            ds = plan.settings.sources.load("cityscapes", "test", [], image_size=run_image_size(plan[name],
                                                                                                plan.settings))
            index = 0
            for inputs, _ in ds.batch(4):
                for scores in np.asarray(model.predict_on_batch(inputs)["segmentation"]):
                    example = examples[index]
                    info = png_info(example.files["image"])
                    write_submission_png(target, example.name, scores[..., :NUM_TRAIN_IDS],
                                         size=(info.height, info.width))
                    index += 1
            write_text(marker, plan.run_id(name) + "\n")
        lines.append(f"- {row}: {len(examples)} predictions of run {plan.run_id(name)} in {target}/ (zip its city "
                     "folders for the evaluation server)")
    write_text(os.path.join(out, "README.md"), "\n".join(lines) + "\n")
    return out


EXPORTS = [("table2", write_test_submission)]
TABLES = [_table("table1", "cityscapes", tuple(COLUMNS), "Novosel et al. Table 1: Cityscapes validation"),
          _single_task_table(), _table2(),
          _table("table3", "kitti", ("Sem. mIOU",), "Novosel et al. Table 3: KITTI validation (mIoU)"), _table4()]
FIGURES = []
