"""KITTI object detection reader (data_object_image_2/_3, data_object_label_2, data_object_calib).

Layout::

    root/training/image_2/000000.png   left image      (data_object_image_2.zip)
    root/training/image_3/000000.png   right image     (data_object_image_3.zip)
    root/training/label_2/000000.txt   15 space-separated columns per object (data_object_label_2.zip)
    root/training/calib/000000.txt     P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo (data_object_calib.zip)
    root/testing/image_2/...           unlabelled

label_2 columns: type, truncated, occluded, alpha, bbox left top right bottom (pixels), height width length (m),
x y z (camera coords, m), rotation_y (a 16th column, score, appears in result files). Detection classes are
Car, Pedestrian, Cyclist (ids 0, 1, 2); ``merge_classes=True`` also maps Van -> Car and Person_sitting ->
Pedestrian (or pass your own {type: class} dict); DontCare and every other type are dropped.
``train``/``val`` are a seeded split of the training images.
"""
import os

import numpy as np

from data import labels
from data.readers.base import Example, Reader, collect_examples, list_files, pair_up, require_dir, train_val_split
from data.readers.kitti import read_calibration_file

LABEL_COLUMNS = ("type", "truncated", "occluded", "alpha", "left", "top", "right", "bottom",
                 "height", "width", "length", "x", "y", "z", "rotation_y")


def parse_label_file(path):
    """List of dicts (keys LABEL_COLUMNS, plus 'score' when present) of a KITTI label_2 file."""
    objects = []
    with open(path) as handle:
        for line_number, line in enumerate(handle, 1):
            columns = line.split()
            if not columns:
                continue
            if len(columns) not in (15, 16):
                raise ValueError(f"{path}:{line_number}: expected 15 (or 16 with score) columns, got {len(columns)}")
            obj = {"type": columns[0]}
            obj.update({key: float(value) for key, value in zip(LABEL_COLUMNS[1:], columns[1:15])})
            if len(columns) == 16:
                obj["score"] = float(columns[15])
            objects.append(obj)
    return objects


def boxes_from_objects(objects, image_width, image_height, class_map):
    """(n, 5) float32 [ymin, xmin, ymax, xmax, class] normalised to [0, 1]; types not in class_map are dropped."""
    rows = []
    for obj in objects:
        class_name = class_map.get(obj["type"])
        if class_name is None:
            continue
        box = [obj["top"] / image_height, obj["left"] / image_width,
               obj["bottom"] / image_height, obj["right"] / image_width]
        box = np.clip(box, 0.0, 1.0)
        if box[2] > box[0] and box[3] > box[1]:
            rows.append([*box, labels.KITTI_OBJECT_CLASSES.index(class_name)])
    return np.asarray(rows, np.float32).reshape(-1, 5)


class KittiObjectReader(Reader):
    name = "kitti_object"
    splits = ("train", "val", "trainval", "test")
    tasks = ("detection", "right_image", "colorization")
    defaults = {"val_fraction": 0.15, "seed": 0, "merge_classes": False, "skip_unpaired": False}
    detection_classes = labels.KITTI_OBJECT_CLASSES

    def root_hint(self):
        return "Expected training/ and testing/ from data_object_image_2.zip and data_object_label_2.zip."

    def class_map(self):
        merge = self.options["merge_classes"]
        mapping = {name: name for name in labels.KITTI_OBJECT_CLASSES}
        if merge is True:
            mapping.update(labels.KITTI_OBJECT_MERGE)
        elif isinstance(merge, dict):
            unknown = sorted(set(merge.values()) - set(labels.KITTI_OBJECT_CLASSES))
            if unknown:
                raise ValueError(f"merge_classes maps onto {unknown}; allowed targets: {labels.KITTI_OBJECT_CLASSES}")
            mapping.update(merge)
        elif merge is not False:
            raise ValueError(f"merge_classes must be True, False or a dict, got {merge!r}")
        return mapping

    def list_examples(self, split, tasks, frames=1, depth_input=False):
        self.check_request(split, tasks, frames)
        if depth_input:
            raise ValueError("kitti_object has no depth; depth_input=True is not available.")
        if split == "test" and "detection" in tasks:
            raise ValueError("split 'test' of 'kitti_object' has no labels; use 'train', 'val' or 'trainval'.")
        base = require_dir(os.path.join(self.root, "testing" if split == "test" else "training"),
                           "data_object_image_2.zip")
        images = list_files(require_dir(os.path.join(base, "image_2"), "data_object_image_2.zip"), ".png")
        fields, archives = {"image": images}, {"image": "data_object_image_2.zip"}
        if "detection" in tasks:
            fields["detection"] = list_files(require_dir(os.path.join(base, "label_2"), "data_object_label_2.zip"), ".txt")
            archives["detection"] = "data_object_label_2.zip"
        if "right_image" in tasks:
            fields["right_image"] = list_files(require_dir(os.path.join(base, "image_3"), "data_object_image_3.zip"), ".png")
            archives["right_image"] = "data_object_image_3.zip"
        paired = set(pair_up(fields, self.options["skip_unpaired"], archives))
        chosen = sorted(images) if split == "test" else train_val_split(
            images, split, self.options["val_fraction"], self.options["seed"])
        class_map = self.class_map() if "detection" in tasks else None
        return collect_examples(chosen, paired, fields, read_boxes=lambda path, width, height: boxes_from_objects(
            parse_label_file(path), width, height, class_map))

    def camera(self, example):
        name = example.name if isinstance(example, Example) else str(example)
        path = os.path.join(self.root, "training", "calib", name + ".txt")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Expected {path} (provided by data_object_calib.zip).")
        calib = read_calibration_file(path)
        p2, p3 = calib["P2"].reshape(3, 4), calib["P3"].reshape(3, 4)
        return {"focal": float(p2[0, 0]), "baseline": float((p2[0, 3] - p3[0, 3]) / p2[0, 0])}
