"""python -m reproduce: experiments train, tables render with every paper cell, the cache, resume, determinism,
failures and bad command lines. One table runs end to end at 224x384 with --quick (test_auxnet_table2_quick)."""
import json
import math
import os

import numpy as np
import pytest

from reproduce import __main__ as cli
from reproduce import lifecycle, meta_search, multinet_pp, papers, paper_numbers, recipe, runner
from reproduce.datasets import DataSources
from reproduce.experiment import Experiment
from reproduce.tables import format_number
from tests.fixtures import worker_checks

TINY = (64, 96)


def _settings(tmp_path, **options):
    sources = DataSources({}, str(tmp_path / "synthetic"), synthetic_num=8)
    defaults = dict(out=str(tmp_path), sources=sources, quick=True, image_size=TINY, progress=False)
    return runner.Settings(**{**defaults, **options})


# ----------------------------------------------------------------------------------------- every experiment
def test_every_experiment_builds_and_trains_one_step():
    import keras

    from benchmarks.train import fixed_batch

    # experiments that differ only in data, budget or initialisation share a model and a training step; those
    # that differ only in weighting share a model, compiled once per weighting
    models_by_key = {}
    for experiment in papers.all_experiments():
        if experiment.search is not None:
            continue  # its candidates train in test_task_weighting_table1_quick_end_to_end
        model_key = json.dumps([experiment.builder, experiment.builder_options], sort_keys=True)
        step_key = json.dumps([experiment.weighting, experiment.weighting_options, experiment.losses], sort_keys=True)
        models_by_key.setdefault(model_key, {}).setdefault(step_key, experiment)
    steps = 0
    for variants in models_by_key.values():
        model = runner.build_model(next(iter(variants.values())), "random", TINY)
        inputs = {name: np.random.uniform(0, 255, (2,) + TINY + (3,)).astype("float32")
                  for name in ("image", "previous_image", "depth_image")
                  if name in [t.name for t in keras.tree.flatten(model.input)]}
        for experiment in variants.values():
            model.compile(optimizer=keras.optimizers.Adam(experiment.learning_rate), weighting=experiment.weighting,
                          weighting_options=experiment.weighting_options or None,
                          loss=runner.loss_overrides(experiment) or None, run_eagerly=True)
            logs = model.train_on_batch(inputs, fixed_batch(model, 2)[1], return_dict=True)
            assert np.isfinite(logs["loss"]), experiment.name
            steps += 1
    assert steps > 20 and len(models_by_key) > 10


# ----------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize("paper", papers.PAPERS)
def test_every_table_renders_every_paper_cell(paper):
    printed_tables = {key[1] for key in paper_numbers.PAPER_NUMBERS if key[0] == paper}
    assert printed_tables <= {table.key for table in papers.module(paper).TABLES}
    for table in papers.module(paper).TABLES:
        from reproduce.tables import render

        rendered = render(table, {}, {}, ["header"])
        assert len(rendered["columns"]) == len(table.label_columns) + len(table.columns)
        cells = {}
        for row, rendered_row in zip(table.rows, rendered["rows"]):
            for column, cell, text in zip(table.columns, row.cells, rendered_row[len(row.labels):]):
                cells[(row.labels, column)] = (cell, text)
        printed = {key: value for key, value in paper_numbers.PAPER_NUMBERS.items()
                   if key[:2] == (paper, table.key)}
        assert printed, (paper, table.key)
        counts = paper == "multinet_pp" and table.key == "table2"  # computed now, beside the printed "23.77M"
        for (_, _, section, row, column), value in printed.items():
            labels = (section, row) if len(table.label_columns) == 2 else (row,)
            assert (labels, column) in cells, (paper, table.key, labels, column)
            cell, text = cells[(labels, column)]
            if counts and value != paper_numbers.DASH:
                printed_text = dict(zip(multinet_pp.PARAMETER_COLUMNS, paper_numbers.MULTINET_PP_TABLE2_PRINTED[row]))
                assert cell.paper == printed_text[column] and text.endswith(f"({printed_text[column]})")
                assert paper_numbers._suffixed(cell.paper) == value
                continue
            assert cell.paper == value, (paper, table.key, labels, column)
            if value == paper_numbers.DASH:
                assert text == "-"
            else:
                assert text.endswith(f"({format_number(value, cell.digits if isinstance(value, float) else 0)})")
                assert text.startswith(("not run", "n/a", "-", "not measured", "not public")) or (
                    cell.text == "" and text.startswith("(")), (paper, table.key, labels, column)


