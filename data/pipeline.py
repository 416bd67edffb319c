"""data.load: tf.data pipelines of (inputs, targets) dicts from the official dataset layouts.

Per example (a batch adds a leading B), following the shared tensor conventions:
  inputs  image / previous_image (frames=2) float32 (H, W, 3) raw RGB in [0, 255];
          depth_image (option depth_input=True) float32 (H, W, 3), the depth target replicated.
  targets segmentation int32 (H, W), 255 ignore; motion int32 (H, W) {0, 1, 255}; depth float32 (H, W, 1),
          0 invalid, in the unit of option depth_units (data/depth_units.py; default: disparity in pixels for
          KITTI / Cityscapes, metres for SYNTHIA; "paper16": the 16-bit PNG values the papers trained on); right_image float32
          (H, W, 3); detection float32 (max_boxes, 5) [ymin, xmin, ymax, xmax, class], normalised, padding rows -1;
          colorization int32 (H, W) bin id in [0, 36) (Novosel et al. 2019, section 3.1).

Resizing: bilinear for images, nearest for labels and depth (so invalid zeros never blend into valid values);
disparity values are multiplied by new_width / native_width; boxes are normalised and need no rescaling.

Augmentation (augment=True) keeps stereo geometry valid: brightness/contrast jitter is one affine colour map applied
identically to every view (image, previous_image, right_image); horizontal flip is applied to every spatial input and
target when right_image is not requested; with right_image, flipping is only valid together with swapping the views
(new left = flipped right), which leaves left-referenced labels wrong, so swap+flip is used only when the remaining
targets derive from the images themselves (colorization) and frames=1 without depth_input; otherwise no flip.
"""
import functools
import json
import os
import warnings

import numpy as np
import tensorflow as tf

import tasks as task_library
from common.sizes import IMAGE_SIZE
from data import depth_units, labels
from data.readers import READERS, get_reader
from data.readers.base import IMAGE_FIELDS, png_info

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_MAX_BOXES = 50

#: options consumed by the pipeline itself; everything else goes to the reader (see each reader's ``defaults``).
PIPELINE_DEFAULTS = {
    "cache": False,
    "preprocess": None,
    "augment": False,
    "depth_input": False,
    "depth_units": None,
    "colorization_stats": None,
    "max_boxes": DEFAULT_MAX_BOXES,
    "drop_remainder": False,
    "shuffle_seed": None,
    "shuffle_buffer": 512,
}
RIGHT_IMAGE = "right_image"  # the stereo target: an image field, not a task
SYNTHETIC_DEFAULTS = {"layout": "kitti", "num": 64, "seed": 0, "cache_dir": None, "progress": True}

_STATS_MEMORY = {}


