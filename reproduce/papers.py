"""The five papers' modules, and the reproduction of a selection of their tables and figures: train what is
missing (dependencies first, each run once), then write every table, figure and the HTML report.
"""
import dataclasses
import importlib
import os
import subprocess
import time

from reproduce import tables as table_lib
from reproduce.runner import run_image_size, run_many

PAPERS = ("neurall", "multinet_pp", "auxnet", "task_weighting", "selfsup")
#: beyond the papers: modules whose experiments and tables depend on the command line's options (tables_for(options),
#: experiments_for(options)); never part of `all`, never mixed into the papers' tables
BENCHMARKS = ("mtl_benchmark",)


def module(paper):
    return importlib.import_module(f"reproduce.{paper}")


def all_experiments():
    """Every paper's experiments (a table may read runs another paper declares)."""
    experiments = {}
    for paper in PAPERS:
        for experiment in module(paper).EXPERIMENTS:
            experiments.setdefault(experiment.name, experiment)
    return list(experiments.values())


def paper_tables(paper, options=None):
    """A paper's tables, or a benchmark's for the command line's `options`."""
    if paper in BENCHMARKS:
        return module(paper).tables_for(options or {})
    return module(paper).TABLES


def table_keys(paper, options=None):
    """The tables of a paper ("table1", ...; companions such as "table1_text" go with their table)."""
    if paper in BENCHMARKS:
        return [table.key for table in paper_tables(paper, options)]
    return list(dict.fromkeys(table.key.partition("_")[0] for table in paper_tables(paper)))


@dataclasses.dataclass
class Selection:
    papers: tuple
    table: str = None  # "table3" (and its companions such as "table3_text"); None = every table and figure
    options: dict = dataclasses.field(default_factory=dict)  # a benchmark's: {"seeds": N, "datasets": [...]}

    def plan(self, settings):
        """The Plan of every paper's experiments and the selected benchmarks' (their runs share the papers')."""
        from reproduce.runner import Plan

        extra = [e for paper in self.papers if paper in BENCHMARKS for e in module(paper).experiments_for(self.options)]
        return Plan(all_experiments() + extra, settings)

    def tables(self):
        return [table for paper in self.papers for table in paper_tables(paper, self.options)
                if self.table is None or table.key == self.table or table.key.startswith(f"{self.table}_")]

    def figures(self):
        if self.table is not None:
            return []
        return [(paper, key, make) for paper in self.papers for key, make in module(paper).FIGURES]

    def exports(self):
        """(paper, make) of the files that go with the selected tables beside them (a paper module's EXPORTS:
        (table key, make(plan, folder, results))), e.g. Novosel's test-split predictions for the benchmark server."""
        keys = {(table.paper, table.key) for table in self.tables()}
        return [(paper, make) for paper in self.papers for key, make in getattr(module(paper), "EXPORTS", ())
                if (paper, key) in keys]

    def experiments(self):
        names = []
        for table in self.tables():
            names += [name for name in table.experiments() if name not in names]
        return names


def where_used(selection):
    """experiment name -> 'paper tableN row' of its first cell, for progress lines."""
    used = {}
    for table in selection.tables():
        for row in table.rows:
            for cell in row.cells:
                for name in cell.experiments():
                    used.setdefault(name, f"{table.paper} {table.key} {' '.join(row.labels)}")
    return used


def git_commit():
    folder = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def header(table, plan, command, commit):
    settings = plan.settings
    lines = [f"Datasets: {settings.sources.describe(d)}" for d in table.datasets]
    if settings.quick:
        lines.append("Budget: --quick, 1 epoch of 2 steps at batch 2 per run: a check that everything runs, "
                     "NOT a result")
    elif table.experiments():
        budgets = sorted({(plan.config(n)["budget"]["epochs"], plan.config(n)["budget"]["batch_size"],
                           plan.config(n)["budget"]["steps_per_epoch"]) for n in table.experiments()})
        lines.append("Budget: " + "; ".join(f"{e} epochs, batch {b}" + (f", {s} steps per epoch" if s else "")
                                            for e, b, s in budgets))
    sizes = sorted({(run_image_size(plan[n], settings), tuple(plan[n].paper_image_size)) for n in table.experiments()})
    lines += [f"Resolution: {ours[0]}x{ours[1]} (height x width; the paper's: {paper[0]}x{paper[1]})"
              for ours, paper in sizes]
    inits = sorted({plan.initialisation(plan[n])[1] for n in table.experiments()} - {""})
    lines += [f"Initialisation: {note}" for note in inits]
    lines += [f"Commit: {commit}", f"Command: {command}"]
    return lines


def reproduce(selection, settings, command, echo=print, executor=None, plan=None):
    """Runs the selection; returns ({"trained": n, "reused": n}, {failed or skipped run: reason}). Tables are
    written even when interrupted, so what has finished is never lost. With an `executor` (e.g. Ray) the runs are
    spread over it (runner.run_many: each run once the run it starts from is done; the same cache, resume and atomic
    files) and the tables, figures and report are written here at the end."""
    plan = plan or selection.plan(settings)
    order = plan.order(selection.experiments())
    starts = plan.needed_as_start(order)
    used = where_used(selection)
    counts = {"trained": 0, "reused": 0}
    failures = {}
    started = time.time()
    try:
        numbered = executor is None  # in this process runs go one after another: "[i/n]" says how far along
        labels = {name: (f"[{index}/{len(order)}] " if numbered else "") + f"{used.get(name, name)} ({name})"
                  for index, name in enumerate(order, 1)}
        counts, failures = run_many(plan, order, keep_init=starts, labels=labels, executor=executor, echo=echo)
    finally:
        write_outputs(selection, plan, command, failures)
    minutes = (time.time() - started) / 60
    echo(f"Done in {minutes:.1f} min: {counts['trained']} runs trained, {counts['reused']} reused from the cache, "
         f"{len(failures)} failed. Tables in {settings.out}/<paper>/, "
         f"report: {os.path.join(settings.out, 'report.html')}")
    return counts, failures


def write_outputs(selection, plan, command, failures=None):
    from reproduce.report import write_report

    commit = git_commit()
    failures = failures or {}
    tables = selection.tables()
    # runs are shared between tables: read each one's state once
    names = {name for table in tables for name in table.experiments()}
    statuses = {name: f"failed: {failures[name]}" if name in failures else plan.status(name) for name in names}
    results = {name: plan.result(name) for name in names if statuses[name] == "done"}
    run_ids = {name: plan.run_id(name) for name in names}
    for table in tables:
        table_lib.write_table(os.path.join(plan.settings.out, table.paper), table, results, statuses, run_ids,
                              header(table, plan, command, commit), plan)
    for paper, key, make in selection.figures():
        make(plan, os.path.join(plan.settings.out, paper, f"{key}.png"))
    for paper, make in selection.exports():
        make(plan, os.path.join(plan.settings.out, paper), results)
    write_report(plan.settings.out)


def listing(selection, settings):
    """(experiment, status, run folder) of every run the selection needs, dependencies first."""
    plan = selection.plan(settings)
    return [(name, plan.status(name), plan.run_dir(name)) for name in plan.order(selection.experiments())]
