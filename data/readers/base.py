"""Common machinery of the dataset readers: file checks, pairing, seeded splits and the Reader interface.

A reader turns an official on-disk tree into a sorted list of ``Example`` records (file paths per field plus
normalised boxes); decoding happens later in the tf.data pipeline (data/pipeline.py), driven by the reader's
decoding attributes (label tables, depth encoding).
"""
import dataclasses
import functools
import os
import warnings

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"
PALETTE_COLOR_TYPE = 3

IMAGE_FIELDS = ("image", "previous_image", "right_image")
MAX_LISTED = 10


@dataclasses.dataclass(frozen=True)
class PngInfo:
    width: int
    height: int
    bit_depth: int
    color_type: int


def png_info(path):
    """Size and format of a PNG read from its header; ValueError naming ``path`` when corrupt or truncated.

    Checks the signature, the IHDR chunk and that the file ends with the IEND chunk, which catches the usual
    damage (interrupted download or unzip) without decoding the image. Results are cached per file version.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"File not found: {path}") from None
    return _png_info(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=200_000)
def _png_info(path, mtime_ns, size):
    try:
        with open(path, "rb") as handle:
            head = handle.read(33)
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - len(PNG_IEND_CHUNK), 0))
            tail = handle.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"File not found: {path}") from None
    if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"Corrupt PNG (bad signature/header): {path}")
    if tail != PNG_IEND_CHUNK:
        raise ValueError(f"Corrupt or truncated PNG (no IEND chunk at the end of the file): {path}")
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    return PngInfo(width, height, head[24], head[25])


@dataclasses.dataclass
class Example:
    """One sample: ``files`` maps fields (image, previous_image, right_image, segmentation, depth, motion) to paths;
    ``boxes`` is (n, 5) float32 [ymin, xmin, ymax, xmax, class] normalised by the image size, or None."""

    name: str
    files: dict
    boxes: np.ndarray = None


def missing_path_error(path, archive):
    return FileNotFoundError(f"Expected {path} (provided by {archive}); unpack the official archive there.")


def require_dir(path, archive):
    if not os.path.isdir(path):
        raise missing_path_error(path, archive)
    return path


def list_files(folder, suffix):
    """{file name without ``suffix``: path} of the files in ``folder`` ending with ``suffix`` (non-recursive)."""
    with os.scandir(folder) as entries:
        return {
            entry.name[: -len(suffix)]: entry.path
            for entry in entries
            if entry.name.endswith(suffix) and entry.is_file()
        }


def pair_up(entries_by_field, skip_unpaired, archives, what="image"):
    """Names present in every field, sorted; unpaired names -> ValueError (or one warning with skip_unpaired).

    ``entries_by_field``: {field: {name: path}}; ``archives``: {field: archive name} for the messages. A field with
    no file at all while others have some raises FileNotFoundError naming the archive that provides it.
    """
    populated = {field: entries for field, entries in entries_by_field.items() if entries}
    for field, entries in entries_by_field.items():
        if not entries and populated:
            raise FileNotFoundError(
                f"No {field} files found for the listed {what}s; they come from {archives.get(field, '?')}."
            )
    all_names = set().union(*[set(e) for e in entries_by_field.values()]) if entries_by_field else set()
    paired = set.intersection(*[set(e) for e in entries_by_field.values()]) if entries_by_field else set()
    unpaired = sorted(all_names - paired)
    if unpaired:
        details = []
        for name in unpaired[:MAX_LISTED]:
            missing = [f for f, e in entries_by_field.items() if name not in e]
            details.append(f"{name} (missing {', '.join(missing)})")
        sources = ", ".join(sorted({archives.get(f, "?") for f, e in entries_by_field.items()}))
        if not skip_unpaired:
            raise ValueError(
                f"{len(unpaired)} unpaired files (an {what} without its label or the reverse), e.g. "
                f"{'; '.join(details)}. Check the unpacked archives ({sources}) or pass skip_unpaired=True."
            )
        warnings.warn(f"skip_unpaired=True: skipped {len(unpaired)} unpaired files, e.g. {'; '.join(details[:3])}.")
    return sorted(paired)


def seeded_split(names, fractions, seed):
    """Split sorted ``names`` into len(fractions) parts by a seeded permutation; each part is returned sorted.

    The last part takes the remainder so the parts always cover every name exactly once.
    """
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    parts, start = [], 0
    for i, fraction in enumerate(fractions):
        stop = len(names) if i == len(fractions) - 1 else start + int(round(fraction * len(names)))
        parts.append(sorted(names[j] for j in order[start:stop]))
        start = stop
    return parts


def train_val_split(names, split, val_fraction, seed):
    """``train`` / ``val`` / ``trainval`` of a seeded split (val gets round(val_fraction * n) names)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if split == "trainval":
        return sorted(names)
    val, train = seeded_split(names, (val_fraction, 1.0 - val_fraction), seed)
    return train if split == "train" else val


