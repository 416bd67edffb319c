"""Miniature dataset trees in the official on-disk layouts, for the reader and pipeline tests and the benchmark.

Every builder writes tiny PNGs (numpy + zlib, so 16-bit and 3-channel 16-bit files are exact) and returns the
arrays it wrote, keyed by example name, so tests can compare decoded values with hand-made ones.
"""
import json
import os
import struct
import zlib

import numpy as np

KITTI_SIZES = ((40, 120), (37, 118))  # (height, width): KITTI sizes differ by recording day
CITYSCAPES_LABEL_IDS = (0, 4, 7, 8, 11, 21, 23, 24, 26, 33)
CITYSCAPES_CITIES = {"train": ("aachen", "bonn"), "val": ("frankfurt", "lindau"), "test": ("berlin", "bielefeld")}


def write_png(path, array):
    """Write a uint8/uint16 array (H, W) or (H, W, C) with C in {1, 3} as a PNG, exactly (no scaling)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    height, width, channels = array.shape
    color_type = {1: 0, 3: 2}[channels]
    bit_depth = 16 if array.dtype == np.uint16 else 8
    raw = array.astype(">u2" if bit_depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), raw.reshape(height, -1)], axis=1)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
                     + chunk(b"IEND", b""))


def random_image(rng, height, width):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def kitti_tree(root, count=8, sizes=KITTI_SIZES, seed=0, semantic=True, disparity=True, right=True,
               previous=True, calib=True, testing=2):
    """KITTI semantics + stereo 2015 layout. Returns {name: {"image", "semantic", "disparity_raw", ...}}."""
    rng = np.random.default_rng(seed)
    training = os.path.join(root, "training")
    written = {}
    for index in range(count):
        name = f"{index:06d}_10"
        height, width = sizes[index % len(sizes)]
        entry = {"image": random_image(rng, height, width)}
        write_png(os.path.join(training, "image_2", name + ".png"), entry["image"])
        if previous:
            entry["previous"] = random_image(rng, height, width)
            write_png(os.path.join(training, "image_2", f"{index:06d}_09.png"), entry["previous"])
            # the multiview archive also holds other frames that must not be listed as examples
            write_png(os.path.join(training, "image_2", f"{index:06d}_11.png"), random_image(rng, height, width))
        if right:
            entry["right"] = random_image(rng, height, width)
            write_png(os.path.join(training, "image_3", name + ".png"), entry["right"])
        if semantic:
            entry["semantic"] = rng.choice(CITYSCAPES_LABEL_IDS, (height, width)).astype(np.uint8)
            write_png(os.path.join(training, "semantic", name + ".png"), entry["semantic"])
        if disparity:
            raw = rng.integers(1, 100 * 256, (height, width)).astype(np.uint16)
            raw[rng.random((height, width)) < 0.3] = 0
            entry["disparity_raw"] = raw
            write_png(os.path.join(training, "disp_occ_0", name + ".png"), raw)
            write_png(os.path.join(training, "disp_noc_0", name + ".png"), np.where(raw > 5000, 0, raw).astype(np.uint16))
        if calib:
            os.makedirs(os.path.join(training, "calib_cam_to_cam"), exist_ok=True)
            with open(os.path.join(training, "calib_cam_to_cam", f"{index:06d}.txt"), "w") as handle:
                handle.write("calib_time: 09-Jan-2012 13:57:47\n")
                handle.write("P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 "
                             "7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 "
                             "2.745884e-03\n")
                handle.write("P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 "
                             "7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 "
                             "2.729905e-03\n")
        written[name] = entry
    for index in range(testing):
        height, width = sizes[0]
        write_png(os.path.join(root, "testing", "image_2", f"{index:06d}_10.png"), random_image(rng, height, width))
    return written


def kitti_object_tree(root, count=6, sizes=KITTI_SIZES, seed=0):
    """KITTI object layout with one Car, one Van, one DontCare per image. Returns {name: {"image", "lines"}}."""
    rng = np.random.default_rng(seed)
    written = {}
    for index in range(count):
        name = f"{index:06d}"
        height, width = sizes[index % len(sizes)]
        image = random_image(rng, height, width)
        write_png(os.path.join(root, "training", "image_2", name + ".png"), image)
        write_png(os.path.join(root, "training", "image_3", name + ".png"), random_image(rng, height, width))
        lines = [
            "Car 0.00 0 -1.58 10.00 5.00 50.00 25.00 1.67 1.87 3.69 -16.53 2.39 58.49 1.57",
            "Van 0.00 0 1.85 60.00 10.00 90.00 30.00 1.67 1.87 3.69 -16.53 2.39 58.49 1.57",
            "DontCare -1 -1 -10 0.00 0.00 5.00 5.00 -1 -1 -1 -1000 -1000 -1000 -10",
        ]
        os.makedirs(os.path.join(root, "training", "label_2"), exist_ok=True)
        with open(os.path.join(root, "training", "label_2", name + ".txt"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        written[name] = {"image": image, "size": (height, width)}
    return written


def cityscapes_tree(root, counts=None, size=(32, 64), seed=0, coarse=True, sequence=True):
    """Cityscapes layout; ``counts`` {split: images} (default train 4, val 2, test 2), two cities per split.

    Each image has a car polygon (class 2) and a person polygon (class 0) plus a 'cargroup' crowd polygon.
    Returns {name: {"image", "label", "disparity_raw", "split", "polygons"}}.
    """
    counts = counts or {"train": 4, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    height, width = size
    written = {}
    for split, count in counts.items():
        for index in range(count):
            city = CITYSCAPES_CITIES.get(split, (split + "city", split + "town"))[index % 2]
            name = f"{city}_{index:06d}_000019"

            def path(top, suffix, file_name=name):
                return os.path.join(root, top, split, city, f"{file_name}_{suffix}")

            entry = {"split": split, "image": random_image(rng, height, width)}
            write_png(path("leftImg8bit", "leftImg8bit.png"), entry["image"])
            write_png(path("rightImg8bit", "rightImg8bit.png"), random_image(rng, height, width))
            entry["label"] = rng.choice(CITYSCAPES_LABEL_IDS, (height, width)).astype(np.uint8)
            write_png(path("gtFine", "gtFine_labelIds.png"), entry["label"])
            if coarse:
                write_png(path("gtCoarse", "gtCoarse_labelIds.png"), np.full((height, width), 7, np.uint8))
            raw = rng.integers(0, 60 * 256, (height, width)).astype(np.uint16)
            entry["disparity_raw"] = raw
            write_png(path("disparity", "disparity.png"), raw)
            polygons = {
                "imgHeight": height, "imgWidth": width,
                "objects": [
                    {"label": "car", "polygon": [[8, 4], [24, 6], [20, 16]]},
                    {"label": "person", "polygon": [[40, 10], [48, 10], [48, 30], [40, 30]]},
                    {"label": "cargroup", "polygon": [[0, 0], [4, 0], [4, 4]]},
                    {"label": "road", "polygon": [[0, 20], [63, 20], [63, 31]]},
                ],
            }
            with open(path("gtFine", "gtFine_polygons.json"), "w") as handle:
                json.dump(polygons, handle)
            os.makedirs(os.path.dirname(path("camera", "camera.json")), exist_ok=True)
            with open(path("camera", "camera.json"), "w") as handle:
                json.dump({"extrinsic": {"baseline": 0.209313}, "intrinsic": {"fx": 2262.52, "fy": 2265.30}}, handle)
            if sequence:
                entry["previous"] = random_image(rng, height, width)
                write_png(path("leftImg8bit_sequence", "leftImg8bit.png", f"{city}_{index:06d}_000018"),
                          entry["previous"])
                write_png(path("leftImg8bit_sequence", "leftImg8bit.png"), entry["image"])
            written[name] = entry
    return written


def synthia_tree(root, sequences=("SYNTHIA-SEQS-02-SPRING", "SYNTHIA-SEQS-02-NIGHT", "SYNTHIA-SEQS-05-SPRING"),
                 frames=3, size=(24, 40), seed=0):
    """SYNTHIA-SEQS layout: 3-channel uint16 depth (cm) and 3-channel 16-bit labels (id in channel 0).

    Returns {"{sequence}/{frame}": {"image", "labels", "depth_cm"}}.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    written = {}
    for sequence in sequences:
        for frame in range(frames):
            file_name = f"{frame:06d}.png"

            def path(*parts):
                return os.path.join(root, sequence, *parts, "Omni_F", file_name)

            entry = {"image": random_image(rng, height, width)}
            write_png(path("RGB", "Stereo_Left"), entry["image"])
            write_png(path("RGB", "Stereo_Right"), random_image(rng, height, width))
            depth = rng.integers(0, 50000, (height, width)).astype(np.uint16)
            entry["depth_cm"] = depth
            write_png(path("Depth", "Stereo_Left"), np.repeat(depth[..., None], 3, axis=-1))
            ids = rng.integers(0, 16, (height, width)).astype(np.uint16)
            entry["labels"] = ids
            instance = rng.integers(0, 1000, (height, width)).astype(np.uint16)
            write_png(path("GT", "LABELS", "Stereo_Left"), np.stack([ids, instance, np.zeros_like(ids)], axis=-1))
            written[f"{sequence}/{frame:06d}"] = entry
    return written