def test_meta_learning_columns_are_searches_with_the_papers_settings():
    task_weighting = papers.module("task_weighting")
    searches = [e for e in task_weighting.EXPERIMENTS if e.search is not None]
    assert len(searches) == 6  # 3 datasets x (weights, weights + async frequencies)
    for experiment in searches:
        assert experiment.search["weight_ranges"] == {"segmentation": [0.1, 1000.0], "detection": [0.1, 100.0]}
        assert experiment.search["options"]["initial_population"] == 4 and experiment.search["options"]["offspring"] == 4
        assert experiment.search["options"]["parents"] == 2 and experiment.epochs == 8  # IV-C's WoodScape budget
        async_backprop = experiment.weighting == "async"
        assert (experiment.search["frequency_range"] == [1, 10]) == async_backprop
        names = meta_search.space_of(experiment).names
        assert ("frequency/detection" in names) == async_backprop
    table1 = {row.labels: row for row in task_weighting.TABLES[1].rows}
    column = task_weighting.TABLES[1].columns.index("Meta-learning task weighting async backprop")
    assert table1[("KITTI", "async fd")].cells[column].metric == "frequency/detection"


# ----------------------------------------------------------------------------------------- runner
def _tiny_plan(tmp_path, epochs=1, **settings):
    experiment = Experiment("tiny-segnet", "build_multitask", "kitti",
                            {"tasks": {"segmentation": 12}, "backbone": "resnet10"}, class_set="kitti12",
                            weighting="equal", init="random", batch_size=2, epochs=epochs,
                            monitor="val_segmentation_loss")
    return runner.Plan([experiment], _settings(tmp_path, quick=False, train_images=2, val_images=2, **settings))


def test_cache_reuses_a_finished_run_and_force_retrains(tmp_path, monkeypatch):
    plan = _tiny_plan(tmp_path)
    first = runner.run(plan, "tiny-segnet")
    folder = plan.run_dir("tiny-segnet")
    for name in ("config.json", "history.csv", "metrics.json", "best.weights.h5", "model.keras", "samples.npz"):
        assert os.path.isfile(os.path.join(folder, name)), name
    assert os.path.isdir(os.path.join(folder, "tensorboard"))
    import glob

    import tensorflow as tf

    events = [tf.compat.v1.Event.FromString(record.numpy())
              for path in glob.glob(os.path.join(folder, "tensorboard", "validation", "events.out.tfevents.*"))
              for record in tf.data.TFRecordDataset(path)]
    # image panels of the validation images and the per-epoch validation mIoU, beside Keras' val_ losses
    assert {"panels/segmentation", "epoch_segmentation_miou", "epoch_segmentation_loss"} <= {
        value.tag for event in events for value in event.summary.value}
    assert plan.status("tiny-segnet") == "done"

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner, "_train_and_evaluate", no_training)
    assert runner.run(plan, "tiny-segnet") == first
    plan.settings.force = True
    with pytest.raises(runner.RunFailed, match="AssertionError"):
        runner.run(plan, "tiny-segnet")


