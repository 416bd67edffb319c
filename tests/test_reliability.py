"""Faults injected and survived: several processes on one results folder, a process killed while it holds a run,
a disk that fills up during a checkpoint, damaged files from before runs had one owner, failures that repeat, a
results folder from another runner version. The Ray worker killed during a run is in tests/test_reproduce.py (the
same-seed Ray test: its worker dies on the first attempt). Each uses tiny runs (ResNet-10 at 64x96, one step)."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

from common import locks
from common.atomic import DiskFullError, atomic_path
from reproduce import disk, lifecycle, runner
from tests.fixtures import tiny_reproduction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = ("tiny-a", "tiny-b", "tiny-c")


def _start(out, *options):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    return subprocess.Popen([sys.executable, "-m", "tests.fixtures.tiny_reproduction", str(out), *options], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _attempts(out, times=False):
    """[(run, pid, epochs already finished)] (with `times`, and when) in the order the processes started them; run
    "DIED" is a process's SIGKILL."""
    with open(os.path.join(out, "attempts.log")) as handle:
        rows = [(run, int(pid), int(epoch), float(when)) for run, pid, epoch, when in (line.split() for line in handle)]
    return rows if times else [row[:3] for row in rows if row[0] != "DIED"]


def _table_cells(out):
    with open(os.path.join(out, "tiny", "table1.json")) as handle:
        return {row[0]: row[1] for row in json.load(handle)["rows"]}


def _plan(out):
    return runner.Plan(tiny_reproduction.experiments(), tiny_reproduction.settings(str(out)))


def test_two_processes_on_one_folder_train_every_run_once(tmp_path):
    first, second = _start(tmp_path), _start(tmp_path)
    outputs = [process.communicate(timeout=600)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(output[-3000:] for output in outputs)
    attempts = _attempts(tmp_path)
    assert sorted(run for run, _, _ in attempts) == sorted(RUNS), attempts  # each run trained once, by one of them
    for run in RUNS:
        rows = [row["epoch"] for row in runner.read_history(os.path.join(_plan(tmp_path).run_dir(run), "history.csv"))]
        assert rows == ["0", "1"], (run, rows)  # one writer: no second header, no doubled epoch
    cells = _table_cells(tmp_path)
    assert set(cells) == set(RUNS) and not any(text.startswith(("not run", "failed")) for text in cells.values())


def test_a_run_whose_process_is_killed_is_taken_over_and_resumed_after_its_last_epoch(tmp_path):
    doomed = _start(tmp_path, "--kill-after-first-epoch")
    deadline = time.time() + 300
    while not os.path.isfile(os.path.join(tmp_path, "attempts.log")) and time.time() < deadline:
        time.sleep(0.5)  # the other process starts once this one trains: it takes the run over, or resumes it
    survivor = _start(tmp_path)
    output = survivor.communicate(timeout=600)[0]
    doomed.communicate(timeout=600)
    assert doomed.returncode == -signal.SIGKILL
    assert survivor.returncode == 0, output[-3000:]
    attempts = _attempts(tmp_path, times=True)
    killed = [(run, epoch) for run, pid, epoch, _ in attempts if pid == doomed.pid and run != "DIED"]
    assert len(killed) == 1 and killed[0][1] == 0  # it died in its first run, after that run's first epoch
    run = killed[0][0]
    died = next(when for name, _, _, when in attempts if name == "DIED")
    taken_over = [(pid, epoch, when) for name, pid, epoch, when in attempts if name == run and pid == survivor.pid]
    # the survivor, already training other runs, did not touch the held run; it resumed it at its second epoch once
    # the holder was dead, not from scratch
    assert len(taken_over) == 1 and taken_over[0][:2] == (survivor.pid, 1) and taken_over[0][2] > died, attempts
    history = runner.read_history(os.path.join(_plan(tmp_path).run_dir(run), "history.csv"))
    assert [row["epoch"] for row in history] == ["0", "1"]
    assert not any(text.startswith(("not run", "failed")) for text in _table_cells(tmp_path).values())


def test_a_lock_names_its_holder_and_is_freed_when_the_holder_is_killed(tmp_path):
    plan = _plan(tmp_path)
    lock = os.path.join(plan.run_dir("tiny-a"), runner.RUN_LOCK)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from common import locks\n"
         "with locks.exclusive(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)", lock],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(locks.Busy, match=f"process {holder.pid} on "):
            with locks.exclusive(lock, wait=False):
                pass
        assert plan.status("tiny-a").startswith(f"running (process {holder.pid} on ")  # what --list shows
        with pytest.raises(lifecycle.RunBusy, match=f"held by process {holder.pid}"):
            lifecycle.run(plan, "tiny-a", step=None, wait=False)
    finally:
        holder.kill()  # SIGKILL: no clean-up runs in the holder
        holder.wait()
    with locks.exclusive(lock, wait=False):  # the kernel released it: no stale lock
        pass
    assert plan.status("tiny-a") == "to run"


