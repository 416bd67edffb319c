"""The disk space a reproduction needs, checked before anything trains.

A run's files are sized by its network's parameter count P (float32 variables, 4 bytes each; Adam keeps two
moments per variable):
- while it trains, its resume backup holds the network, the weighting state and Adam's moments (about 12P bytes),
  and for a moment two epochs' of them (24P); the best epoch's network (4P) and, at the end, model.keras (4P) and
  init.weights.npz (4P) sit beside it until the backup is deleted;
- once finished it keeps best.weights.h5 and model.keras (8P; none with --quick unless --keep-models),
  init.weights.npz (4P) when a later run starts from it, and its logs, TensorBoard panels and samples (SMALL_FILES).
A selection needs the sum of what its runs keep plus the largest extra of one run while it trains, and the synthetic
trees it still has to write. The check first uses the largest network of the papers for every run (no network is
built); only when that bound does not fit is each distinct network built once to count its parameters.
"""
import errno
import json
import os
import shutil

from common.atomic import DiskFullError

#: bytes of a finished run beside its weights: history.csv, TensorBoard logs with the prediction panels,
#: samples.npz, config and metrics (measured: 1-3 MB per --quick run at 224x384; 10 MB leaves room for full runs)
SMALL_FILES = 10 * 1024 ** 2
#: bytes of one synthetic scene in a dataset's official layout (measured: 0.4-1.3 MB per scene at the layouts'
#: native sizes, stereo pair, previous frame and labels included)
SYNTHETIC_SCENE = 1.5 * 1024 ** 2
#: the largest network of the papers (FuseNet, two ResNet-50 encoders): the bound used before building any network
LARGEST_PARAMETERS_KEY = "fusenet_synthia"


class NotEnoughSpace(DiskFullError):
    """The selection needs more space than the device of OUT has free; the message names both."""


def run_bytes(parameters, keeps_models, keep_init):
    """(bytes a finished run keeps, bytes it holds at most while it trains) for a network of `parameters`."""
    network = 4 * parameters
    kept = SMALL_FILES + (2 * network if keeps_models else 0) + (network if keep_init else 0)
    training = SMALL_FILES + 6 * network + network + 2 * network + network  # two backups, best, model.keras, init
    return kept, max(kept, training)


def needed_bytes(plan, names, keep_init, parameters_of):
    """Bytes the runs `names` need in OUT, their networks' parameter counts given by `parameters_of(name)`."""
    kept, extra = 0, 0
    for name in names:
        run_kept, run_peak = run_bytes(parameters_of(name), plan.settings.keeps_models(), name in keep_init)
        kept += run_kept
        extra = max(extra, run_peak - run_kept)
    return kept + extra + synthetic_bytes(plan, names)


def synthetic_bytes(plan, names):
    """Bytes of the synthetic trees the runs read that are not written yet."""
    from data.pipeline import synthetic_tree_folder
    from data.synthetic.layouts import MANIFEST_NAME

    sources = plan.settings.sources
    missing = set()
    for name in names:
        for part in sources.components(plan[name].dataset):
            if part not in sources.roots:
                missing.add(part)
    missing = {part for part in missing if not os.path.isfile(os.path.join(synthetic_tree_folder(
        part, sources.synthetic_num, sources.synthetic_seed, sources.synthetic_dir), MANIFEST_NAME))}
    return len(missing) * sources.synthetic_num * SYNTHETIC_SCENE


def network_parameters(plan):
    """parameters_of(name): the parameter count of a run's network, each distinct network built once."""
    counts = {}

    def parameters_of(name):
        import keras

        import models

        experiment = plan[name]
        key = json.dumps([experiment.builder, experiment.builder_options], sort_keys=True, default=str)
        if key not in counts:  # the count does not depend on the input size: build small
            options = {**experiment.builder_options, "input_shape": (64, 64, 3), "weights": None}
            counts[key] = getattr(models, experiment.builder)(**options).count_params()
            keras.backend.clear_session()
        return counts[key]

    return parameters_of


def check_space(plan, names, keep_init=(), free_bytes=None):
    """Raises NotEnoughSpace, naming OUT, when the runs `names` need more space than its device has free."""
    from reproduce.paper_numbers import PARAMETER_COUNTS

    out = plan.settings.out
    os.makedirs(out, exist_ok=True)
    free = shutil.disk_usage(out).free if free_bytes is None else free_bytes
    keep_init = set(keep_init)
    largest = PARAMETER_COUNTS[LARGEST_PARAMETERS_KEY][3]
    if needed_bytes(plan, names, keep_init, lambda name: largest) <= free:
        return
    needed = needed_bytes(plan, names, keep_init, network_parameters(plan))
    if needed > free:
        raise NotEnoughSpace(
            errno.ENOSPC,
            f"{len(names)} runs need about {_gigabytes(needed)} in {out} (weights kept per run, one run's resume "
            f"backup, the synthetic data still to write) and its device has {_gigabytes(free)} free: free space "
            f"there, choose another --out, or select fewer runs (--table N); with --quick no weights are kept "
            f"unless --keep-models")


def _gigabytes(count):
    return f"{count / 1024 ** 3:.1f} GB"