def collect_examples(names, paired, fields, read_boxes=None):
    """Examples for ``names`` that have every field, in that order.

    ``read_boxes(label_path, width, height)`` turns a ``detection`` field into the example's padded boxes (it needs
    the image size to normalise them).
    """
    examples = []
    for name in names:
        if name not in paired:
            continue
        files = {field: entries[name] for field, entries in fields.items()}
        boxes = None
        if read_boxes is not None and "detection" in files:
            info = png_info(files["image"])
            boxes = read_boxes(files.pop("detection"), info.width, info.height)
        examples.append(Example(name, files, boxes))
    return examples


class MotionIndex:
    """Vertens et al. motion masks under ``motion_root`` (any sub-folders), found by the image's file name."""

    def __init__(self, motion_root):
        if not os.path.isdir(motion_root):
            raise FileNotFoundError(
                f"motion_root={motion_root!r} does not exist (expected a folder of per-image motion PNGs "
                "named like the images, e.g. from Cityscapes-Motion / KITTI-Motion of Vertens et al.)."
            )
        self.paths = {}
        for folder, _, files in os.walk(motion_root):
            for file_name in files:
                if file_name.endswith(".png"):
                    self.paths.setdefault(file_name, os.path.join(folder, file_name))

    def lookup(self, image_paths):
        """{name: motion path} for {name: image path}, matched on the image's file name."""
        return {
            name: self.paths[os.path.basename(path)]
            for name, path in image_paths.items()
            if os.path.basename(path) in self.paths
        }


class Reader:
    """Base class: subclasses set the class attributes and implement ``list_examples``.

    Decoding attributes read by the pipeline:
      ``segmentation_lookup`` (table, known) arrays, ``depth_encoding`` in {"kitti_disparity",
      "cityscapes_disparity", "centimetres"}, ``num_classes``, ``class_names``, ``detection_classes``.
    """

    name = "base"
    splits = ("train", "val")
    tasks = ()
    frames = (1,)
    #: options this reader accepts with their defaults
    defaults = {}
    segmentation_lookup = None
    depth_encoding = None
    class_names = ()
    detection_classes = ()
    #: where the ``motion_root`` masks come from and one mask name, for the error when the option is missing
    motion_source = "Vertens et al. motion"
    motion_example = "000000_10.png"

    def __init__(self, root, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for dataset {self.name!r}; allowed: {sorted(self.defaults)}"
            )
        self.options = {**self.defaults, **options}
        if root is None or not os.path.isdir(root):
            raise FileNotFoundError(f"Dataset root {root!r} of {self.name!r} does not exist. {self.root_hint()}")
        self.root = os.path.abspath(root)

    @property
    def num_classes(self):
        return len(self.class_names)

    def root_hint(self):
        return ""

    def check_request(self, split, tasks, frames):
        if split not in self.splits:
            raise ValueError(f"Unknown split {split!r} for dataset {self.name!r}; allowed: {list(self.splits)}")
        unsupported = [t for t in tasks if t not in self.tasks]
        if unsupported:
            raise ValueError(
                f"Task(s) {unsupported} not available for dataset {self.name!r}; available: {list(self.tasks)}"
            )
        if frames not in self.frames:
            raise ValueError(f"frames={frames} not supported for dataset {self.name!r}; allowed: {list(self.frames)}")

    def list_examples(self, split, tasks, frames=1, depth_input=False):
        raise NotImplementedError

    def motion_masks(self, images):
        """{name: mask path} for {name: image path} from option ``motion_root``, matched on the file names."""
        if self.options.get("motion_root") is None:
            raise ValueError(
                f"Task 'motion' on {self.name} needs option motion_root= (a folder of {self.motion_source} masks "
                f"named like the images, e.g. {self.motion_example}; 0 static, >0 moving)."
            )
        return MotionIndex(self.options["motion_root"]).lookup(images)

    def camera(self, example):
        """{"focal": pixels, "baseline": metres} of an example, where the dataset provides calibration."""
        raise ValueError(f"Dataset {self.name!r} provides no stereo calibration.")
