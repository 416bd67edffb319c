"""An experiment is data: everything one training run of a paper's table needs, and nothing computed.

Paper modules (reproduce/neurall.py, ...) declare `Experiment`s and the tables that read their metrics; one runner
(reproduce/runner.py) trains and evaluates any of them. Two tables that need the same run name the same
experiment, so it is trained once.
"""
import dataclasses
import hashlib
import json

from common.sizes import IMAGE_SIZE

#: Bump when a change to the runner makes earlier cached runs incomparable.
RUNNER_VERSION = 1

BUILDERS = ("build_segnet", "build_auxnet", "build_msnet2", "build_rnnet2", "build_fusenet", "build_multitask",
            "build_multinet_pp", "build_detseg", "build_selfsup")
INITIALISATIONS = ("random", "imagenet")


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
    """One training run.

    name: unique id, also the run folder's prefix (e.g. "auxnet-twb-kitti").
    builder / builder_options: a `models` builder and its keyword arguments (class counts included).
    dataset: "kitti", "cityscapes", "synthia", "woodscape" or "kitti_detseg" (see reproduce.datasets).
    class_set: key of reproduce.class_sets for the segmentation labels, or None.
    frames: 1, or 2 for two-frame models (input `previous_image`).
    weighting / weighting_options: a `losses.weighting` strategy.
    losses: {task: "mae"} overrides of the default per-task loss (AuxNet's MAE depth loss).
    init: "random", "imagenet", or "encoder:NAME" / "model:NAME" to start from another experiment's trained
        encoder / whole network (matching layers by name), or "weights:PATH" from a runner.save_layer_weights file
        (the meta-learning search's candidates start from the best one so far).
    optimizer "adam" with learning_rate, beta_1, beta_2; batch_size; epochs.
    monitor / monitor_mode: the validation log that picks the kept (best) epoch.
    train_split / val_split and data_options (reader and pipeline options, e.g. split_scheme="leang").
    paper_image_size: (height, width) the paper trained and evaluated at (Novosel et al.: 512x1024); runs use it
        with `--image-size paper`, else the invocation's size (224x384 by default). It is not hashed itself: a run
        is hashed with the size it runs at (the run configuration's "image_size").
    search: None for one training run; for Leang et al.'s evolutionary meta-learning, the search
        (reproduce/meta_search.py): {"weight_ranges": {task: [min, max]}, "frequency_range": [1, 10] or None,
        "fitness": metric, "metrics": [metrics to plot], "options": {training.evolution.EvolutionOptions
        fields}}; `epochs` is then each candidate's budget and `weighting` "fixed" or "async".
    seed_offset: the run's seed is the invocation's --seed plus this (python -m reproduce mtl_benchmark repeats an
        experiment over seeds); 0, the default, stays out of the hash.
    """

    name: str
    builder: str
    dataset: str
    builder_options: dict = dataclasses.field(default_factory=dict)
    class_set: str = None
    frames: int = 1
    weighting: str = "equal"
    weighting_options: dict = dataclasses.field(default_factory=dict)
    losses: dict = dataclasses.field(default_factory=dict)
    init: str = "imagenet"
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    batch_size: int = 8
    epochs: int = 100
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    train_split: str = "train"
    val_split: str = "val"
    data_options: dict = dataclasses.field(default_factory=dict)
    search: dict = None
    paper_image_size: tuple = IMAGE_SIZE
    seed_offset: int = 0

    def __post_init__(self):
        if self.builder not in BUILDERS:
            raise ValueError(f"experiment {self.name!r}: unknown builder {self.builder!r}; known: {BUILDERS}.")
        kind, _, dependency = self.init.partition(":")
        if not (self.init in INITIALISATIONS or (kind in ("encoder", "model", "weights") and dependency)):
            raise ValueError(f"experiment {self.name!r}: init={self.init!r} must be 'random', 'imagenet', "
                             f"'encoder:NAME', 'model:NAME' or 'weights:PATH'.")

    @property
    def dependency(self):
        """Name of the experiment whose trained weights this one starts from, or None."""
        kind, _, name = self.init.partition(":")
        return name if kind in ("encoder", "model") else None

    def config(self):
        """The experiment as plain data (without its name), for hashing and config.json."""
        values = dataclasses.asdict(self)
        values.pop("name")
        values.pop("paper_image_size")  # hashed as the size the run uses (Plan.config's "image_size")
        if values["search"] is None:
            values.pop("search")  # runs cached before searches existed keep their hashes
        if values["seed_offset"] == 0:
            values.pop("seed_offset")  # nor do runs from before seeds were repeated
        return values


def config_hash(config):
    """Short stable hash of a JSON-able configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
