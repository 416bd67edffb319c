"""Cells computed as the papers computed them: class counts, depth units, resolutions, the tables and figures the
papers print (MultiNet++ Table 1 and Figs. 3-5, Novosel Tables 2 and 4 and the test-split submission), Leang's
handcrafted weights by eq. 4. The training loop itself is exercised in tests/test_reproduce.py."""
import csv
import os

import numpy as np
import pytest

from reproduce import __main__ as cli
from reproduce import auxnet, multinet_pp, papers, paper_numbers, runner, selfsup, task_weighting
from reproduce.datasets import DataSources
from reproduce.tables import render


def _plan(tmp_path, **options):
    sources = DataSources({}, str(tmp_path / "synthetic"), synthetic_num=6)
    settings = runner.Settings(out=str(tmp_path), sources=sources, quick=True, progress=False, **options)
    return runner.Plan(papers.all_experiments(), settings)


def test_multinet_synthia_runs_predict_13_classes_and_depth_trains_on_16_bit_values():
    for experiment in multinet_pp.EXPERIMENTS:
        tasks = experiment.builder_options["tasks"]
        if "segmentation" in tasks:
            expected = 13 if experiment.dataset == "synthia" else 20
            assert tasks["segmentation"] == expected, experiment.name
            assert experiment.class_set == ("synthia13" if experiment.dataset == "synthia" else "cityscapes20")
        assert (experiment.data_options.get("depth_units") == "paper16") == ("depth" in tasks), experiment.name
    for experiment in auxnet.EXPERIMENTS:
        if experiment.builder in ("build_auxnet", "build_fusenet"):
            assert experiment.data_options["depth_units"] == "paper16"


def test_image_size_paper_uses_each_experiments_published_resolution_and_rounds_to_32(tmp_path):
    plan = _plan(tmp_path, image_size=runner.PAPER_SIZE)
    cityscapes = selfsup.baseline("cityscapes", "SSImageNet")
    kitti = selfsup.baseline("kitti", "SSImageNet")
    assert runner.run_image_size(cityscapes, plan.settings) == (512, 1024)
    assert runner.run_image_size(kitti, plan.settings) == (384, 1248)  # KITTI's 375x1242, up to multiples of 32
    assert runner.run_image_size(auxnet.segnet("kitti"), plan.settings) == (224, 384)
    default = _plan(tmp_path)
    assert plan.config(cityscapes.name)["image_size"] == [512, 1024]
    assert default.config(cityscapes.name)["image_size"] == [224, 384]
    assert plan.run_id(cityscapes.name) != default.run_id(cityscapes.name)
    assert plan.run_id(auxnet.segnet("kitti").name) == default.run_id(auxnet.segnet("kitti").name)
    assert "paper_image_size" not in cityscapes.config()  # hashed as the size a run uses, not as a field
    header = papers.header(selfsup.TABLES[0], plan, "cmd", "abc")
    assert "Resolution: 512x1024 (height x width; the paper's: 512x1024)" in header
    assert "Resolution: 224x384 (height x width; the paper's: 512x1024)" in papers.header(selfsup.TABLES[0],
                                                                                          default, "cmd", "abc")


@pytest.mark.parametrize("argv, message", [
    (["auxnet", "--image-size", "224"], "is not HEIGHTxWIDTH"),
    (["auxnet", "--image-size", "0x384"], "is not HEIGHTxWIDTH"),
])
def test_bad_image_sizes_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv + ["--list"])
    assert raised.value.code == 2 and message in capsys.readouterr().err


def test_multinet_table1_counts_the_data_in_use(tmp_path):
    plan = _plan(tmp_path)
    table = next(t for t in multinet_pp.TABLES if t.key == "table1")
    rendered = render(table, {}, {}, [], plan)
    rows = {row[0]: row[1:] for row in rendered["rows"]}
    assert rows["Motion"] == ["✓ (✓)", "✓ (✓)", "× (×)"]  # synthetic KITTI/Cityscapes carry motion masks
    assert rows["# Type"] == ["Synthetic (Real)", "Synthetic (Real)", "Synthetic (Synthetic)"]
    for column, dataset in enumerate(multinet_pp.DATASETS):
        reader, _ = plan.settings.sources.reader(dataset)
        train = len(reader.list_examples("train", ["segmentation"]))
        assert rows["# Train"][column].startswith(f"{train} (") and train > 0
    assert rows["# Validation"][2].endswith("(787)")


def _fake_history(folder, tasks, epochs=3, offset=0.0):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "history.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch"] + [f"val_{t}_loss" for t in tasks])
        for epoch in range(epochs):
            writer.writerow([epoch] + [1.0 / (epoch + 1) + offset] * len(tasks))