def test_same_seed_gives_the_same_metrics_here_and_in_a_ray_worker_killed_once(tmp_path):
    import ray
    import tensorflow as tf

    from training.executors import RayExecutor, connect_ray

    tf.config.experimental.enable_op_determinism()
    first = runner.run(_tiny_plan(tmp_path / "a"), "tiny-segnet")
    # the same run in a worker of a local Ray instance, as `--ray-address local` spreads a reproduction's runs; the
    # worker is killed during its first attempt, Ray retries the run in another, which trains it from the start
    plan = _tiny_plan(tmp_path / "b")
    ray.shutdown()
    connect_ray("local", num_cpus=2)
    try:
        counts, failures = lifecycle.run_many(plan, ["tiny-segnet"], worker_checks.dies_on_first_attempt,
                                              executor=RayExecutor(resources={"num_cpus": 1}), echo=lambda line: None)
        # `python -m reproduce --import MODULE` reaches the workers: a user's task is registered there too
        plan.settings.imports, plan.settings.force = ("tests.fixtures.surface_normals",), True
        _, user_task_failures = lifecycle.run_many(plan, ["tiny-segnet"], worker_checks.user_task_is_registered,
                                                   executor=RayExecutor(resources={"num_cpus": 1}),
                                                   echo=lambda line: None)
    finally:
        ray.shutdown()
    assert user_task_failures == {}
    assert counts == {"trained": 1, "reused": 0} and failures == {}
    assert os.path.isfile(tmp_path / "b" / "worker-died-once")
    second = plan.result("tiny-segnet")
    drop = ("train_seconds", "step_seconds")  # wall clock, not results
    assert {k: v for k, v in first.items() if k not in drop} == {k: v for k, v in second.items() if k not in drop}


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    plan = _tiny_plan(tmp_path, epochs=2, progress=True)
    started_epochs = []

    class InterruptAfterFirstEpoch(runner.RunProgress):
        def on_epoch_begin(self, epoch, logs=None):
            started_epochs.append(epoch)
            if epoch == 1 and started_epochs.count(1) == 1:
                raise KeyboardInterrupt
            super().on_epoch_begin(epoch, logs)

    monkeypatch.setattr(recipe, "RunProgress", InterruptAfterFirstEpoch)
    with pytest.raises(KeyboardInterrupt):
        runner.run(plan, "tiny-segnet")
    assert plan.status("tiny-segnet") == "partial"
    assert not os.path.exists(os.path.join(plan.run_dir("tiny-segnet"), "metrics.json"))
    runner.run(plan, "tiny-segnet")
    assert started_epochs == [0, 1, 1]  # the second invocation started at epoch 1, not 0
    epochs = [row["epoch"] for row in runner.read_history(os.path.join(plan.run_dir("tiny-segnet"), "history.csv"))]
    assert epochs == ["0", "1"]
    assert plan.status("tiny-segnet") == "done"


def test_a_failing_run_is_recorded_and_reported_in_its_cells(tmp_path):
    experiment = Experiment("bad-classes", "build_segnet", "synthia", {"num_classes": 12, "backbone": "resnet10"},
                            class_set="kitti12", init="random", epochs=1, batch_size=2)
    bad = Experiment("bad-set", "build_segnet", "woodscape", {"num_classes": 12, "backbone": "resnet10"},
                     class_set="kitti12", init="random", epochs=1, batch_size=2)
    plan = runner.Plan([experiment, bad], _settings(tmp_path))
    with pytest.raises(runner.RunFailed, match="no mapping for dataset 'woodscape'"):
        runner.run(plan, "bad-set")
    assert plan.status("bad-set").startswith("failed: ValueError: class set 'kitti12' has no mapping")
    from reproduce.tables import Cell, cell_text

    assert cell_text(Cell("bad-set", "segmentation/miou", 74.5), {}, {"bad-set": plan.status("bad-set")}).startswith(
        "failed: ValueError")


