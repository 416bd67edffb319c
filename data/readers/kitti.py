"""KITTI semantics + stereo 2015 reader (data_semantics.zip and data_scene_flow.zip unpacked into one root).

Layout (both archives share the 200 scenes and file names)::

    root/training/image_2/000000_10.png      left, labelled frame t          (data_semantics / data_scene_flow)
    root/training/image_2/000000_09.png      frame t-1 for 2-frame models    (data_scene_flow_multiview)
    root/training/image_3/000000_10.png      right                           (data_scene_flow)
    root/training/semantic/000000_10.png     8-bit Cityscapes labelIds       (data_semantics)
    root/training/disp_occ_0/000000_10.png   uint16, disparity = v / 256, 0 invalid (data_scene_flow)
    root/training/disp_noc_0/000000_10.png   same, non-occluded pixels only  (data_scene_flow)
    root/training/calib_cam_to_cam/000000.txt                                (data_scene_flow_calib)
    root/testing/image_2/000000_10.png       unlabelled test images

Only the 200 training images carry labels; ``train``/``val`` are a seeded split of them (val_fraction=0.15 gives
Novosel et al.'s 170/30), ``trainval`` is all 200, ``test`` the unlabelled testing images.
"""
import os

import numpy as np

from data import labels
from data.readers.base import Example, Reader, list_files, pair_up, require_dir, train_val_split

SEMANTICS_ARCHIVE = "data_semantics.zip"
STEREO_ARCHIVE = "data_scene_flow.zip"
MULTIVIEW_ARCHIVE = "data_scene_flow_multiview.zip (image_2/*_09.png)"
CALIB_ARCHIVE = "data_scene_flow_calib.zip"


def read_calibration_file(path):
    """{key: float array} of a KITTI calibration text file ("KEY: v1 v2 ..." lines; non-numeric lines skipped)."""
    values = {}
    with open(path) as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            try:
                values[key.strip()] = np.array([float(v) for v in rest.split()], np.float64)
            except ValueError:
                continue
    return values


def read_cam_to_cam(path):
    """Focal length (pixels) and baseline (metres) of the rectified left/right colour cameras (02/03).

    focal = P_rect_02[0, 0]; baseline = (P_rect_02[0, 3] - P_rect_03[0, 3]) / focal, falling back to
    |T_03 - T_02| when the rectified projections are absent.
    """
    calib = read_calibration_file(path)
    if "P_rect_02" in calib and "P_rect_03" in calib:
        p2, p3 = calib["P_rect_02"].reshape(3, 4), calib["P_rect_03"].reshape(3, 4)
        focal = p2[0, 0]
        return {"focal": float(focal), "baseline": float((p2[0, 3] - p3[0, 3]) / focal)}
    if "K_02" in calib and "T_02" in calib and "T_03" in calib:
        return {
            "focal": float(calib["K_02"][0]),
            "baseline": float(np.linalg.norm(calib["T_03"] - calib["T_02"])),
        }
    raise ValueError(f"{path}: no P_rect_02/P_rect_03 (or K_02, T_02, T_03) entries; is it a calib_cam_to_cam file?")


class KittiReader(Reader):
    name = "kitti"
    splits = ("train", "val", "trainval", "test")
    tasks = ("segmentation", "depth", "motion", "right_image", "colorization")
    frames = (1, 2)
    defaults = {"val_fraction": 0.15, "seed": 0, "disparity": "occ", "motion_root": None, "skip_unpaired": False}
    motion_source = "KITTI-Motion"
    segmentation_lookup = labels.cityscapes_lookup()
    depth_encoding = "kitti_disparity"
    class_names = labels.CITYSCAPES_CLASSES

    def root_hint(self):
        return f"Expected training/ and testing/ from {SEMANTICS_ARCHIVE} and {STEREO_ARCHIVE} unpacked into it."

    def list_examples(self, split, tasks, frames=1, depth_input=False):
        self.check_request(split, tasks, frames)
        if self.options["disparity"] not in ("occ", "noc"):
            raise ValueError(f"disparity must be 'occ' (disp_occ_0) or 'noc' (disp_noc_0), got {self.options['disparity']!r}")
        labelled_tasks = [t for t in tasks if t in ("segmentation", "depth", "motion")]
        if split == "test" and (labelled_tasks or depth_input):
            raise ValueError(f"split 'test' of {self.name!r} has no labels; tasks {labelled_tasks} need split in "
                             "['train', 'val', 'trainval']")
        base = require_dir(os.path.join(self.root, "testing" if split == "test" else "training"),
                           f"{SEMANTICS_ARCHIVE} / {STEREO_ARCHIVE}")
        image_dir = require_dir(os.path.join(base, "image_2"), f"{SEMANTICS_ARCHIVE} or {STEREO_ARCHIVE}")
        all_images = list_files(image_dir, ".png")
        images = {name: path for name, path in all_images.items() if name.endswith("_10")}
        fields, archives = {"image": images}, {"image": f"{SEMANTICS_ARCHIVE} / {STEREO_ARCHIVE}"}

        def add(field, folder, archive, keep_labelled_frames=True):
            entries = list_files(require_dir(os.path.join(base, folder), archive), ".png")
            if keep_labelled_frames:
                entries = {n: p for n, p in entries.items() if n.endswith("_10")}
            fields[field], archives[field] = entries, archive

        if "segmentation" in tasks:
            add("segmentation", "semantic", SEMANTICS_ARCHIVE)
        if "depth" in tasks or depth_input:
            add("depth", f"disp_{self.options['disparity']}_0", STEREO_ARCHIVE)
        if "right_image" in tasks:
            add("right_image", "image_3", STEREO_ARCHIVE)
        if "motion" in tasks:
            fields["motion"] = self.motion_masks(images)
            archives["motion"] = "motion_root"
        if frames == 2:
            fields["previous_image"] = {
                name: all_images[name[:-3] + "_09"] for name in images if name[:-3] + "_09" in all_images
            }
            archives["previous_image"] = MULTIVIEW_ARCHIVE
        paired = set(pair_up(fields, self.options["skip_unpaired"], archives))
        if split != "test":
            # split over every labelled frame on disk so the split does not depend on the requested tasks
            chosen = train_val_split(images, split, self.options["val_fraction"], self.options["seed"])
        else:
            chosen = sorted(images)
        return [
            Example(name, {field: entries[name] for field, entries in fields.items()})
            for name in chosen
            if name in paired
        ]

    def camera(self, example):
        name = example.name if isinstance(example, Example) else str(example)
        path = os.path.join(self.root, "training", "calib_cam_to_cam", name.split("_")[0] + ".txt")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Expected {path} (provided by {CALIB_ARCHIVE}).")
        return read_cam_to_cam(path)