def woodscape_tree(root, count=6, size=(30, 48), seed=0):
    """WoodScape layout. Returns {name: {"image", "previous", "semantic", "motion", "boxes"}}."""
    rng = np.random.default_rng(seed)
    height, width = size
    written = {}
    for index in range(count):
        name = f"{index:05d}_{('FV', 'MVL', 'MVR', 'RV')[index % 4]}"
        entry = {"image": random_image(rng, height, width), "previous": random_image(rng, height, width)}
        write_png(os.path.join(root, "rgb_images", name + ".png"), entry["image"])
        write_png(os.path.join(root, "previous_images", name + "_prev.png"), entry["previous"])
        entry["semantic"] = rng.integers(0, 10, (height, width)).astype(np.uint8)
        write_png(os.path.join(root, "semantic_annotations", "gtLabels", name + ".png"), entry["semantic"])
        entry["motion"] = rng.choice([0, 0, 1, 255], (height, width)).astype(np.uint8)
        write_png(os.path.join(root, "motion_annotations", "gtLabels", name + ".png"), entry["motion"])
        os.makedirs(os.path.join(root, "box_2d_annotations"), exist_ok=True)
        with open(os.path.join(root, "box_2d_annotations", name + ".txt"), "w") as handle:
            handle.write("vehicles,0,12,3,36,15\nperson,1,0,10,6,30\n")
        written[name] = entry
    return written


def motion_tree(root, names_and_shapes, seed=0):
    """Vertens-style motion masks (0 static, >0 moving) named like the images, in a nested folder."""
    rng = np.random.default_rng(seed)
    written = {}
    for file_name, (height, width) in names_and_shapes.items():
        mask = rng.choice([0, 0, 1, 255], (height, width)).astype(np.uint8)
        write_png(os.path.join(root, "masks", file_name), mask)
        written[file_name] = mask
    return written
