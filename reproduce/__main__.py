"""python -m reproduce PAPER [--table N] [--quick] [--data-root NAME=DIR ...] [--out DIR] [--epochs N]
[--batch-size N] [--train-images N] [--seed N] [--image-size HxW|paper] [--strategy none|mirrored|multiworker]
[--scale-lr] [--ray-address ADDR] [--force] [--list]

Regenerates the tables and figures of a paper (neurall, multinet_pp, auxnet, task_weighting, selfsup, or all) at
224x384 (or --image-size) beside the paper's printed numbers. Datasets without --data-root are generated synthetically in their
official layout, and the tables say so.
"""
import argparse
import math
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PAPER_CHOICES = ("neurall", "multinet_pp", "auxnet", "task_weighting", "selfsup", "all", "mtl_benchmark")
STRATEGY_CHOICES = ("none", "mirrored", "multiworker")


def parser():
    from reproduce.datasets import OPTION_ROOTS, ROOT_NAMES

    p = argparse.ArgumentParser(prog="python -m reproduce", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paper", choices=PAPER_CHOICES, help="which paper's tables to reproduce; mtl_benchmark: every "
                   "weighting strategy on two of the papers' settings, beyond the papers")
    p.add_argument("--table", metavar="N", help="only table N of the paper (and no figures); mtl_benchmark: a "
                   "table's name, e.g. leang_kitti")
    p.add_argument("--seeds", type=_positive, default=1, metavar="N",
                   help="mtl_benchmark: seeds --seed .. --seed + N - 1 per method, cells mean ± std (default 1)")
    p.add_argument("--datasets", nargs="+", metavar="NAME", help="mtl_benchmark: among kitti, cityscapes, woodscape "
                   "(default: all three)")
    p.add_argument("--quick", action="store_true",
                   help="1 epoch of 2 steps at batch 2 per run, still 224x384: checks that everything runs")
    p.add_argument("--data-root", action="append", default=[], metavar="NAME=DIR",
                   help=f"a real dataset copy; NAME in {', '.join(ROOT_NAMES + tuple(OPTION_ROOTS))}")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--epochs", type=_positive, help="epochs per run instead of the paper's")
    p.add_argument("--batch-size", type=_positive,
                   help="GLOBAL batch size instead of the paper's (split over the replicas of --strategy)")
    p.add_argument("--train-images", type=_positive, help="training images per epoch (a medium run)")
    p.add_argument("--val-images", type=_positive, help="evaluate on the first N validation images only")
    p.add_argument("--synthetic-scenes", type=_positive,
                   help="scenes per synthetic dataset (default 12 with --quick, else 200 or enough for "
                        "--train-images)")
    p.add_argument("--seed", type=int, default=0, help="seed of data order and initialisation (default 0)")
    p.add_argument("--image-size", type=_image_size, default=None, metavar="HxW|paper",
                   help="input height x width of every run (default 224x384, as the tables); 'paper': each "
                        "experiment's published resolution (Novosel et al.: 512x1024). Sides that are not "
                        "multiples of 32 are rounded up to one (the encoders' stride): 375x1242 runs at 384x1248")
    p.add_argument("--pretrained", action="append", default=[], metavar="BACKBONE=FILE",
                   help="ImageNet weights of an encoder (resnet18 or resnet10: a .weights.h5 of that encoder; "
                        "resnet50 is found in the Keras cache)")
    p.add_argument("--allow-random-init", action="store_true",
                   help="train from random weights where ImageNet weights cannot be had (offline without the file, "
                        "ResNet-10); without it a full-budget run that asks for ImageNet and gets none stops (exit 2)")
    p.add_argument("--keep-models", action="store_true", help="keep each run's model.keras even with --quick")
    p.add_argument("--eager", choices=("auto", "always", "never"), default="auto",
                   help="run training steps eagerly: auto = when a run has fewer than 40 steps (tracing the "
                        "graph costs more than it saves)")
    p.add_argument("--strategy", choices=STRATEGY_CHOICES, default="none",
                   help="each run on several devices: mirrored = every GPU of this machine (CUDA_VISIBLE_DEVICES "
                        "limits them), multiworker = the hosts that TF_CONFIG describes (run the same command on "
                        "each); TensorFlow backend. Not part of a run's hash (see the README)")
    p.add_argument("--scale-lr", action="store_true",
                   help="learning rate x (batch size / the paper's batch size), the linear scaling rule "
                        "(part of the run's hash); default: the paper's rate whatever the batch")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="spread the runs over a Ray cluster, one per GPU (or per node without GPUs), and run the "
                        "meta-learning candidates there: 'local' (a Ray instance on this machine), 'auto', "
                        "HOST:PORT or ray://HOST:10001; --out must be on a file system every node sees. Default: "
                        "runs one after another here, search candidates on a local Ray instance")
    p.add_argument("--search-evaluations", type=_positive, metavar="N",
                   help="candidates per meta-learning search instead of the paper setting's 48 (--quick: 4)")
    p.add_argument("--force", action="store_true", help="retrain runs that are already in the cache")
    p.add_argument("--no-retry", action="store_true", help="keep the failures of runs that failed before (default: "
                   "retry them from a clean start; the failed attempt's files are kept in its failed-<n>/)")
    from models.cli import add_import_argument

    add_import_argument(p)
    p.add_argument("--estimate", action="store_true", help="print the runs, images and hours the selection needs "
                   "(timing a few training steps of each network here), without training")
    p.add_argument("--gpu-images-per-second", type=float, metavar="R", help="with --estimate: also the hours at R "
                   "training images per second")
    p.add_argument("--list", action="store_true", help="list the runs of the selection with their status")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _image_size(text):
    from reproduce.runner import PAPER_SIZE

    if text == PAPER_SIZE:
        return PAPER_SIZE
    height, separator, width = text.lower().partition("x")
    try:
        size = (int(height), int(width))
    except ValueError:
        size = None
    if not separator or size is None or min(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH (e.g. 224x384) or 'paper'")
    return size


def _pretrained(p, values):
    from models.encoders import BACKBONES

    files = {}
    for value in values:
        backbone, separator, path = value.partition("=")
        if not separator or backbone not in BACKBONES:
            p.error(f"--pretrained {value!r} must be BACKBONE=FILE with BACKBONE in {', '.join(BACKBONES)}")
        if not os.path.isfile(path):
            p.error(f"--pretrained {value!r}: no such file")
        files[backbone] = os.path.abspath(path)
    return files


def synthetic_scenes(args):
    if args.synthetic_scenes:
        return args.synthetic_scenes
    if args.train_images:
        return max(12, math.ceil(args.train_images / 0.6) + 2)  # the smallest train share is Leang's 60 %
    return 12 if args.quick else 200


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args = p.parse_args(argv)
    from common.user_modules import UserModuleError, import_user_modules, portable

    try:
        import_user_modules(args.imports)
    except UserModuleError as error:
        p.error(str(error))
    from reproduce import papers
    from reproduce.datasets import DataRootError, DataSources, parse_data_roots
    from reproduce.runner import Settings

    chosen = papers.PAPERS if args.paper == "all" else (args.paper,)
    options = {}
    if args.paper in papers.BENCHMARKS:
        options = {"seeds": args.seeds, "datasets": args.datasets}
        try:
            papers.paper_tables(args.paper, options)
        except ValueError as error:
            p.error(str(error))
    elif args.seeds != 1 or args.datasets:
        p.error("--seeds and --datasets are mtl_benchmark's options")
    table = None
    if args.table is not None:
        if args.paper == "all":
            p.error("--table needs one paper, not 'all'")
        benchmark = args.paper in papers.BENCHMARKS
        table = args.table if benchmark else f"table{args.table}"
        valid = papers.table_keys(args.paper, options)
        if table not in valid:
            p.error(f"--table {args.table}: {args.paper} has tables "
                    f"{', '.join(k if benchmark else k.removeprefix('table') for k in valid)}")
    try:
        roots = parse_data_roots(args.data_root)
    except DataRootError as error:
        p.error(str(error))
    out = os.path.abspath(args.out)
    if args.strategy == "multiworker":
        if args.ray_address:
            p.error("--strategy multiworker trains one run over the hosts of TF_CONFIG, --ray-address many runs "
                    "over a Ray cluster: use one or the other (--strategy mirrored --ray-address mirrors each run "
                    "over the GPUs of one node)")
        out = _worker_out(p, out)
    sources = DataSources(roots, os.path.join(out, "synthetic"), synthetic_scenes(args), args.seed,
                          progress=not args.no_progress)
    size = {"image_size": args.image_size} if args.image_size else {}
    settings = Settings(out=out, sources=sources, quick=args.quick, epochs=args.epochs, batch_size=args.batch_size,
                        train_images=args.train_images, val_images=args.val_images, seed=args.seed,
                        force=args.force, keep_models=True if args.keep_models else None, eager=args.eager,
                        pretrained=_pretrained(p, args.pretrained), progress=not args.no_progress,
                        ray_address=args.ray_address, search_evaluations=args.search_evaluations,
                        strategy=None if args.strategy == "none" else args.strategy, scale_lr=args.scale_lr,
                        imports=portable(args.imports), retry=not args.no_retry, **size)
    selection = papers.Selection(chosen, table, options)
    if args.estimate:
        from reproduce.estimate import estimate

        estimate(selection, settings, args.gpu_images_per_second)
        return 0
    if args.list:
        for name, status, folder in papers.listing(selection, settings):
            print(f"{status:<10} {name:<55} {folder}")
        return 0
    from training import distribution

    try:  # before any TensorFlow op: MultiWorkerMirroredStrategy must be created at program start
        distribution.get_strategy(settings.strategy)
    except distribution.DistributionError as error:
        p.error(f"--strategy {args.strategy}: {error}")
    # --quick checks the plumbing: it uses ImageNet files already cached and downloads nothing
    missing = {} if args.quick else fetch_imagenet(selection, settings)
    if missing and not args.allow_random_init:
        print("ImageNet weights are needed and not available:\n" + "\n".join(f"- {backbone}: {reason}" for
              backbone, reason in missing.items()) + "\nFetch or copy them as said, pass --pretrained BACKBONE=FILE, "
              "or --allow-random-init to train from random weights (the tables then say so).", file=sys.stderr)
        return 2
    import tensorflow as tf

    from reproduce.disk import NotEnoughSpace

    tf.config.experimental.enable_op_determinism()  # same seed, same machine: the same numbers
    command = "python -m reproduce " + " ".join(shlex.quote(a) for a in argv)
    try:
        if args.ray_address:
            from reproduce.runner import ray_executor

            plan = selection.plan(settings)
            executor = ray_executor(plan, args.ray_address, whole_node=args.strategy == "mirrored")
            _, failures = papers.reproduce(selection, settings, command, executor=executor, plan=plan)
        else:
            _, failures = papers.reproduce(selection, settings, command)
    except KeyboardInterrupt:
        print("\nInterrupted: finished runs are kept; run the same command again to resume.", file=sys.stderr)
        return 130
    except NotEnoughSpace as error:
        print(f"Not enough disk space: {error.strerror}", file=sys.stderr)
        return 2
    return 1 if failures else 0


def fetch_imagenet(selection, settings):
    """Fetches into the Keras cache the ImageNet weights the selection's runs start from (keras.applications'
    ResNet-50, keras-hub's ResNet-18; models.pretrained), before any run is hashed; {backbone: why not} of those
    that cannot be had (offline without the file, ResNet-10: none is public)."""
    from models.pretrained import PretrainedWeightsUnavailable, fetch_imagenet as fetch

    missing = {}
    for backbone in selection.plan(settings).imagenet_backbones(selection.experiments()):
        try:
            fetch(backbone)
        except (PretrainedWeightsUnavailable, ValueError) as error:
            missing[backbone] = str(error)
    return missing


def _worker_out(p, out):
    """The chief of a multiworker run writes OUT; every other worker its own OUT/workers/<task>-<index>/ (the same
    runs, synthetic data and tables: no two processes write one file)."""
    from training import distribution

    try:
        kind, index, chief = distribution.worker_role()
    except distribution.DistributionError as error:
        p.error(f"--strategy multiworker: {error}")
    return out if chief else os.path.join(out, "workers", f"{kind}-{index}")


if __name__ == "__main__":
    sys.exit(main())