def test_a_png_corrupted_in_the_middle_fails_with_its_name(tmp_path):
    plan = _tiny_plan(tmp_path)
    tree = plan.settings.sources.reader("kitti")[0].root
    folder = os.path.join(tree, "training", "image_2")
    for name in os.listdir(folder):
        if name.endswith("_10.png"):  # every left frame, so whichever the run reads first is broken
            path = os.path.join(folder, name)
            payload = bytearray(open(path, "rb").read())
            middle = len(payload) // 2
            payload[middle:middle + 64] = bytes(64)  # the header and IEND stay intact
            open(path, "wb").write(bytes(payload))
    with pytest.raises(runner.RunFailed, match=r"unreadable image .*image_2/\d{6}_10\.png"):
        runner.run(plan, "tiny-segnet")


# ----------------------------------------------------------------------------------------- command line
@pytest.mark.parametrize("argv, message", [
    (["nope"], "invalid choice: 'nope'"),
    (["auxnet", "--table", "7"], "auxnet has tables 1, 2"),
    (["all", "--table", "1"], "--table needs one paper"),
    (["auxnet", "--data-root", "kitti"], "is not NAME=DIR"),
    (["auxnet", "--data-root", "imagenet=/tmp"], "unknown dataset 'imagenet'"),
    (["auxnet", "--data-root", "kitti=/does/not/exist"], "does not exist"),
    (["auxnet", "--data-root", "kitti=."], "lacks training/image_2/"),
    (["auxnet", "--epochs", "0"], "must be at least 1"),
])
def test_bad_command_lines_exit_2_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_list_shows_every_run_of_the_selection_with_its_status(tmp_path, capsys):
    assert cli.main(["auxnet", "--table", "1", "--list", "--quick", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 10 and all(line.startswith("to run") for line in lines)
    assert any("auxnettwb-kitti" in line for line in lines)


def test_task_weighting_table1_quick_end_to_end(tmp_path, capsys):
    """The cheapest real table (6 runs of ResNet-10 detection + segmentation at 224x384 on three synthetic
    datasets, KITTI's two-set training included, and 6 meta-learning searches of 2 generations of 2 candidates
    on a local Ray instance); `auxnet --quick` is the README's quick start."""
    out = tmp_path / "results"
    argv = ["task_weighting", "--table", "1", "--quick", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    assert "scene/s" not in capsys.readouterr().err  # --no-progress: no bar while the synthetic trees are written
    table = json.loads((out / "task_weighting" / "table1.json").read_text())
    assert [row[:2] for row in table["rows"]] == [[section, weight] for section in ("KITTI", "Cityscapes", "WoodScape")
                                                  for weight in ("ws", "wd", "async fs", "async fd")]
    no_weighting = table["columns"].index("No task weighting")
    handcrafted = table["columns"].index("Handcrafted task weighting")
    assert table["rows"][0][no_weighting] == "1.0000 (1)"  # equal weighting: d total / d L_seg = 1
    # eq. 4 on our own losses (L_det / L_seg of the first batches), beside the paper's 70; w_det stays 1
    assert table["rows"][0][handcrafted].endswith(" (70)") and float(table["rows"][0][handcrafted].split()[0]) > 0
    assert table["rows"][1][handcrafted] == "1.0000 (1)"
    # the meta-learning columns: a search of 2 + 2 candidates per dataset, through Ray and the real training
    for column in ("Meta-learning task weighting", "Meta-learning task weighting async backprop"):
        index = table["columns"].index(column)
        weights = [float(row[index].split()[0]) for row in table["rows"] if row[1] in ("ws", "wd")]
        assert len(weights) == 6 and all(0 < w < 1 for w in weights)
        assert all(abs(ws + wd - 1) < 1e-3 for ws, wd in zip(weights[::2], weights[1::2]))  # normalised
    frequencies = [row[-1] for row in table["rows"] if row[1].startswith("async")]
    assert all(1 <= int(f.split()[0]) <= 10 for f in frequencies)
    assert all(row[-2].startswith("-") for row in table["rows"] if row[1].startswith("async"))
    search_dirs = [d for d in os.listdir(out / "runs") if d.startswith("detseg-meta-")]
    assert len(search_dirs) == 6
    for folder in search_dirs:
        for name in ("evaluations.csv", "fitness.png", "weights.png", "best.json", "metrics.json"):
            assert (out / "runs" / folder / name).is_file(), (folder, name)
        state = json.loads((out / "runs" / folder / "search_state.json").read_text())
        assert [r["generation"] for r in state["records"]] == [0, 0, 1, 1]
        assert all(r["start_from"] == state["records"][0]["start_from"] for r in state["records"][:2])
        assert {r["start_from"] for r in state["records"][2:]} <= {0, 1}  # generation 1 fine-tunes the best
    assert any("SYNTHETIC" in line for line in table["header"]) and any("--quick" in l for l in table["header"])
    for suffix in (".md", ".csv", "_scores.csv"):
        assert (out / "task_weighting" / f"table1{suffix}").is_file()
    assert "Leang et al. Table I" in (out / "report.html").read_text()
    assert not [name for _, _, names in os.walk(out) for name in names if ".tmp" in name]
    capsys.readouterr()
    assert cli.main(argv) == 0  # everything is cached now
    assert "0 runs trained, 12 reused" in capsys.readouterr().out
    # Table II's meta-learning columns read the same searches (the other columns were not run here)
    settings = runner.Settings(out=str(out), sources=DataSources({}, str(out / "synthetic"), synthetic_num=12),
                               quick=True, progress=False)
    selection = papers.Selection(("task_weighting",), "table2")
    papers.write_outputs(selection, runner.Plan(papers.all_experiments(), settings), "test")
    table2 = json.loads((out / "task_weighting" / "table2.json").read_text())
    for column in ("Meta-learning task weighting", "Meta-learning task weighting async backprop"):
        index = table2["columns"].index(column)
        assert all(row[index][0].isdigit() for row in table2["rows"]), [row[index] for row in table2["rows"]]
    uncertainty = table2["columns"].index("Uncertainty weighting")
    assert all(row[uncertainty].startswith("not run") for row in table2["rows"])


def test_ray_address_hands_the_selection_to_the_executor_and_writes_the_tables_once(tmp_path, monkeypatch):
    from reproduce import papers
    from reproduce import runner as runner_module

    seen, written = {}, []

    def fake_run_many(plan, order, keep_init=(), labels=None, executor=None, echo=print):
        seen.update(order=list(order), executor=executor, labels=labels)
        return {"trained": len(order), "reused": 0}, {}

    monkeypatch.setattr(papers, "run_many", fake_run_many)
    monkeypatch.setattr(papers, "write_outputs", lambda *args, **kwargs: written.append(args))
    monkeypatch.setattr(runner_module, "ray_executor", lambda plan, address, whole_node=False: f"ray at {address}")
    argv = ["auxnet", "--table", "2", "--quick", "--out", str(tmp_path), "--ray-address", "head:6379", "--no-progress"]
    assert cli.main(argv) == 0
    assert seen["executor"] == "ray at head:6379" and len(written) == 1
    assert len(seen["order"]) == 12 and set(seen["labels"]) == set(seen["order"])


def test_multinet_table2_computes_every_column_and_marks_what_the_paper_prints_otherwise():
    from reproduce.tables import render

    table = next(t for t in multinet_pp.TABLES if t.key == "table2")
    rendered = render(table, {}, {}, [])
    cells = {(row[0], column): text for row in rendered["rows"] for column, text in zip(table.columns, row[1:])}
    assert cells[("1-Task Segmentation", "SYNTHIA Params")] == "23,683,054 (23.68M)"  # 13 classes, as AuxNet's SegNet
    assert cells[("Seg+Depth / 1-Frame", "SYNTHIA Segmentation")] == "95,342 (95.34K)"
    assert cells[("3-Task / 2-Frames", "Motion")] == "15,500 (15.50K)"
    assert cells[("3-Task / 1-Frame", "SYNTHIA Depth")] == "-"
    differing = {key for key, text in cells.items() if "≠" in text}
    # the paper's SYNTHIA 1-task decoder is the 2-frame one's 0.14M; its Seg+Depth 2-frame total 0.01M above ours
    assert differing == {("1-Task Segmentation", "SYNTHIA Segmentation"), ("Seg+Depth / 2-Frames", "Params")}


def test_every_run_keeps_the_hash_main_gave_it_so_existing_caches_are_reused():
    """tests/fixtures/run_ids_949b731.json: the run folder (experiment-hash) of every experiment of every paper, with
    and without --quick, as main at 949b731 named them (before the runner was split into plan / lifecycle / recipe
    and tasks/ took over the per-task code). A results folder written then is found, not retrained."""
    import json

    with open(os.path.join(os.path.dirname(__file__), "fixtures", "run_ids_949b731.json")) as handle:
        recorded = json.load(handle)
    for quick, key in ((True, "quick"), (False, "full")):
        settings = runner.Settings(out="unused", sources=DataSources({}, "unused", 12 if quick else 200), quick=quick)
        plan = runner.Plan(papers.all_experiments(), settings)
        assert {name: plan.run_id(name) for name in sorted(plan.experiments)} == recorded[key]


def test_estimate_times_each_network_once_and_counts_the_full_budgets_images(tmp_path):
    from types import SimpleNamespace

    from reproduce.estimate import estimate

    base = dict(builder="build_multitask", dataset="kitti", builder_options={"tasks": {"segmentation": 12},
                "backbone": "resnet10"}, class_set="kitti12", init="random", batch_size=2, epochs=3)
    plan = runner.Plan([Experiment("equal", **base, weighting="equal"), Experiment("gls", **base, weighting="gls")],
                       _settings(tmp_path, quick=False))
    reader, split = plan.settings.sources.reader("kitti", "train")
    train_images = len(reader.list_examples(split, ["segmentation"], 1))
    lines = []
    timings = estimate(SimpleNamespace(experiments=lambda: ["equal", "gls"]), plan.settings, 50.0, lines.append,
                       plan=plan)
    (timing,) = timings.values()  # the weighting strategy does not make another network
    assert timing.runs == 2 and timing.images == 2 * 3 * math.ceil(train_images / 2) * 2
    assert timing.seconds_per_image > 0
    assert lines[0].startswith("2 runs to train (0 finished") and lines[-1].startswith(f"total: 2 runs, {timing.images:,}")
    assert "hours at 50 images/s" in lines[-1]


def test_publish_puts_a_papers_latest_tables_on_its_page_and_names_the_missing_ones(tmp_path):
    from reproduce import publish, tables

    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "auxnet.md"
    page.write_text(f"# AuxNet\n\nintro\n\n{publish.START}\nold tables\n{publish.END}\n\nafter\n")
    table = papers.module("auxnet").TABLES[0]
    tables.write_table(str(tmp_path / "results" / "auxnet"), table, {}, {}, {}, ["Commit: abc1234"])
    publish.publish("auxnet", str(tmp_path / "results"), docs=str(docs))
    text = page.read_text()
    assert "old tables" not in text and text.startswith("# AuxNet\n\nintro") and text.endswith("after\n")
    assert f"### {table.title}" in text and "- Commit: abc1234" in text and "| SegNet |" in text
    assert "Not computed in" in text and "table2" in text.split("Not computed in")[1]
    for paper in papers.PAPERS:  # every paper's page has the block publish fills
        assert publish.START in open(os.path.join(publish.DOCS, f"{paper}.md")).read()


# ----------------------------------------------------------------------------------------- mtl_benchmark
def test_mtl_benchmark_repeats_every_strategy_over_seeds_and_shares_the_papers_runs(tmp_path):
    from losses import weighting
    from reproduce import mtl_benchmark

    selection = papers.Selection(("mtl_benchmark",), None, {"seeds": 2, "datasets": ["kitti"]})
    plan = selection.plan(_settings(tmp_path, quick=True, image_size=(224, 384)))
    names = selection.experiments()
    assert len(names) == len(set(names)) == 2 * (26 + 3) + 2 * (27 + 2)
    for setting in ("multinet_pp", "leang"):  # every strategy but the search and fixed; weight_learning: 2 tasks
        expected = set(weighting.NAMES) - {"fixed", "product"} - ({"weight_learning"} if setting == "multinet_pp"
                                                                 else set())
        assert set(mtl_benchmark.methods(setting)) == expected
    # seed 0 is the papers' own run (same hash: trained once for both), seed 1 another run
    table4_equal = multinet_pp.three_task("kitti", "equal")
    assert plan.run_id(table4_equal.name) == runner.Plan(papers.all_experiments(), plan.settings).run_id(
        table4_equal.name)
    assert plan.seed(f"{table4_equal.name}-seed1") == plan.settings.seed + 1
    assert plan.run_id(f"{table4_equal.name}-seed1") != plan.run_id(table4_equal.name)
    assert plan["mtl-seg-depth-motion-mgda_ub-kitti"].weighting_options == {"mode": "representation"}
    assert plan["detseg-only-detection-kitti-seed1"].weighting_options == {"weights": {"detection": 1.0,
                                                                                       "segmentation": 0.0}}
    with pytest.raises(SystemExit):
        cli.main(["mtl_benchmark", "--datasets", "mars", "--list"])


def test_mtl_benchmark_tables_give_mean_and_std_delta_m_and_step_time(tmp_path, monkeypatch):
    """The whole command on a plan whose runs are stand-ins (each strategy's training is tested in
    tests/test_gradient_weighting.py): run_many, the tables with mean ± std over seeds, delta_m and step time."""
    from reproduce import mtl_benchmark

    def fake_run(plan, name, folder, keep_init, label):
        experiment = plan[name]
        seed = experiment.seed_offset
        single = experiment.weighting == "fixed" or len(experiment.builder_options.get("tasks", {1: 1, 2: 2})) == 1
        quality = 0.5 if single else 0.4 + 0.1 * seed  # the multi-task runs: -20 % and 0 % against the baselines
        return {"detection/map": quality, "segmentation/miou": quality, "depth/abs_rel": 1.0 / quality * 0.2,
                "depth/delta1": quality, "motion/miou": quality,
                "step_seconds": 1.0 if experiment.weighting == "equal" else 1.5 + seed}

    monkeypatch.setattr(runner, "_train_and_evaluate", fake_run)
    selection = papers.Selection(("mtl_benchmark",), "leang_kitti", {"seeds": 2, "datasets": ["kitti"]})
    counts, failures = papers.reproduce(selection, _settings(tmp_path), "test", echo=lambda line: None)
    assert failures == {} and counts["trained"] == 2 * (27 + 2)
    with open(tmp_path / "mtl_benchmark" / "leang_kitti.json") as handle:
        rendered = json.load(handle)
    assert "Beyond the papers" in rendered["title"] and "Not a table of any paper" in rendered["notes"][0]
    rows = {row[0]: row[1:] for row in rendered["rows"]}
    assert rows["single-task detection"] == ["50.00 ± 0.00", "-", "0 (reference)", "-"]
    # seeds give 40 and 50: mean 45, sample std 7.07; delta_m -20 % and 0 %: -10 ± 14.14; step 1.5x and 2.5x
    assert rows["pcgrad"] == ["45.00 ± 7.07", "45.00 ± 7.07", "-10.00 ± 14.14", "2.00 ± 0.71x"]
    assert rows["equal"][3] == "1.00 ± 0.00x"
    assert "printed value" not in (tmp_path / "mtl_benchmark" / "leang_kitti.md").read_text()  # no paper quoted
    assert (tmp_path / "report.html").is_file()
    assert mtl_benchmark.PAPER not in papers.PAPERS  # never part of `all`
