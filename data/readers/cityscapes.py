"""Cityscapes reader (leftImg8bit, rightImg8bit, gtFine, gtCoarse, disparity, camera, leftImg8bit_sequence).

Layout (``{s}`` = train / val / test / train_extra, ``{id}`` = ``{city}_{seq:06d}_{frame:06d}``)::

    root/leftImg8bit/{s}/{city}/{id}_leftImg8bit.png            (leftImg8bit_trainvaltest.zip)
    root/rightImg8bit/{s}/{city}/{id}_rightImg8bit.png          (rightImg8bit_trainvaltest.zip)
    root/gtFine/{s}/{city}/{id}_gtFine_labelIds.png             (gtFine_trainvaltest.zip)
    root/gtFine/{s}/{city}/{id}_gtFine_polygons.json            (gtFine_trainvaltest.zip; detection boxes)
    root/gtFine/{s}/{city}/{id}_gtFine_instanceIds.png          (gtFine_trainvaltest.zip; evaluation, instance_ids_path)
    root/gtCoarse/{s}/{city}/{id}_gtCoarse_labelIds.png         (gtCoarse.zip; option coarse=True)
    root/disparity/{s}/{city}/{id}_disparity.png                (disparity_trainvaltest.zip; (p - 1) / 256, 0 invalid)
    root/camera/{s}/{city}/{id}_camera.json                     (camera_trainvaltest.zip)
    root/leftImg8bit_sequence/{s}/{city}/{city}_{seq}_{frame-1:06d}_leftImg8bit.png   (leftImg8bit_sequence_trainvaltest.zip)

The annotated frame is the 20th of its 30-frame snippet; the previous frame is frame number - 1.
labelIds -> 19 trainIds with cityscapesScripts' table (data/labels.py). Detection boxes: the bounding box of each
polygon of the instance classes person, rider, car, truck, bus, train, motorcycle, bicycle (ids 0..7 in that order);
"*group" polygons (crowds) are left out.
``split_scheme="leang"``: Leang et al. (2020) pool the 5000 fine images (train + val + test) and split them 60/20/20
with a seeded permutation into train / val / test.
"""
import json
import os

import numpy as np

from data import labels
from data.readers.base import (Example, Reader, list_files, missing_path_error, pair_up,
                               require_dir, seeded_split)

ARCHIVES = {
    "image": "leftImg8bit_trainvaltest.zip",
    "right_image": "rightImg8bit_trainvaltest.zip",
    "segmentation": "gtFine_trainvaltest.zip",
    "coarse": "gtCoarse.zip",
    "depth": "disparity_trainvaltest.zip",
    "detection": "gtFine_trainvaltest.zip",
    "camera": "camera_trainvaltest.zip",
    "previous_image": "leftImg8bit_sequence_trainvaltest.zip",
}


def boxes_from_polygons(path, classes=labels.CITYSCAPES_DETECTION_CLASSES):
    """(n, 5) float32 [ymin, xmin, ymax, xmax, class] normalised by imgHeight/imgWidth of a gtFine polygons json."""
    with open(path) as handle:
        annotation = json.load(handle)
    height, width = float(annotation["imgHeight"]), float(annotation["imgWidth"])
    rows = []
    for obj in annotation.get("objects", []):
        if obj.get("deleted") or obj.get("label") not in classes:
            continue
        polygon = np.asarray(obj["polygon"], np.float64).reshape(-1, 2)
        box = np.clip([polygon[:, 1].min() / height, polygon[:, 0].min() / width,
                       polygon[:, 1].max() / height, polygon[:, 0].max() / width], 0.0, 1.0)
        if box[2] > box[0] and box[3] > box[1]:
            rows.append([*box, classes.index(obj["label"])])
    return np.asarray(rows, np.float32).reshape(-1, 5)


def read_camera_json(path):
    """{"focal": intrinsic.fx (pixels), "baseline": extrinsic.baseline (metres)} of a Cityscapes camera json."""
    with open(path) as handle:
        camera = json.load(handle)
    return {"focal": float(camera["intrinsic"]["fx"]), "baseline": float(camera["extrinsic"]["baseline"])}


