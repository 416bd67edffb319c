"""The training step time of every gradient-level weighting strategy against equal weighting, in both modes,
measured interleaved and written into docs/training.md.

    python -m benchmarks.weighting_cost [--model multinet_pp] [--rounds 1] [--steps 3] [--warmup 2]
        [--image-size 128x224] [--out benchmarks/results/weighting_cost.json] [--page docs/training.md]

Each configuration is a fresh `python -m benchmarks.train --weighting NAME --weighting-mode MODE` process (FusedAdam,
TensorFlow, float32, a fixed random batch). The order is equal, then every method in the parameter and the
representation mode, with equal weighting again after every four runs, so the ratio of each run is taken against
the equal-weighting runs nearest it in time: load from other work falls on both sides of a ratio alike. The table
goes between the page's `<!-- weighting-cost -->` markers; every run's JSON to `--out`.
"""
import argparse
import datetime
import platform
import statistics
import sys

from benchmarks.compare_training import run_one
from common.doc_blocks import check_block, update_block
from common.atomic import write_json

#: the gradient-level strategies and the --weighting-mode of each column (None: the strategy's default mode, which
#: for GradNorm is its last shared layer; DB-MTL has no representation mode)
METHODS = tuple((name, ("parameters", "representation")) for name in (
    "mgda", "pcgrad", "gradvac", "graddrop", "imtl_g", "imtl", "cagrad", "nash_mtl", "aligned_mtl", "upgrad")) + (
    ("db_mtl", ("parameters", None)), ("gradnorm", (None, "representation")))
EQUAL_EVERY = 4
BLOCK = "weighting-cost"


def schedule():
    """[(strategy, mode)]: equal weighting first, then after every EQUAL_EVERY runs and last."""
    methods = [(name, mode) for name, modes in METHODS for mode in modes if mode or name == "gradnorm"]
    runs = [("equal", None)]
    for index, run in enumerate(methods, 1):
        runs.append(run)
        if index % EQUAL_EVERY == 0 or index == len(methods):
            runs.append(("equal", None))
    return runs


def _options(name, mode, args):
    options = ["benchmarks.train", "--weighting", name, "--image-size", args.image_size]
    return options + (["--weighting-mode", mode] if mode else [])


def measure(args, echo=print):
    runs = []
    for round_index in range(args.rounds):
        for name, mode in schedule():
            record = run_one(_options(name, mode, args), args.model, args.batch_size, args.steps, args.warmup)
            runs.append({"round": round_index, "weighting": name, "mode": mode, **record})
            seconds = statistics.median(record["step_seconds"]) if "error" not in record else None
            echo(f"{name} {mode or ''}: " + (f"{seconds:.3f} s/step" if seconds else f"failed: {record['error']}"))
    return runs


def ratios(runs):
    """{(strategy, mode): [step time / the nearest equal-weighting runs' mean step time]}."""
    result = {}
    for index, run in enumerate(runs):
        if run["weighting"] == "equal" or "error" in run:
            continue
        before = next((r for r in reversed(runs[:index]) if r["weighting"] == "equal" and "error" not in r), None)
        after = next((r for r in runs[index + 1:] if r["weighting"] == "equal" and "error" not in r), None)
        equal = [statistics.median(r["step_seconds"]) for r in (before, after) if r is not None]
        if equal:
            result.setdefault((run["weighting"], run["mode"]), []).append(
                statistics.median(run["step_seconds"]) / statistics.mean(equal))
    return result


def markdown(runs, args, command):
    found = ratios(runs)
    equal = [statistics.median(r["step_seconds"]) for r in runs if r["weighting"] == "equal" and "error" not in r]

    def cell(name, mode):
        values = found.get((name, mode))
        return f"{statistics.median(values):.2f}x" if values else "-"

    lines = ["| strategy | parameter mode | representation mode |", "|---|---|---|"]
    for name, (parameters, representation) in METHODS:
        first = cell(name, None) + " (last shared layer)" if name == "gradnorm" else cell(name, parameters)
        second = cell(name, representation) if representation else "no such mode"
        lines.append(f"| `{name}` | {first} | {second} |")
    lines.append("")
    lines.append(f"Step time relative to equal weighting ({statistics.median(equal):.2f} s per step, median of "
                 f"{len(equal)} runs) on {runs[0].get('model', args.model)} at {args.image_size}, batch "
                 f"{args.batch_size}, {args.steps} steps after {args.warmup} of warm-up, TensorFlow float32, "
                 f"measured {datetime.date.today()} on {platform.machine()} with {runs[0].get('threads')} cores; "
                 f"`{command}`.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.weighting_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="multinet_pp")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--image-size", default="128x224")
    parser.add_argument("--out", default="benchmarks/results/weighting_cost.json")
    parser.add_argument("--page", default="docs/training.md")
    args = parser.parse_args(argv)
    if min(args.rounds, args.steps) < 1 or args.warmup < 0:
        parser.error("--rounds and --steps must be >= 1, --warmup >= 0")
    check_block(args.page, BLOCK)
    runs = measure(args)
    command = "python -m benchmarks.weighting_cost " + " ".join(sys.argv[1:] if argv is None else argv)
    write_json(args.out, {"command": command.strip(), "runs": runs})
    update_block(args.page, BLOCK, markdown(runs, args, command.strip()))
    print(f"wrote {args.out} and the table in {args.page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