def test_multinet_figures_as_the_paper_draws_them(tmp_path):
    from PIL import Image

    plan = _plan(tmp_path)
    for dataset in ("kitti", "cityscapes"):
        for task in multinet_pp.TASK_CHANNELS:
            _fake_history(plan.run_dir(multinet_pp.single_task(dataset, task).name), [task])
        for index, weighting in enumerate(multinet_pp.TABLE4_METHODS.values()):
            _fake_history(plan.run_dir(multinet_pp.three_task(dataset, weighting).name),
                          list(multinet_pp.TASK_CHANNELS), offset=0.1 * index)
    rng = np.random.default_rng(0)
    for label, name_of in multinet_pp.FIG5_COLUMNS.items():
        folder = plan.run_dir(name_of("kitti"))
        os.makedirs(folder, exist_ok=True)
        np.savez(os.path.join(folder, "samples.npz"), image=rng.uniform(0, 255, (2, 32, 48, 3)),
                 **{"pred/segmentation": rng.integers(0, 20, (2, 32, 48)),
                    "true/segmentation": rng.integers(0, 20, (2, 32, 48))})
    figures = dict(multinet_pp.FIGURES)
    assert list(figures) == ["fig3", "fig4", "fig5"]
    for key in figures:
        path = figures[key](plan, str(tmp_path / f"{key}.png"))
        with Image.open(path) as image:
            width, height = image.size
        assert width > 300 and height > 200, key
    assert figures["fig3"].__doc__.count("Cityscapes") and figures["fig5"].__doc__.count("KITTI")
    assert list(multinet_pp.FIG5_COLUMNS) == ["1-Task", "Equal Weights", "GLS", "MultiNet++"]


def test_novosel_table2_and_4_read_the_official_scores_of_the_best_run():
    results = {name: {"segmentation/miou": 0.3, "cityscapes/class_miou": 0.31, "cityscapes/class_iiou": 0.2,
                      "cityscapes/category_miou": 0.7, "cityscapes/category_iiou": 0.5}
               for names in selfsup.TABLE2_ROWS.values() for name in names}
    best = selfsup.TABLE2_ROWS["Best"][5]
    results[best] = {**results[best], "segmentation/miou": 0.4, "cityscapes/class_miou": 0.45}
    statuses = {name: "done" for name in results}
    table2 = render(next(t for t in selfsup.TABLES if t.key == "table2"), results, statuses, [])
    assert table2["rows"][1][1:] == ["0.45 (0.60)", "0.20 (0.31)", "0.70 (0.84)", "0.50 (0.65)"]
    table4 = render(next(t for t in selfsup.TABLES if t.key == "table4"), results, statuses, [])
    rows = {row[0]: row[1:] for row in table4["rows"]}
    assert rows["PSPNet"] == ["(0.78)", "(0.74)"] and rows["SegNet"] == ["(0.56)", ""]
    assert rows["Ours - Best"] == ["not public (0.60)", "0.45 (0.64)"]
    assert selfsup.COLUMNS["Sem. mIOU"] == "segmentation/miou"
    table1 = next(t for t in selfsup.TABLES if t.key == "table1")
    assert table1.rows[0].cells[0].metric == "cityscapes/class_miou"  # Cityscapes: as the official evaluation


def test_novosel_single_task_runs_print_the_text_scores():
    table = next(t for t in selfsup.TABLES if t.key == "table1_text")
    names = {cell.experiment for row in table.rows for cell in row.cells if cell.experiment}
    assert len(names) == 4
    for name in names:
        experiment = next(e for e in selfsup.EXPERIMENTS if e.name == name)
        assert len(experiment.builder_options["tasks"]) == 1 and experiment.dataset == "cityscapes"
    assert papers.Selection(("selfsup",), "table1").tables()[1].key == "table1_text"
    assert papers.table_keys("selfsup") == ["table1", "table2", "table3", "table4"]


