"""Leang et al.'s evolutionary meta-learning (training/evolution.py, training/meta_learning.py): optima of analytic
objectives, the tabu list, seeds, resume after a kill, failed candidates, Ray with two workers. The search through
real training runs end to end in tests/test_reproduce.py::test_task_weighting_table1_quick_end_to_end."""
import json
import math
import os
import sys
import time

import numpy as np
import pytest

from training import evolution, meta_learning
from training.executors import RayExecutor, connect_ray

LEANG_RANGES = {"segmentation": (0.1, 1000), "detection": (0.1, 100)}
CONTINUOUS = evolution.SearchSpace((evolution.Variable("a", 0.1, 1000), evolution.Variable("b", 0.1, 100)))
MIXED = evolution.SearchSpace(CONTINUOUS.variables + (evolution.Variable("f", 1, 10, "linear", integer=True),))
OPTIMUM = {"a": 1.5, "b": 0.3, "f": 7}  # log10 a, log10 b, and the integer


def log_distance(values):
    return math.hypot(math.log10(values["a"]) - OPTIMUM["a"], math.log10(values["b"]) - OPTIMUM["b"])


class Analytic:
    """-(distance to the optimum in decades)^2, minus a penalty per frequency step away from 7."""

    def __init__(self, fail=(), nan=(), interrupt_at=None):
        self.calls, self.fail, self.nan, self.interrupt_at = [], set(fail), set(nan), interrupt_at

    def __call__(self, candidate):
        if candidate.index == self.interrupt_at:
            raise KeyboardInterrupt  # what a kill looks like to the search: nothing after the last save
        self.calls.append(candidate.index)
        if candidate.index in self.fail:
            raise RuntimeError("diverged")
        values = candidate.values
        fitness = -log_distance(values) ** 2 - 0.05 * (values.get("f", 7) - 7) ** 2
        return {"fitness": float("nan") if candidate.index in self.nan else fitness,
                "metrics": {"distance": log_distance(values)}, "checkpoint": None}


def run(folder, space=CONTINUOUS, evaluate=None, executor=None, **options):
    return meta_learning.search(evaluate or Analytic(), space, str(folder), evolution.EvolutionOptions(**options),
                                executor=executor, progress=False, echo=lambda line: None, figures=False)


def history(state):
    return [(r["index"], r["generation"], r["unit"], r["status"], r["fitness"]) for r in state["records"]]


# ----------------------------------------------------------------------------------------- the space
def test_task_weight_space_as_the_paper():
    space = evolution.task_weight_space(LEANG_RANGES, (1, 10))
    assert space.names == ("weight/segmentation", "weight/detection", "frequency/segmentation",
                           "frequency/detection")
    low = space.decode([0.0, 0.0, 0.0, 0.0])
    assert low["weight/segmentation"] == pytest.approx(0.5) and low["frequency/detection"] == 1
    high = space.decode([1.0, 0.0, 1.0, 0.44])  # 1000 vs 0.1, normalised; 1 + 0.44 * 9 = 4.96 rounds to 5
    assert high["weight/segmentation"] == pytest.approx(1000 / 1000.1) and high["frequency/segmentation"] == 10
    assert high["frequency/detection"] == 5 and isinstance(high["frequency/detection"], int)
    middle = space.decode([0.5, 0.5, 0.5, 0.5])  # 10^1 and 10^0.5: on the log10 scale, not linear
    assert middle["weight/segmentation"] / middle["weight/detection"] == pytest.approx(10 / 10 ** 0.5)
    # equal raw weights give equal normalised weights, so equal signatures: the tabu list sees one configuration
    a = space.signature([evolution.Variable("", 0.1, 1000).encode(10), evolution.Variable("", 0.1, 100).encode(10),
                         0.3, 0.3])
    b = space.signature([evolution.Variable("", 0.1, 1000).encode(1), evolution.Variable("", 0.1, 100).encode(1),
                         0.3, 0.3])
    assert np.allclose(a, b)
    assert evolution.SearchSpace.from_config(space.get_config()) == space
    with pytest.raises(ValueError, match="low < high"):
        evolution.Variable("w", 10, 1)