class CityscapesReader(Reader):
    name = "cityscapes"
    tasks = ("segmentation", "depth", "motion", "right_image", "detection", "colorization")
    frames = (1, 2)
    defaults = {"split_scheme": "official", "coarse": False, "seed": 0, "motion_root": None, "skip_unpaired": False}
    motion_source = "Cityscapes-Motion"
    motion_example = "aachen_000000_000019_leftImg8bit.png"
    segmentation_lookup = labels.cityscapes_lookup()
    depth_encoding = "cityscapes_disparity"
    class_names = labels.CITYSCAPES_CLASSES
    detection_classes = labels.CITYSCAPES_DETECTION_CLASSES

    def __init__(self, root, **options):
        super().__init__(root, **options)
        scheme = self.options["split_scheme"]
        if scheme == "official":
            self.splits = ("train", "val", "test", "train_extra")
        elif scheme == "leang":
            self.splits = ("train", "val", "test")
        else:
            raise ValueError(f"split_scheme must be 'official' or 'leang', got {scheme!r}")

    def root_hint(self):
        return "Expected leftImg8bit/, gtFine/, ... from the official Cityscapes archives unpacked into it."

    def _collect(self, top, folders, suffix, archive):
        """{id: path} over top/{folder}/{city}/*{suffix} for the given split folders."""
        entries = {}
        for folder in folders:
            split_dir = require_dir(os.path.join(self.root, top, folder), archive)
            for city in sorted(os.listdir(split_dir)):
                city_dir = os.path.join(split_dir, city)
                if os.path.isdir(city_dir):
                    entries.update(list_files(city_dir, suffix))
        return entries

    def list_examples(self, split, tasks, frames=1, depth_input=False):
        self.check_request(split, tasks, frames)
        leang = self.options["split_scheme"] == "leang"
        folders = ("train", "val", "test") if leang else (split,)
        images = self._collect("leftImg8bit", folders, "_leftImg8bit.png", ARCHIVES["image"])
        fields, archives = {"image": images}, {"image": ARCHIVES["image"]}
        if leang:
            fine = self._collect("gtFine", folders, "_gtFine_labelIds.png", ARCHIVES["segmentation"])
            # the 5000 finely annotated images define the pool, whatever tasks are requested
            pool = sorted(set(images) & set(fine))
            parts = dict(zip(("train", "val", "test"), seeded_split(pool, (0.6, 0.2, 0.2), self.options["seed"])))
            chosen = set(parts[split])
            images = {name: path for name, path in images.items() if name in chosen}
            fields["image"] = images
        if "segmentation" in tasks:
            if self.options["coarse"]:
                fields["segmentation"] = self._collect("gtCoarse", folders, "_gtCoarse_labelIds.png", ARCHIVES["coarse"])
                archives["segmentation"] = ARCHIVES["coarse"]
            else:
                fields["segmentation"] = self._collect("gtFine", folders, "_gtFine_labelIds.png", ARCHIVES["segmentation"])
                archives["segmentation"] = ARCHIVES["segmentation"]
        if "depth" in tasks or depth_input:
            fields["depth"] = self._collect("disparity", folders, "_disparity.png", ARCHIVES["depth"])
            archives["depth"] = ARCHIVES["depth"]
        if "right_image" in tasks:
            fields["right_image"] = self._collect("rightImg8bit", folders, "_rightImg8bit.png", ARCHIVES["right_image"])
            archives["right_image"] = ARCHIVES["right_image"]
        if "detection" in tasks:
            fields["detection"] = self._collect("gtFine", folders, "_gtFine_polygons.json", ARCHIVES["detection"])
            archives["detection"] = ARCHIVES["detection"]
        if "motion" in tasks:
            fields["motion"] = self.motion_masks(images)
            archives["motion"] = "motion_root"
        if frames == 2:
            sequence_root = os.path.join(self.root, "leftImg8bit_sequence")
            if not os.path.isdir(sequence_root):
                raise missing_path_error(sequence_root, ARCHIVES["previous_image"])
            fields["previous_image"] = {}
            for name, path in images.items():
                previous = self._previous_frame_path(path)
                if os.path.isfile(previous):
                    fields["previous_image"][name] = previous
            archives["previous_image"] = ARCHIVES["previous_image"]
        if leang:
            fields = {f: {n: p for n, p in e.items() if n in images} for f, e in fields.items()}
        paired = pair_up(fields, self.options["skip_unpaired"], archives)
        examples = []
        for name in paired:
            files = {field: entries[name] for field, entries in fields.items()}
            boxes = boxes_from_polygons(files.pop("detection")) if "detection" in files else None
            examples.append(Example(name, files, boxes))
        return examples

    @staticmethod
    def _previous_frame_path(image_path):
        split_dir, city = os.path.split(os.path.dirname(image_path))
        split = os.path.basename(split_dir)
        root = os.path.dirname(os.path.dirname(split_dir))
        city_name, sequence, frame = os.path.basename(image_path)[: -len("_leftImg8bit.png")].rsplit("_", 2)
        file_name = f"{city_name}_{sequence}_{int(frame) - 1:06d}_leftImg8bit.png"
        return os.path.join(root, "leftImg8bit_sequence", split, city, file_name)

    def _beside_image(self, example, top, suffix, archive):
        """``root/{top}/{split}/{city}/{id}{suffix}`` of the example's image; FileNotFoundError naming `archive`."""
        image_path = example.files["image"]
        split_dir, city = os.path.split(os.path.dirname(image_path))
        name = os.path.basename(image_path)[: -len("_leftImg8bit.png")]
        path = os.path.join(self.root, top, os.path.basename(split_dir), city, name + suffix)
        if not os.path.isfile(path):
            raise missing_path_error(path, ARCHIVES[archive])
        return path

    def camera(self, example):
        return read_camera_json(self._beside_image(example, "camera", "_camera.json", "camera"))

    def instance_ids_path(self, example):
        """The example's ``gtFine/{split}/{city}/{id}_gtFine_instanceIds.png`` (FileNotFoundError when absent).

        The official pixel-level evaluation reads it beside each labelIds file for the instance-level scores (iIoU,
        metrics.cityscapes). A method rather than an ``Example.files`` field: the tf.data pipeline decodes every
        field of ``files`` (data/pipeline.py ``_records``), and instance maps are for evaluation, not training.
        Found from the image's split and city, so it works whatever tasks (or ``coarse``) the example was listed with.
        """
        return self._beside_image(example, "gtFine", "_gtFine_instanceIds.png", "segmentation")