def test_test_split_predictions_are_written_in_the_submission_format(tmp_path):
    import models
    from tests.data_trees import cityscapes_tree

    cityscapes_tree(tmp_path / "cityscapes", counts={"train": 2, "val": 2, "test": 3}, size=(64, 96))
    sources = DataSources({"cityscapes": str(tmp_path / "cityscapes")}, str(tmp_path / "synthetic"))
    settings = runner.Settings(out=str(tmp_path / "out"), sources=sources, quick=True, progress=False,
                               image_size=(64, 96))
    plan = runner.Plan(papers.all_experiments(), settings)
    baseline = selfsup.TABLE2_ROWS["Baseline (SSImageNet)"][0]
    model = models.build_selfsup(tasks=("segmentation",), input_shape=(64, 96, 3), backbone="resnet10")
    os.makedirs(plan.run_dir(baseline))
    model.save(os.path.join(plan.run_dir(baseline), "model.keras"))
    out = selfsup.write_test_submission(plan, str(tmp_path / "out" / "selfsup"), {baseline: {"segmentation/miou": 0.5}})
    written = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, files in os.walk(out) for f in files)
    assert "README.md" in written and "baseline/RUN.txt" in written
    pngs = [path for path in written if path.endswith("_leftImg8bit.png")]
    assert len(pngs) == 3 and all(path.startswith("baseline/") for path in pngs)
    from PIL import Image

    with Image.open(os.path.join(out, pngs[0])) as image:
        assert image.size == (96, 64) and image.mode == "L"  # the image's own resolution, labelIds
        assert set(np.unique(np.asarray(image))) <= {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                                       31, 32, 33}
    readme = open(os.path.join(out, "README.md")).read()
    assert "Best: not written: its runs have not finished" in readme
    # synthetic Cityscapes has no test split: the README says so instead of failing
    synthetic = runner.Plan(papers.all_experiments(), runner.Settings(
        out=str(tmp_path / "s"), sources=DataSources({}, str(tmp_path / "synthetic"), synthetic_num=6), quick=True))
    out = selfsup.write_test_submission(synthetic, str(tmp_path / "s"), {baseline: {"segmentation/miou": 0.5}})
    assert "no Cityscapes test split" in open(os.path.join(out, "README.md")).read()


def test_handcrafted_weights_are_computed_by_eq_4_and_shown_beside_the_papers():
    experiment = task_weighting.experiment("cityscapes", "Handcrafted task weighting")
    assert experiment.weighting == "handcrafted"
    assert experiment.weighting_options == {"reference_task": "detection", "warmup_steps": 10}
    table1 = next(t for t in task_weighting.TABLES if t.key == "table1")
    column = table1.columns.index("Handcrafted task weighting")
    row = next(r for r in table1.rows if r.labels == ("Cityscapes", "ws"))
    assert row.cells[column].experiment == experiment.name and row.cells[column].paper == 40
    assert row.cells[column].metric == "weights/segmentation"
    from losses import weighting

    strategy = weighting.get("handcrafted", ["segmentation", "detection"], reference_task="detection",
                             warmup_steps=2)
    for seg, det in ((0.5, 20.0), (1.5, 20.0), (9.0, 1.0)):  # weights from the first two batches only
        strategy.combine({"segmentation": seg, "detection": det})
    assert strategy.task_weights["segmentation"] == pytest.approx(40.0 / 2.0)


def test_woodscape_leang_split_is_60_20_20(tmp_path):
    from data.readers import get_reader
    from tests.data_trees import woodscape_tree

    woodscape_tree(tmp_path, count=10)
    reader = get_reader("woodscape", str(tmp_path), split_scheme="leang")
    parts = {split: [e.name for e in reader.list_examples(split, ["segmentation"])] for split in reader.splits}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert len(set(sum(parts.values(), []))) == 10
    assert task_weighting.DATA_OPTIONS["woodscape"] == {"split_scheme": "leang"}
    with pytest.raises(ValueError, match="split_scheme"):
        get_reader("woodscape", str(tmp_path), split_scheme="official")
    assert paper_numbers.paper_number("task_weighting", "table1", "WoodScape", "ws", "Handcrafted task weighting") == 100


def test_a_full_budget_run_without_imagenet_weights_stops_unless_random_init_is_allowed(tmp_path, monkeypatch,
                                                                                       capsys):
    from models import pretrained

    asked = []

    def offline(backbone):
        asked.append(backbone)
        raise pretrained.PretrainedWeightsUnavailable(f"no {backbone} file (offline); put it in the Keras cache")

    monkeypatch.setattr(pretrained, "fetch_imagenet", offline)
    reproduced = []
    monkeypatch.setattr(papers, "reproduce", lambda *args, **kwargs: reproduced.append(args) or ({}, {}))
    argv = ["auxnet", "--table", "2", "--out", str(tmp_path)]
    assert cli.main(argv) == 2 and asked == ["resnet50"] and not reproduced
    error = capsys.readouterr().err
    assert "resnet50: no resnet50 file (offline)" in error and "--allow-random-init" in error
    assert cli.main(argv + ["--allow-random-init"]) == 0 and len(reproduced) == 1
    asked.clear()
    assert cli.main(argv + ["--quick"]) == 0 and asked == []  # --quick downloads nothing: today's note instead