# ----------------------------------------------------------------------------------------- convergence
@pytest.mark.parametrize("seed", range(4))
def test_finds_a_continuous_optimum_within_a_tenth_and_a_half_decade_in_48_evaluations(tmp_path, seed):
    state = run(tmp_path, max_evaluations=48, seed=seed)
    assert len(state["records"]) == 48
    assert log_distance(meta_learning.best_evaluation(state)["values"]) < 0.15


@pytest.mark.parametrize("seed", range(4))
def test_finds_a_mixed_optimum_with_the_exact_integer_in_64_evaluations(tmp_path, seed):
    state = run(tmp_path, MIXED, max_evaluations=64, seed=seed)
    best = meta_learning.best_evaluation(state)["values"]
    assert best["f"] == 7 and log_distance(best) < 0.3


def test_the_search_beats_its_own_initial_population(tmp_path):
    state = run(tmp_path, max_evaluations=24)
    initial = max(r["fitness"] for r in state["records"] if r["generation"] == 0)
    assert meta_learning.best_evaluation(state)["fitness"] > initial


# ----------------------------------------------------------------------------------------- tabu, seeds
def test_the_tabu_list_rejects_candidates_close_to_evaluated_ones():
    options = evolution.EvolutionOptions(sigma=0.01, min_sigma=0.01, tabu_radius=0.05, seed=3)
    strategy = evolution.EvolutionStrategy(CONTINUOUS, options)
    # an elite crowded around one point: children drawn with the small mutation would land on top of it
    evaluations = [{"unit": [0.5 + 0.01 * i, 0.5], "fitness": -float(i), "generation": 0} for i in range(4)]
    proposals = strategy.propose(1, evaluations)
    assert strategy.tabu_rejections > 0
    taken = [CONTINUOUS.signature(e["unit"]) for e in evaluations]
    for unit in proposals:
        signature = CONTINUOUS.signature(unit)
        assert all(np.max(np.abs(signature - other)) >= options.tabu_radius for other in taken)
        taken.append(signature)  # nor close to another candidate of the same generation


def test_the_same_seed_gives_the_same_candidates_and_another_seed_others(tmp_path):
    first, second = run(tmp_path / "a", max_evaluations=12, seed=5), run(tmp_path / "b", max_evaluations=12, seed=5)
    assert history(first) == history(second)
    other = run(tmp_path / "c", max_evaluations=12, seed=6)
    assert [r["unit"] for r in other["records"]] != [r["unit"] for r in first["records"]]


# ----------------------------------------------------------------------------------------- resume, failures
def test_a_killed_search_resumes_with_the_same_history_and_never_reruns_a_candidate(tmp_path):
    whole = run(tmp_path / "whole", MIXED, max_evaluations=16, seed=2)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", MIXED, evaluate=Analytic(interrupt_at=6), max_evaluations=16, seed=2)
    saved = meta_learning.read_state(tmp_path / "killed")
    assert [r["status"] for r in saved["records"]] == ["done"] * 6 + ["pending"] * 2  # generation 1 half done
    resumed_evaluate = Analytic()
    resumed = run(tmp_path / "killed", MIXED, evaluate=resumed_evaluate, max_evaluations=16, seed=2)
    assert resumed_evaluate.calls == list(range(6, 16))
    assert history(resumed) == history(whole)
    assert not [name for name in os.listdir(tmp_path / "killed") if ".tmp" in name]
    with pytest.raises(meta_learning.SearchError, match="other options"):
        run(tmp_path / "killed", MIXED, max_evaluations=20, seed=2)