def load(dataset, root, split, tasks, frames=1, image_size=IMAGE_SIZE, batch_size=None, shuffle=False, **options):
    """tf.data.Dataset of ``(inputs, targets)`` dicts read from an official dataset layout (see module docstring).

    Args:
      dataset: one of "kitti", "kitti_object", "cityscapes", "synthia", "woodscape", "synthetic".
      root: dataset root folder (root conventions: data/readers/<dataset>.py); None for "synthetic".
      split: dataset split ("train", "val", ...; allowed values depend on the dataset).
      tasks: iterable of target names: right_image, or a registered task whose target is its own (segmentation,
        depth, motion, detection, colorization, or one of yours: tasks/). A task's target is a field the readers
        give or, for a task that derives it (colorization from the image), made from its fields after augmentation;
        fields read only to derive another target are not returned.
      frames: 1, or 2 to add ``previous_image`` (frame t-1) to the inputs.
      image_size: (height, width) of every output, or None for the native resolution.
      batch_size: None for unbatched examples.
      shuffle: shuffle the examples each epoch; otherwise the order is the sorted file order.
      **options: pipeline options (PIPELINE_DEFAULTS): cache, preprocess (callable applied to the input images
        image / previous_image after the targets are made), augment, depth_input, colorization_stats
        (mu_a, sd_a, mu_b, sd_b), depth_units (None, "paper16", "pixels" or "metres": the unit of the depth
        target and of depth_image, see data/depth_units.py), max_boxes, drop_remainder, shuffle_seed,
        shuffle_buffer (used after cache);
        synthetic options (layout, num, seed, cache_dir); everything else goes to the reader.
    """
    tasks = _check_tasks(tasks)
    if frames not in (1, 2):
        raise ValueError(f"frames must be 1 or 2, got {frames!r}")
    image_size = _check_image_size(image_size)
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be None or a positive int, got {batch_size!r}")
    pipeline_options = {**PIPELINE_DEFAULTS, **{k: options.pop(k) for k in list(options) if k in PIPELINE_DEFAULTS}}
    reader, stats_directory = make_reader(dataset, root, options)
    fields = _fields(tasks)
    examples = reader.list_examples(split, fields, frames, pipeline_options["depth_input"])
    if not examples:
        raise ValueError(f"Split {split!r} of {dataset!r} at {reader.root} is empty (no complete examples found).")

    stats = None
    if any(getattr(task_library.get_task(t), "uses_colorization_stats", False) for t in tasks if t != RIGHT_IMAGE):
        stats = pipeline_options["colorization_stats"]
        if stats is None:
            stats = _default_colorization_stats(reader, image_size, options, stats_directory)
        if len(stats) != 4:
            raise ValueError(f"colorization_stats must be (mu_a, sd_a, mu_b, sd_b), got {stats!r}")

    records = _records(reader, examples, fields, pipeline_options["max_boxes"])
    depth_unit = None
    if "depth" in fields or pipeline_options["depth_input"]:
        depth_unit = depth_units.resolve(reader.depth_encoding, pipeline_options["depth_units"], dataset)
        if depth_units.needs_calibration(reader.depth_encoding, depth_unit):
            records["focal_baseline"] = np.array(
                [_focal_baseline(reader, example) for example in examples], np.float32)
    if image_size is None and batch_size is not None:
        sizes = sorted({(png_info(e.files["image"]).height, png_info(e.files["image"]).width) for e in examples})
        if len(sizes) > 1:
            raise ValueError(
                f"image_size=None keeps native sizes, but the images of {dataset!r}/{split!r} have different sizes "
                f"{sizes[:10]} (height, width); use batch_size=None or set image_size."
            )

    decode = functools.partial(
        _decode_example, reader=reader, fields=fields, frames=frames, image_size=image_size,
        depth_input=pipeline_options["depth_input"], depth_unit=depth_unit, warn_unknown=_OnceWarning(dataset),
    )
    seed = pipeline_options["shuffle_seed"]
    ds = tf.data.Dataset.from_tensor_slices(records)
    if shuffle and not pipeline_options["cache"]:
        ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    if pipeline_options["cache"]:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(min(len(examples), pipeline_options["shuffle_buffer"]), seed=seed,
                            reshuffle_each_iteration=True)
    if pipeline_options["augment"]:
        ds = ds.map(functools.partial(_augment, tasks=tasks, frames=frames,
                                      depth_input=pipeline_options["depth_input"]),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
    derived = [task_library.get_task(t) for t in tasks if t != RIGHT_IMAGE and task_library.get_task(t).derived]
    if derived or set(fields) - set(tasks) or pipeline_options["preprocess"] is not None:
        ds = ds.map(functools.partial(_finish, tasks=tasks, derived=derived,
                                      options={**pipeline_options, "colorization_stats": stats}),
                    num_parallel_calls=AUTOTUNE, deterministic=True)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=pipeline_options["drop_remainder"])
    return ds.prefetch(AUTOTUNE)


def target_names():
    """The names data.load takes in `tasks`: right_image, and every registered task whose target is its own."""
    return (RIGHT_IMAGE,) + tuple(name for name in task_library.registered()
                                  if task_library.get_task(name).target_key == name)


def _check_tasks(tasks):
    if isinstance(tasks, str):
        tasks = (tasks,)
    tasks = tuple(tasks or ())
    allowed = target_names()
    unknown = [t for t in tasks if t not in allowed]
    if unknown:
        raise ValueError(f"Unknown task(s) {unknown}; allowed: {list(allowed)} (a model's stereo 'disparity' task "
                         f"reads 'right_image'; tasks of your own are registered with tasks.register)")
    return tasks


def _fields(tasks):
    """The fields the readers must give for `tasks`, each once, in order."""
    fields = (field for t in tasks
              for field in ((t,) if t == RIGHT_IMAGE else task_library.get_task(t).data_fields))
    return tuple(dict.fromkeys(fields))


