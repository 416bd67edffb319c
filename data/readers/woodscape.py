"""WoodScape reader (Yogamani et al. 2019), fisheye images of four cameras (FV, MVL, MVR, RV).

Layout (``{id}`` like ``00000_FV``)::

    root/rgb_images/{id}.png                         (rgb_images.zip)
    root/previous_images/{id}_prev.png               (previous_images.zip; frame t-1)
    root/semantic_annotations/gtLabels/{id}.png      10 classes, ids 0..9 kept (semantic_annotations.zip)
    root/motion_annotations/gtLabels/{id}.png        0 static, > 0 moving -> 1 (motion_annotations.zip)
    root/box_2d_annotations/{id}.txt                 csv lines class_name,class_id,x1,y1,x2,y2 in pixels
                                                     (box_2d_annotations.zip); class_id is used as it is

``train``/``val`` are a seeded split (val_fraction, seed) of every image in rgb_images. ``split_scheme="leang"``
gives Leang et al.'s (2020) split instead: "6K training, 2K validation and 2K test images", i.e. 60/20/20 of every
image by a seeded permutation, as ``train`` / ``val`` / ``test`` (the paper does not publish its lists).
"""
import os

import numpy as np

from data import labels
from data.readers.base import (Reader, collect_examples, list_files, pair_up, require_dir, seeded_split,
                               train_val_split)

FOLDERS = {
    "image": (("rgb_images",), ".png", "rgb_images.zip"),
    "previous_image": (("previous_images",), "_prev.png", "previous_images.zip"),
    "segmentation": (("semantic_annotations", "gtLabels"), ".png", "semantic_annotations.zip"),
    "motion": (("motion_annotations", "gtLabels"), ".png", "motion_annotations.zip"),
    "detection": (("box_2d_annotations",), ".txt", "box_2d_annotations.zip"),
}
#: WoodScape 2D box classes by class_id as in the box_2d_annotations files.
WOODSCAPE_DETECTION_CLASSES = ("vehicles", "person", "bicycle", "traffic_light", "traffic_sign")


def parse_box_file(path, image_width, image_height):
    """(n, 5) float32 [ymin, xmin, ymax, xmax, class_id] normalised, from class_name,class_id,x1,y1,x2,y2 lines."""
    rows = []
    with open(path) as handle:
        for line_number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            columns = [c.strip() for c in line.split(",")]
            if len(columns) != 6:
                raise ValueError(f"{path}:{line_number}: expected class_name,class_id,x1,y1,x2,y2, got {line!r}")
            class_id = int(columns[1])
            x1, y1, x2, y2 = (float(v) for v in columns[2:])
            box = np.clip([min(y1, y2) / image_height, min(x1, x2) / image_width,
                           max(y1, y2) / image_height, max(x1, x2) / image_width], 0.0, 1.0)
            if box[2] > box[0] and box[3] > box[1]:
                rows.append([*box, class_id])
    return np.asarray(rows, np.float32).reshape(-1, 5)


class WoodscapeReader(Reader):
    name = "woodscape"
    splits = ("train", "val", "trainval")
    tasks = ("segmentation", "motion", "detection", "colorization")
    frames = (1, 2)
    defaults = {"val_fraction": 0.15, "seed": 0, "split_scheme": "seeded", "skip_unpaired": False}
    LEANG_FRACTIONS = (0.6, 0.2, 0.2)
    segmentation_lookup = labels.woodscape_lookup()
    class_names = labels.WOODSCAPE_CLASSES
    detection_classes = WOODSCAPE_DETECTION_CLASSES

    def __init__(self, root, **options):
        super().__init__(root, **options)
        scheme = self.options["split_scheme"]
        if scheme == "leang":
            self.splits = ("train", "val", "test")
        elif scheme != "seeded":
            raise ValueError(f"split_scheme must be 'seeded' (val_fraction) or 'leang' (60/20/20), got {scheme!r}")

    def root_hint(self):
        return "Expected rgb_images/, semantic_annotations/, ... from the WoodScape archives unpacked into it."

    def list_examples(self, split, tasks, frames=1, depth_input=False):
        self.check_request(split, tasks, frames)
        if depth_input:
            raise ValueError("woodscape has no depth; depth_input=True is not available.")
        wanted = ["image"] + [t for t in ("segmentation", "motion", "detection") if t in tasks]
        if frames == 2:
            wanted.append("previous_image")
        fields, archives = {}, {}
        for field in wanted:
            folders, suffix, archive = FOLDERS[field]
            fields[field] = list_files(require_dir(os.path.join(self.root, *folders), archive), suffix)
            archives[field] = archive
        paired = set(pair_up(fields, self.options["skip_unpaired"], archives))
        if self.options["split_scheme"] == "leang":
            parts = seeded_split(fields["image"], self.LEANG_FRACTIONS, self.options["seed"])
            chosen = dict(zip(("train", "val", "test"), parts))[split]
        else:
            chosen = train_val_split(fields["image"], split, self.options["val_fraction"], self.options["seed"])
        return collect_examples(chosen, paired, fields, read_boxes=parse_box_file)