def test_failed_and_nan_candidates_get_the_worst_fitness_and_the_search_goes_on(tmp_path):
    evaluate = Analytic(fail={1}, nan={2})
    state = run(tmp_path, evaluate=evaluate, max_evaluations=8)
    records = state["records"]
    assert records[1]["status"] == "failed" and records[1]["reason"] == "RuntimeError: diverged"
    assert records[2]["status"] == "failed" and records[2]["reason"] == "fitness is nan"
    assert len(records) == 8 and state["best"] not in (1, 2)
    with open(tmp_path / "evaluations.csv") as handle:
        rows = handle.read().splitlines()
    assert len(rows) == 9 and "diverged" in rows[2] and rows[0].startswith("index,generation,status,fitness,a,b")
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["index"] == state["best"] and set(best["values"]) == {"a", "b"}
    assert (tmp_path / "fitness.png").stat().st_size > 0 and (tmp_path / "weights.png").stat().st_size > 0
    with pytest.raises(meta_learning.SearchError, match="every candidate failed"):
        run(tmp_path / "all", evaluate=Analytic(fail=range(4)), max_evaluations=4)


def test_checkpoints_that_cannot_be_a_start_any_more_are_deleted(tmp_path):
    class WithCheckpoints(Analytic):
        def __call__(self, candidate):
            result = super().__call__(candidate)
            path = os.path.join(candidate.folder, f"checkpoint-{candidate.index}")
            with open(path, "w") as handle:
                handle.write(str(candidate.start_from))
            return {**result, "checkpoint": path}

    state = run(tmp_path, evaluate=WithCheckpoints(), max_evaluations=12)
    kept = sorted(name for name in os.listdir(tmp_path) if name.startswith("checkpoint-"))
    assert kept == [f"checkpoint-{state['best']}"]
    for record in state["records"]:  # each generation fine-tunes the best before it
        before = [r for r in state["records"] if r["generation"] < record["generation"]]
        expected = max(before, key=lambda r: (r["fitness"], -r["index"]))["index"] if before else None
        assert record["start_from"] == expected


# ----------------------------------------------------------------------------------------- Ray
class Timed(Analytic):
    """Sleeps, and reports the worker's process id and when it ran; its first attempt of candidate 2 kills its
    worker (Ray retries it once), and candidate 3 kills every worker it runs on."""

    def __init__(self, marker_folder):
        super().__init__()
        self.marker_folder = marker_folder

    def __call__(self, candidate):
        started = time.time()
        marker = os.path.join(self.marker_folder, f"attempt-{candidate.index}")
        if candidate.index == 3 or (candidate.index == 2 and not os.path.exists(marker)):
            open(marker, "w").close()
            os._exit(1)
        time.sleep(1.0)
        result = super().__call__(candidate)
        return {**result, "metrics": {"pid": os.getpid(), "start": started, "end": time.time()}}


@pytest.fixture
def local_ray():
    import ray
    from ray import cloudpickle

    ray.shutdown()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    connect_ray(num_cpus=2)
    yield
    ray.shutdown()


def test_candidates_run_concurrently_on_local_ray_with_two_workers(tmp_path, local_ray):
    state = run(tmp_path, evaluate=Timed(str(tmp_path)), executor=RayExecutor(resources={"num_cpus": 1}),
                max_evaluations=6, initial_population=2, offspring=2, parents=2)
    records = state["records"]
    first, second = records[0]["metrics"], records[1]["metrics"]
    assert first["pid"] != second["pid"]
    assert first["start"] < second["end"] and second["start"] < first["end"]  # at the same time
    assert records[2]["status"] == "done"  # its worker died once: Ray ran it again
    assert records[3]["status"] == "failed" and "worker process died" in records[3]["reason"]
    assert [r["status"] for r in records[4:]] == ["done", "done"]
    # Ray or in-process, the same seed proposes the same candidates
    in_process = run(tmp_path / "in_process", evaluate=Analytic(fail={3}), max_evaluations=6, initial_population=2,
                     offspring=2, parents=2)
    assert [r["unit"] for r in in_process["records"]] == [r["unit"] for r in records]


def test_executor_resources_default_to_one_run_per_gpu_or_per_cpu_node(local_ray):
    from training.executors import run_resources

    assert run_resources() == {"num_cpus": 2}  # this CPU-only local instance: one candidate at a time
    assert RayExecutor().resources is None