def _check_image_size(image_size):
    if image_size is None:
        return None
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be None or (height, width), got {image_size!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return height, width


def make_reader(dataset, root, options):
    """Reader for ``dataset``; for "synthetic", writes (once) and reads a generated tree.

    Returns (reader, folder for the colorization statistics json or None). Consumed options are popped.
    """
    if dataset != "synthetic":
        if dataset not in READERS:
            raise ValueError(f"Unknown dataset {dataset!r}; allowed: {sorted(READERS) + ['synthetic']}")
        return get_reader(dataset, root, **options), None
    synthetic = {**SYNTHETIC_DEFAULTS, **{k: options.pop(k) for k in list(options) if k in SYNTHETIC_DEFAULTS}}
    layout = synthetic["layout"]
    if layout not in READERS:
        raise ValueError(f"Unknown synthetic layout {layout!r}; allowed: {sorted(READERS)}")
    directory = synthetic_tree(layout, synthetic["num"], synthetic["seed"], synthetic["cache_dir"],
                               progress=synthetic["progress"])
    if "seed" in READERS[layout].defaults:
        options.setdefault("seed", synthetic["seed"])
    generated_motion = os.path.join(directory, "motion")  # data.synthetic writes Vertens-style masks here
    if "motion_root" in READERS[layout].defaults and os.path.isdir(generated_motion):
        options.setdefault("motion_root", generated_motion)
    return get_reader(layout, directory, **options), directory


def synthetic_tree_folder(layout, num, seed, cache_dir=None):
    """Where the generated ``layout`` tree of ``num`` scenes lives: ``{cache_dir or ~/.cache/mtl_synthetic}/
    {layout}-{num}-{seed}``."""
    parent = cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "mtl_synthetic")
    return os.path.join(parent, f"{layout}-{num}-{seed}")


def synthetic_tree(layout, num, seed, cache_dir=None, progress=True):
    """Folder holding a generated ``layout`` tree of ``num`` scenes (`synthetic_tree_folder`), written first if needed
    (a progress bar while it is written, unless ``progress=False``).

    data.synthetic.write_dataset writes its manifest last and atomically and returns at once when a complete tree
    with these parameters is there, so an interrupted run is simply written again.
    """
    from data.synthetic import write_dataset

    return str(write_dataset(layout, synthetic_tree_folder(layout, num, seed, cache_dir), num, seed, progress=progress))


def _default_colorization_stats(reader, image_size, reader_options, stats_directory):
    """a/b statistics of the train split of the same root: memory cache, plus a json in the synthetic cache folder."""
    from data.statistics import estimate_ab_statistics

    options = {k: v for k, v in reader_options.items() if k != "motion_root"}
    key = json.dumps([reader.name, reader.root, image_size, sorted((k, repr(v)) for k, v in options.items())])
    if key in _STATS_MEMORY:
        return _STATS_MEMORY[key]
    json_path = None
    if stats_directory is not None:
        size_tag = "native" if image_size is None else f"{image_size[0]}x{image_size[1]}"
        json_path = os.path.join(stats_directory, f"colorization_stats_{size_tag}.json")
        if os.path.isfile(json_path):
            with open(json_path) as handle:
                _STATS_MEMORY[key] = tuple(json.load(handle)["stats"])
            return _STATS_MEMORY[key]
    train = load(reader.name, reader.root, "train", (), image_size=image_size, **options)
    stats = tuple(float(v) for v in estimate_ab_statistics(train))
    _STATS_MEMORY[key] = stats
    if json_path is not None:
        from common.atomic import write_json  # whole or not at all: runs on a shared folder may start together

        write_json(json_path, {"stats": stats, "order": ["mu_a", "sd_a", "mu_b", "sd_b"]})
    return stats


def _records(reader, examples, fields, max_boxes):
    """Column arrays for Dataset.from_tensor_slices; checks every PNG (signature, IEND) while listing."""
    records = {}
    for field in sorted(examples[0].files):
        paths = [example.files[field] for example in examples]
        infos = [png_info(path) for path in paths]
        records[field] = np.array(paths)
        if field not in IMAGE_FIELDS:
            for path, info in zip(paths, infos):
                if info.color_type == 3:
                    raise ValueError(f"Label PNG {path} is palette-coded; expected grey-level ids (convert it).")
            records[field + "_16bit"] = np.array([info.bit_depth > 8 for info in infos])
    if "detection" in fields:
        boxes = np.full((len(examples), max_boxes, 5), -1.0, np.float32)
        overflow = 0
        for i, example in enumerate(examples):
            rows = example.boxes[:max_boxes]
            overflow += len(example.boxes) > max_boxes
            boxes[i, : len(rows)] = rows
        if overflow:
            warnings.warn(f"{overflow} images have more than max_boxes={max_boxes} boxes; the extra boxes are dropped.")
        records["detection"] = boxes
    return records