def test_a_full_disk_during_a_checkpoint_names_the_folder_and_keeps_the_last_good_one(tmp_path, monkeypatch):
    from training import checkpoints

    plan = _plan(tmp_path)
    save = keras.Model.save_weights

    def disk_fills_in_the_second_epoch(model, path, *args, **kwargs):
        if os.path.basename(path).startswith(".epoch-0002"):  # the temporary file of epoch 2's backup
            with open(path, "wb") as handle:
                handle.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", disk_fills_in_the_second_epoch)
    with pytest.raises(runner.RunFailed, match=f"disk full: no space left on the device of {plan.run_dir('tiny-a')}"):
        runner.run(plan, "tiny-a")
    folder = plan.run_dir("tiny-a")
    backup = os.path.join(folder, "backup")
    assert checkpoints.read_backup(backup)[0] == 1  # the first epoch's backup is intact and readable
    leftovers = [name for _, _, names in os.walk(folder) for name in names if ".tmp" in name]
    assert leftovers == []  # nothing half-written
    monkeypatch.setattr(keras.Model, "save_weights", save)
    runner.run(plan, "tiny-a")  # the retry resumes from that backup (a full disk is not the run's fault)
    assert [row["epoch"] for row in runner.read_history(os.path.join(folder, "history.csv"))] == ["0", "1"]
    assert plan.status("tiny-a") == "done" and os.path.isdir(os.path.join(folder, "failed-1"))


def test_atomic_writes_turn_a_full_disk_into_an_error_naming_the_folder(tmp_path):
    target = tmp_path / "results" / "metrics.json"
    target.parent.mkdir()
    target.write_text("old")
    with pytest.raises(DiskFullError, match=f"device of {target.parent} while writing metrics.json"):
        with atomic_path(target) as temporary:
            with open(temporary, "w") as handle:
                handle.write("new, cut off")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old" and os.listdir(target.parent) == ["metrics.json"]


def test_a_run_damaged_by_two_writers_heals_on_retry_and_a_repeated_failure_says_so(tmp_path, monkeypatch):
    plan = _plan(tmp_path)
    folder = plan.run_dir("tiny-c")
    os.makedirs(folder)
    # what two processes appending to one history.csv left before runs had one owner, and the failure it caused
    with open(os.path.join(folder, "history.csv"), "w") as handle:
        handle.write("epoch,loss\n0,1.5\nepoch,loss\n0,1.4\n")
    with open(os.path.join(folder, "failed.json"), "w") as handle:
        json.dump({"failed": "ValueError: invalid literal for int() with base 10: 'epoch'"}, handle)
    with pytest.raises(runner.HistoryDamaged, match=f"{folder}/history.csv is damaged: line 3"):
        runner.read_history(os.path.join(folder, "history.csv"))

    def fails(*args):
        raise ValueError("the same bad data")

    monkeypatch.setattr(runner, "_train_and_evaluate", fails)
    with pytest.raises(runner.RunFailed, match="^ValueError: the same bad data$"):
        runner.run(plan, "tiny-c")  # a retry, from a clean start: the damaged files went to failed-1/
    assert sorted(os.listdir(os.path.join(folder, "failed-1"))) == ["README.txt", "failed.json", "history.csv"]
    with pytest.raises(runner.RunFailed, match="the same failure as the previous attempt, kept in failed-2/"):
        runner.run(plan, "tiny-c")
    # --no-retry: the failure stands, nothing is trained
    plan.settings.retry = False
    counts, failures = runner.run_many(plan, ["tiny-c"], echo=lambda line: None)
    assert counts == {"trained": 0, "reused": 0} and "same bad data" in failures["tiny-c"]
    monkeypatch.undo()
    plan.settings.retry = True
    counts, failures = runner.run_many(plan, ["tiny-c"], echo=lambda line: None)
    assert counts == {"trained": 1, "reused": 0} and failures == {}
    assert [row["epoch"] for row in runner.read_history(os.path.join(folder, "history.csv"))] == ["0", "1"]
    # without --keep-models (the --quick default) no weights are kept when no run starts from this one
    assert not {"best.weights.h5", "model.keras", "backup"} & set(os.listdir(folder))


def test_runs_of_another_runner_version_are_named_not_mixed(tmp_path):
    plan = _plan(tmp_path)
    old = os.path.join(plan.settings.runs_dir, "tiny-a-0123456789")
    os.makedirs(old)
    with open(os.path.join(old, "config.json"), "w") as handle:
        json.dump({"runner_version": 0}, handle)
    lines = []
    assert lifecycle.note_other_runner_versions(plan, lines.append) == {0: ["tiny-a-0123456789"]}
    assert "holds 1 run(s) of runner version 0" in lines[0] and "tiny-a-0123456789" in lines[0]
    assert plan.run_dir("tiny-a") != old and plan.status("tiny-a") == "to run"


def test_the_space_check_stops_before_training_and_names_the_folder(tmp_path):
    plan = _plan(tmp_path)
    names = list(RUNS)
    count = disk.network_parameters(plan)("tiny-a")
    assert 4_911_552 < count < 5_000_000  # ResNet-10's encoder and one small FCN8 decoder
    needed = disk.needed_bytes(plan, names, {"tiny-a"}, lambda name: count)
    assert needed > 4 * count  # at least the kept init weights of tiny-a and one run's backup
    with pytest.raises(disk.NotEnoughSpace, match=f"3 runs need about .* GB in {tmp_path} .* has 0.0 GB free"):
        disk.check_space(plan, names, {"tiny-a"}, free_bytes=1024)
    disk.check_space(plan, names, {"tiny-a"}, free_bytes=needed)  # enough: no error
    assert disk.synthetic_bytes(plan, names) == 8 * disk.SYNTHETIC_SCENE  # one synthetic tree still to write
    lifecycle.write_datasets(plan.settings, [plan[name] for name in names])
    assert disk.synthetic_bytes(plan, names) == 0  # written: nothing more to count
