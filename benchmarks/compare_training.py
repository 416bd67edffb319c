"""Our training speed beside the same networks in plain PyTorch, measured interleaved, written into docs/speed.md.

    python -m benchmarks.compare_training [--models segnet,multinet_pp] [--rounds 2] [--steps 6] [--warmup 2]
        [--batch-size 2] [--out benchmarks/results/training.json] [--readme docs/speed.md]

Four configurations per network, each a fresh process (`python -m benchmarks.train` for ours,
`python -m benchmarks.torch_reference` for PyTorch's): ours in float32 and in mixed_bfloat16, PyTorch in float32 and
in its best CPU recipe (bfloat16 autocast and channels_last). The machine is shared and noisy, so every round runs
A, B, C, D for each network before the next round starts, and the table gives each configuration's median over the
rounds with the spread. The results go to `--out` (every run's JSON) and, between the page's
`<!-- training-benchmark -->` markers, as a table. PyTorch is not a project dependency: without it the PyTorch
columns say so (`pip install torch --index-url https://download.pytorch.org/whl/cpu`).
"""
import argparse
import datetime
import os
import platform
import statistics
import sys

from benchmarks.processes import run_json
from common.doc_blocks import check_block, update_block
from common.atomic import write_json

CONFIGURATIONS = (
    ("ours, TF float32", ["benchmarks.train", "--precision", "float32"]),
    ("ours, TF mixed_bfloat16", ["benchmarks.train", "--precision", "mixed_bfloat16"]),
    ("PyTorch float32", ["benchmarks.torch_reference", "--precision", "float32"]),
    ("PyTorch bf16 autocast + channels_last", ["benchmarks.torch_reference", "--precision", "bf16",
                                              "--channels-last"]),
)
NAMES = {"segnet": "SegNet (ResNet-50 + FCN8, 12 classes)", "multinet_pp": "MultiNet++ (2 frames, 3 tasks)"}
BLOCK = "training-benchmark"  # <!-- training-benchmark:start --> ... <!-- training-benchmark:end -->


def run_one(module_and_options, model, batch_size, steps, warmup):
    """The JSON record of one benchmark process, or {"error": ...} when it failed."""
    command = [sys.executable, "-m", *module_and_options, "--model", model, "--batch-size", str(batch_size),
               "--steps", str(steps), "--warmup", str(warmup)]
    return {**run_json(command), "command": " ".join(command)}


def measure(models, rounds, batch_size, steps, warmup, echo=print):
    runs = []
    for round_index in range(rounds):
        for model in models:
            for label, module_and_options in CONFIGURATIONS:
                record = run_one(module_and_options, model, batch_size, steps, warmup)
                runs.append({"round": round_index, "model": model, "configuration": label, **record})
                echo(f"round {round_index + 1}/{rounds} {model} {label}: "
                     + (f"{record['images_per_second']:.3f} img/s" if "error" not in record
                        else f"failed: {record['error']}"))
    return runs


def summarise(runs, models):
    """{model: {configuration: (median img/s, min, max) or the error}}."""
    table = {}
    for model in models:
        table[model] = {}
        for label, _ in CONFIGURATIONS:
            mine = [run for run in runs if run["model"] == model and run["configuration"] == label]
            rates = [run["images_per_second"] for run in mine if "error" not in run]
            table[model][label] = ((statistics.median(rates), min(rates), max(rates)) if rates
                                   else next((run["error"] for run in mine), "not run"))
    return table


def markdown(table, runs, rounds, command):
    labels = [label for label, _ in CONFIGURATIONS]
    lines = ["| network | " + " | ".join(labels) + " | ours best / PyTorch best | ours f32 / PyTorch f32 |",
             "|---" * (len(labels) + 3) + "|"]
    for model, cells in table.items():
        def rate(label):
            return cells[label][0] if isinstance(cells[label], tuple) else None

        shown = [f"{cells[label][0]:.2f} ({cells[label][1]:.2f}-{cells[label][2]:.2f})"
                 if isinstance(cells[label], tuple) else f"failed: {cells[label]}" for label in labels]
        ours = [rate(label) for label in labels[:2] if rate(label)]
        theirs = [rate(label) for label in labels[2:] if rate(label)]
        best = f"{max(ours) / max(theirs):.2f}x" if ours and theirs else "-"
        plain = (f"{rate(labels[0]) / rate(labels[2]):.2f}x" if rate(labels[0]) and rate(labels[2]) else "-")
        lines.append(f"| {NAMES.get(model, model)} | " + " | ".join(shown) + f" | {best} | {plain} |")
    measured = [run for run in runs if "error" not in run]
    versions = sorted({f"{run.get('framework')} {run.get('keras') or run.get('torch')}" for run in measured})
    lines += ["", f"Training images/s at 224x384, median (min-max) of {rounds} interleaved "
              f"rounds; measured {datetime.date.today().isoformat()} on {platform.processor() or platform.machine()} "
              f"with {os.cpu_count()} cores ({', '.join(versions)}); `{command}`."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="segnet,multinet_pp")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "training.json"))
    parser.add_argument("--readme", default=os.path.join("docs", "speed.md"),
                        help="page with the table to update ('' to leave it)")
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in NAMES]
    if unknown:
        parser.error(f"--models: {unknown} have no PyTorch twin; choose from {sorted(NAMES)}")
    if min(args.rounds, args.steps, args.batch_size) < 1 or args.warmup < 0:
        parser.error("--rounds, --steps and --batch-size must be >= 1, --warmup >= 0")
    if args.readme:
        check_block(args.readme, BLOCK)
    runs = measure(models, args.rounds, args.batch_size, args.steps, args.warmup)
    command = "python -m benchmarks.compare_training " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(summarise(runs, models), runs, args.rounds, command.strip())
    write_json(args.out, {"runs": runs, "table": text})
    print(text)
    if args.readme:
        update_block(args.readme, BLOCK, text)


if __name__ == "__main__":
    main()