class _OnceWarning:
    """Warns once per data.load call about label ids outside the dataset's table (called through tf.py_function)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.warned = False

    def __call__(self, path):
        if not self.warned:
            self.warned = True
            name = path.numpy().decode() if hasattr(path, "numpy") else str(path)
            warnings.warn(
                f"{self.dataset}: label ids outside the known table (first seen in {name}) were mapped to the "
                "ignore label 255; further occurrences are not reported."
            )
        return True


def _decode_rgb(path):
    image = tf.io.decode_png(tf.io.read_file(path), channels=3, dtype=tf.uint8)
    return tf.cast(image, tf.float32)


def _decode_exact(path, is_16bit):
    """First channel of a PNG as int32, without the value scaling decode_png applies across bit depths."""
    data = tf.io.read_file(path)
    values = tf.cond(
        is_16bit,
        lambda: tf.cast(tf.io.decode_png(data, channels=0, dtype=tf.uint16)[..., :1], tf.int32),
        lambda: tf.cast(tf.io.decode_png(data, channels=0, dtype=tf.uint8)[..., :1], tf.int32),
    )
    return tf.ensure_shape(values, [None, None, 1])


def _map_ids(ids, lookup, path, warn_unknown):
    table, known = lookup
    index = tf.minimum(ids, len(table) - 1)
    mapped = tf.gather(tf.constant(table, tf.int32), index)
    all_known = tf.reduce_all(tf.gather(tf.constant(known), index))
    reported = tf.cond(
        all_known,
        lambda: tf.constant(True),
        lambda: tf.reshape(tf.py_function(warn_unknown, [path], Tout=tf.bool), []),
    )
    with tf.control_dependencies([reported]):
        return tf.identity(mapped)


def depth_unit(reader, depth_units_option=None):
    """The unit key (data/depth_units.py) of the depth target `data.load` gives for this reader and option."""
    return depth_units.resolve(reader.depth_encoding, depth_units_option, reader.name)


def _focal_baseline(reader, example):
    try:
        camera = reader.camera(example)
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(f"depth_units='metres' on {reader.name} converts disparity with each image's calibration: "
                         f"{error}") from None
    return camera["focal"] * camera["baseline"]


def _decode_depth(path, is_16bit, encoding, unit, focal_baseline=None):
    import tensorflow.experimental.numpy as tnp

    raw = tf.cast(_decode_exact(path, is_16bit), tf.float32)
    return tf.cast(depth_units.decode_png_values(raw, encoding, unit, tnp, focal_baseline), tf.float32)


def _resize(tensor, size, method):
    if size is None:
        return tensor
    return tf.image.resize(tensor, size, method=method)


def _decode_example(record, reader, fields, frames, image_size, depth_input, depth_unit, warn_unknown):
    """The example's inputs and decoded fields (the targets of the tasks that read one field as it is)."""
    inputs, targets = {}, {}
    image = _decode_rgb(record["image"])
    inputs["image"] = _resize(image, image_size, "bilinear")
    if frames == 2:
        inputs["previous_image"] = _resize(_decode_rgb(record["previous_image"]), image_size, "bilinear")
    if RIGHT_IMAGE in fields:
        targets["right_image"] = _resize(_decode_rgb(record["right_image"]), image_size, "bilinear")
    if "segmentation" in fields:
        ids = _decode_exact(record["segmentation"], record["segmentation_16bit"])
        ids = _map_ids(ids, reader.segmentation_lookup, record["segmentation"], warn_unknown)
        targets["segmentation"] = _resize(ids, image_size, "nearest")[..., 0]
    if "motion" in fields:
        ids = _decode_exact(record["motion"], record["motion_16bit"])
        ids = _map_ids(ids, labels.motion_lookup(), record["motion"], warn_unknown)
        targets["motion"] = _resize(ids, image_size, "nearest")[..., 0]
    if "depth" in fields or depth_input:
        depth = _decode_depth(record["depth"], record["depth_16bit"], reader.depth_encoding, depth_unit,
                              record.get("focal_baseline"))
        if image_size is not None:
            native_width = tf.cast(tf.shape(depth)[1], tf.float32)
            depth = _resize(depth, image_size, "nearest")
            if depth_units.UNITS[depth_unit].scales_with_width:
                depth = depth * (image_size[1] / native_width)
        if "depth" in fields:
            targets["depth"] = depth
        if depth_input:
            inputs["depth_image"] = tf.tile(depth, [1, 1, 3])
    if "detection" in fields:
        targets["detection"] = record["detection"]
    return inputs, targets


def flip_policy(tasks, frames=1, depth_input=False):
    """'flip' (all views and targets), 'swap_flip' (stereo views swapped and flipped) or 'none'; see docstring."""
    if RIGHT_IMAGE not in tasks:
        return "flip"
    from_images = all(task_library.get_task(t).from_images for t in tasks if t != RIGHT_IMAGE)
    if from_images and frames == 1 and not depth_input:
        return "swap_flip"
    return "none"


def _flip_boxes(boxes):
    padding = boxes[:, 4:5] < 0
    flipped = tf.stack([boxes[:, 0], 1.0 - boxes[:, 3], boxes[:, 2], 1.0 - boxes[:, 1], boxes[:, 4]], axis=-1)
    return tf.where(padding, boxes, flipped)


def _augment(inputs, targets, tasks, frames, depth_input, brightness=32.0, contrast=(0.8, 1.2)):
    inputs, targets = dict(inputs), dict(targets)
    # One affine colour map for every view, so left/right/previous stay photometrically consistent.
    delta = tf.random.uniform([], -brightness, brightness)
    factor = tf.random.uniform([], contrast[0], contrast[1])
    mean = tf.reduce_mean(inputs["image"], axis=[0, 1], keepdims=True)

    def jitter(view):
        return tf.clip_by_value((view - mean) * factor + mean + delta, 0.0, 255.0)

    for key in ("image", "previous_image"):
        if key in inputs:
            inputs[key] = jitter(inputs[key])
    if "right_image" in targets:
        targets["right_image"] = jitter(targets["right_image"])

    policy = flip_policy(tasks, frames, depth_input)
    if policy == "none":
        return inputs, targets
    do_flip = tf.random.uniform([]) < 0.5

    def maybe_flip(tensor):
        return tf.cond(do_flip, lambda: tf.reverse(tensor, axis=[1]), lambda: tensor)

    if policy == "swap_flip":
        left, right = inputs["image"], targets["right_image"]
        inputs["image"] = tf.cond(do_flip, lambda: tf.reverse(right, axis=[1]), lambda: left)
        targets["right_image"] = tf.cond(do_flip, lambda: tf.reverse(left, axis=[1]), lambda: right)
        return inputs, targets
    for key in ("image", "previous_image", "depth_image"):
        if key in inputs:
            inputs[key] = maybe_flip(inputs[key])
    for key in ("segmentation", "motion"):
        if key in targets:
            targets[key] = tf.cond(do_flip, lambda t=targets[key]: tf.reverse(t, axis=[1]), lambda t=targets[key]: t)
    if "depth" in targets:
        targets["depth"] = maybe_flip(targets["depth"])
    if "detection" in targets:
        boxes = targets["detection"]
        targets["detection"] = tf.cond(do_flip, lambda: _flip_boxes(boxes), lambda: boxes)
    return inputs, targets


def _finish(inputs, targets, tasks, derived, options):
    """The derived targets (from the augmented inputs and fields), the requested targets only, preprocessing."""
    inputs, targets = dict(inputs), dict(targets)
    for task in derived:
        targets[task.name] = task.derive(inputs, targets, options)
    targets = {name: value for name, value in targets.items() if name in tasks}
    if options["preprocess"] is not None:
        for key in ("image", "previous_image"):
            if key in inputs:
                inputs[key] = options["preprocess"](inputs[key])
    return inputs, targets


def colorization_target(image, stats, bins=None):
    """Moved to tasks.colorization (the colorization task makes its own target); kept for existing callers."""
    from tasks.colorization import COLOR_BINS, colorization_target as target

    return target(image, stats, COLOR_BINS if bins is None else bins)
