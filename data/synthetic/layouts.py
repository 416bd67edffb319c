"""Writes rendered scenes as the official on-disk trees of KITTI, KITTI object, Cityscapes, SYNTHIA-SEQS and WoodScape.

The trees and encodings are those of the official archives, so the dataset readers read synthetic and real data
through the same code:

kitti (data_semantics + data_scene_flow + multiview + calib, all under training/):
    image_2/{i:06d}_10.png (left), image_2/{i:06d}_09.png (frame t-1), image_3/{i:06d}_10.png (right),
    semantic/{i:06d}_10.png (8-bit Cityscapes labelIds), semantic_rgb/ (Cityscapes colours),
    instance/{i:06d}_10.png (16-bit labelId * 256 + instance), disp_occ_0/ and disp_noc_0/{i:06d}_10.png
    (16-bit disparity * 256, 0 invalid: sky, farther than max_depth, and for noc also occluded in the right view),
    calib_cam_to_cam/{i:06d}.txt; motion masks (0 static, 255 moving) in {motion_dir}/{i:06d}_10.png.
kitti_object: training/image_2/{i:06d}.png, label_2/{i:06d}.txt (15 columns; Car, Pedestrian, DontCare),
    calib/{i:06d}.txt (P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo).
cityscapes: leftImg8bit, rightImg8bit, gtFine (labelIds, instanceIds, color, polygons.json), disparity
    ((p - 1) / 256, 0 invalid), camera json, leftImg8bit_sequence (frame 000018 before the annotated 000019);
    motion masks named like the left image in {motion_dir}/{split}/{city}/.
synthia: SYNTHIA-SEQS-02-SPRING (train) and SYNTHIA-SEQS-05-SPRING (val), each one continuous drive:
    RGB/Stereo_{Left,Right}/Omni_F/{i:06d}.png, Depth/Stereo_Left/Omni_F/{i:06d}.png (16-bit centimetres, three
    equal channels), GT/LABELS/Stereo_Left/Omni_F/{i:06d}.png (16-bit, 3 channels: class id, instance id, 0),
    motion masks in {motion_dir}/SYNTHIA-SEQS-xx-SPRING/{i:06d}.png.
woodscape: rgb_images/{i:05d}_FV.png, previous_images/{i:05d}_FV_prev.png, semantic_annotations/gtLabels/,
    motion_annotations/gtLabels/ (0/1), box_2d_annotations/{i:05d}_FV.txt (class_name,class_id,x1,y1,x2,y2).
    Simplification: WoodScape cameras are fisheye; we render a wide-angle pinhole.

A json manifest is written last (atomically), so a tree with a manifest is complete; a second call with the same
parameters returns at once.
"""
import json
import math
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from common import locks
from common.atomic import write_text
from data.synthetic.frame import make_camera, render_frame
from data.synthetic.render import Camera
from data.synthetic.scene import CAR, PERSON, SIGN, generate_scene

LAYOUTS = ("kitti", "kitti_object", "cityscapes", "synthia", "woodscape")
DEFAULT_SCALE = {"kitti": 1.0, "kitti_object": 1.0, "cityscapes": 0.25, "synthia": 0.5, "woodscape": 0.25}
MANIFEST_NAME = "synthetic_manifest.json"
FORMAT_VERSION = 1

# Rectified colour cameras of KITTI recording days: (width, height, focal, cx, cy).
KITTI_DAYS = ((1242, 375, 721.5377, 609.5593, 172.854), (1241, 376, 718.856, 607.1928, 185.2157),
              (1224, 370, 707.0493, 604.0814, 180.5066), (1226, 370, 707.0912, 601.8873, 183.1104))

CITYSCAPES_COLORS = {0: (0, 0, 0), 7: (128, 64, 128), 8: (244, 35, 232), 11: (70, 70, 70), 17: (153, 153, 153),
                     20: (220, 220, 0), 21: (107, 142, 35), 23: (70, 130, 180), 24: (220, 20, 60),
                     26: (0, 0, 142)}
WOODSCAPE_BOX_CLASSES = {CAR: ("vehicles", 0), PERSON: ("person", 1), SIGN: ("traffic_sign", 4)}
CITYSCAPES_CITIES = {"train": "synthcity", "val": "synthville"}
SYNTHIA_SEQUENCES = {"train": "SYNTHIA-SEQS-02-SPRING", "val": "SYNTHIA-SEQS-05-SPRING"}


# ---------------------------------------------------------------------------------------------------------- PNGs
def save_png(path, array, compress_level=1):
    """uint8 (H, W) / (H, W, 3) and uint16 (H, W) through PIL; uint16 (H, W, 3) through our own encoder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.uint16 and array.ndim == 3:
        _save_png16_rgb(path, array, compress_level)
        return
    if array.dtype == np.uint16:
        image = Image.frombytes("I;16", (array.shape[1], array.shape[0]), array.astype("<u2").tobytes())
    elif array.dtype == np.uint8:
        image = Image.fromarray(array)
    else:
        raise ValueError(f"save_png expects uint8 or uint16 arrays, got {array.dtype} for {path}")
    image.save(path, compress_level=compress_level)


def _save_png16_rgb(path, array, compress_level):
    # PIL cannot write 48-bit RGB PNGs (SYNTHIA's label and depth encoding); the format is simple enough to write.
    height, width, _ = array.shape
    rows = np.zeros((height, 1 + width * 6), np.uint8)  # filter byte 0 (None) at the start of each row
    rows[:, 1:] = array.astype(">u2").view(np.uint8).reshape(height, width * 6)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(rows.tobytes(), compress_level)) + chunk(b"IEND", b""))


def _write_text(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _colorize(semantic):
    lut = np.zeros((256, 3), np.uint8)
    for label, color in CITYSCAPES_COLORS.items():
        lut[label] = color
    return lut[semantic]


# ------------------------------------------------------------------------------------------------ annotations
def _uint16_disparity(disparity, valid, offset):
    values = np.clip(np.rint(disparity * 256.0) + offset, 1, 65535)
    return np.where(valid, values, 0).astype(np.uint16)


def _instance_ids(semantic, frame, factor, start):
    """16-bit instance map: labelId * factor + k on car/person instances (k counted per class from `start`).

    Elsewhere KITTI (factor 256) stores labelId * 256 (instance 0) and Cityscapes (factor 1000) the bare labelId.
    """
    out = semantic.astype(np.uint16) * (256 if factor == 256 else 1)
    counters = {}
    for k, cls in enumerate(frame["box_classes"]):
        if cls not in (CAR, PERSON):
            continue
        mask = frame["instance"] == k + 1
        label = int(np.bincount(semantic[mask]).argmax())
        number = counters.get(label, start)
        counters[label] = number + 1
        out[mask] = label * factor + number
    return out


def _motion_png(frame, moving_value):
    return (frame["motion"] * moving_value).astype(np.uint8)


def _polygon(mask, x0, y0, max_points=24):
    """Outline of a row-connected mask: left edges top to bottom, then right edges bottom to top."""
    rows = np.flatnonzero(mask.any(axis=1))
    step = max(1, int(math.ceil(len(rows) / max_points)))
    picked = list(rows[::step]) + ([rows[-1]] if (len(rows) - 1) % step else [])
    left, right = [], []
    for r in picked:
        cols = np.flatnonzero(mask[r])
        left.append([int(x0 + cols[0]), int(y0 + r)])
        right.append([int(x0 + cols[-1] + 1), int(y0 + r)])
    bottom = int(y0 + picked[-1] + 1)
    return left + [[left[-1][0], bottom], [right[-1][0], bottom]] + right[::-1]


def _cityscapes_polygons(frame):
    height, width = frame["semantic"].shape
    objects = []
    for k, cls in enumerate(frame["box_classes"]):
        if cls not in (CAR, PERSON):
            continue
        x1, y1, x2, y2 = (int(v) for v in frame["boxes"][k])
        mask = frame["instance"][y1:y2 + 1, x1:x2 + 1] == k + 1
        objects.append({"label": "car" if cls == CAR else "person", "polygon": _polygon(mask, x1, y1)})
    return {"imgHeight": height, "imgWidth": width, "objects": objects}


def _kitti_label_lines(frame, min_height=18, min_pixels=30):
    lines = []
    for k, cls in enumerate(frame["box_classes"]):
        if cls not in (CAR, PERSON):
            continue
        x1, y1, x2, y2 = (float(v) for v in frame["boxes"][k])
        visible = int(frame["visible_pixels"][k])
        if y2 - y1 + 1 >= min_height and visible >= min_pixels:
            h, w, l, x, y, z, ry = (float(v) for v in frame["box_3d"][k])
            name = "Car" if cls == CAR else "Pedestrian"
            lines.append(f"{name} {float(frame['truncated'][k]):.2f} {int(frame['occlusion'][k])} "
                         f"{float(frame['alpha'][k]):.2f} {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} "
                         f"{h:.2f} {w:.2f} {l:.2f} {x:.2f} {y:.2f} {z:.2f} {ry:.2f}")
        elif visible >= 6 and y2 - y1 >= 2 and x2 - x1 >= 2:
            lines.append(f"DontCare -1 -1 -10 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} -1 -1 -1 -1000 -1000 -1000 -10")
    return "".join(line + "\n" for line in lines)


def _projection(camera, tx):
    return np.array([[camera.focal, 0, camera.cx, tx], [0, camera.focal, camera.cy, 0], [0, 0, 1, 0]])


def _numbers(values, fmt):
    return " ".join(fmt % v for v in np.asarray(values, np.float64).ravel())


def _kitti_object_calib(camera):
    fb = camera.focal * camera.baseline
    rows = [("P0", _projection(camera, 0.0)), ("P1", _projection(camera, -fb)), ("P2", _projection(camera, 0.0)),
            ("P3", _projection(camera, -fb)), ("R0_rect", np.eye(3)),
            ("Tr_velo_to_cam", [[0, -1, 0, 0], [0, 0, -1, -0.08], [1, 0, 0, -0.27]]),
            ("Tr_imu_to_velo", [[1, 0, 0, -0.81], [0, 1, 0, 0.32], [0, 0, 1, -0.8]])]
    return "".join(f"{key}: {_numbers(value, '%.12e')}\n" for key, value in rows) + "\n"


def _kitti_cam_to_cam(camera):
    """calib_cam_to_cam.txt as in data_scene_flow_calib; the grey cameras 00/01 share the colour cameras' poses."""
    size = _numbers([camera.width, camera.height], "%e")
    k = [[camera.focal, 0, camera.cx], [0, camera.focal, camera.cy], [0, 0, 1]]
    lines = ["calib_time: 01-Jan-2024 00:00:00", "corner_dist: 9.950000e-02"]
    for cam in range(4):
        right = cam % 2 == 1
        projection = _projection(camera, -camera.focal * camera.baseline if right else 0.0)
        lines += [f"S_{cam:02d}: {size}", f"K_{cam:02d}: {_numbers(k, '%e')}",
                  f"D_{cam:02d}: {_numbers([0] * 5, '%e')}",
                  f"R_{cam:02d}: {_numbers(np.eye(3), '%e')}",
                  f"T_{cam:02d}: {_numbers([-camera.baseline if right else 0.0, 0, 0], '%e')}",
                  f"S_rect_{cam:02d}: {size}", f"R_rect_{cam:02d}: {_numbers(np.eye(3), '%e')}",
                  f"P_rect_{cam:02d}: {_numbers(projection, '%e')}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- writers
class _Writer:
    top_level = ()
    label_space = "cityscapes"
    right = True
    previous = True

    def __init__(self, layout, out_dir, seed, camera, options):
        self.layout, self.out, self.seed, self.camera, self.options = layout, out_dir, seed, camera, options
        self.level = options["compress_level"]

    def png(self, relative, array):
        save_png(self.out / relative, array, self.level)

    def motion_path(self, *parts):
        return Path(self.options["motion_dir"]).joinpath(*parts)

    def camera_for(self, rng):
        return self.camera

    def render(self, index):
        rng = np.random.default_rng([self.seed, index])
        camera = self.camera_for(rng)
        scene = generate_scene(rng, ego_motion=self.options.get("ego_motion"))
        return camera, render_frame(scene, camera, 0, self.label_space, self.right, self.previous,
                                    self.options["max_depth"])

    def write_all(self, num, progress):
        for index in tqdm(range(num), desc=f"synthetic {self.layout}", unit="scene", disable=not progress):
            self.write(index, num, *self.render(index))


class _Kitti(_Writer):
    top_level = ("training",)

    def camera_for(self, rng):
        if not self.options["vary_size"]:
            return self.camera
        width, height, focal, cx, cy = KITTI_DAYS[int(rng.integers(len(KITTI_DAYS)))]
        scale = self.camera.width / KITTI_DAYS[0][0]
        return Camera(int(round(height * scale)), int(round(width * scale)), focal * scale, cx * scale, cy * scale,
                      self.camera.baseline)

    def write(self, i, num, camera, frame):
        name = f"{i:06d}_10.png"
        self.png(f"training/image_2/{name}", frame["image"])
        self.png(f"training/image_2/{i:06d}_09.png", frame["previous_image"])
        self.png(f"training/image_3/{name}", frame["right_image"])
        self.png(f"training/semantic/{name}", frame["semantic"])
        self.png(f"training/semantic_rgb/{name}", _colorize(frame["semantic"]))
        self.png(f"training/instance/{name}", _instance_ids(frame["semantic"], frame, 256, 1))
        valid = frame["valid_disparity"]
        self.png(f"training/disp_occ_0/{name}", _uint16_disparity(frame["disparity"], valid, 0))
        self.png(f"training/disp_noc_0/{name}", _uint16_disparity(frame["disparity"], valid & ~frame["occluded"], 0))
        _write_text(self.out / f"training/calib_cam_to_cam/{i:06d}.txt", _kitti_cam_to_cam(camera))
        self.png(self.motion_path(name), _motion_png(frame, 255))


class _KittiObject(_Kitti):
    right = False
    previous = False

    def write(self, i, num, camera, frame):
        self.png(f"training/image_2/{i:06d}.png", frame["image"])
        _write_text(self.out / f"training/label_2/{i:06d}.txt", _kitti_label_lines(frame))
        _write_text(self.out / f"training/calib/{i:06d}.txt", _kitti_object_calib(camera))


def _split_of(index, num, val_fraction):
    num_val = int(round(num * val_fraction))
    return ("train", index) if index < num - num_val else ("val", index - (num - num_val))


class _Cityscapes(_Writer):
    top_level = ("leftImg8bit", "rightImg8bit", "gtFine", "disparity", "camera", "leftImg8bit_sequence")

    def write(self, i, num, camera, frame):
        split, seq = _split_of(i, num, self.options["val_fraction"])
        city = CITYSCAPES_CITIES[split]
        stem, folder = f"{city}_{seq:06d}_000019", f"{split}/{city}"
        self.png(f"leftImg8bit/{folder}/{stem}_leftImg8bit.png", frame["image"])
        self.png(f"rightImg8bit/{folder}/{stem}_rightImg8bit.png", frame["right_image"])
        self.png(f"leftImg8bit_sequence/{folder}/{city}_{seq:06d}_000018_leftImg8bit.png", frame["previous_image"])
        self.png(f"gtFine/{folder}/{stem}_gtFine_labelIds.png", frame["semantic"])
        self.png(f"gtFine/{folder}/{stem}_gtFine_instanceIds.png", _instance_ids(frame["semantic"], frame, 1000, 0))
        self.png(f"gtFine/{folder}/{stem}_gtFine_color.png", _colorize(frame["semantic"]))
        _write_text(self.out / f"gtFine/{folder}/{stem}_gtFine_polygons.json",
                    json.dumps(_cityscapes_polygons(frame), indent=4))
        self.png(f"disparity/{folder}/{stem}_disparity.png",
                 _uint16_disparity(frame["disparity"], frame["valid_disparity"], 1))
        camera_json = {"extrinsic": {"baseline": camera.baseline, "pitch": 0.0, "roll": 0.0, "x": 0.0, "y": 0.0,
                                     "yaw": 0.0, "z": float(frame["camera_height"])},
                       "intrinsic": {"fx": camera.focal, "fy": camera.focal, "u0": camera.cx, "v0": camera.cy}}
        _write_text(self.out / f"camera/{folder}/{stem}_camera.json", json.dumps(camera_json, indent=4))
        self.png(self.motion_path(split, city, f"{stem}_leftImg8bit.png"), _motion_png(frame, 255))


class _Synthia(_Writer):
    top_level = tuple(SYNTHIA_SEQUENCES.values())
    label_space = "synthia"
    previous = False  # the previous frame is the previous file of the drive

    def write_all(self, num, progress):
        bar = tqdm(total=num, desc=f"synthetic {self.layout}", unit="frame", disable=not progress)
        num_val = int(round(num * self.options["val_fraction"]))
        for split_index, (split, count) in enumerate((("train", num - num_val), ("val", num_val))):
            if count == 0:
                continue
            rng = np.random.default_rng([self.seed, 1_000_003, split_index])
            ego = self.options.get("ego_motion") or float(rng.uniform(0.7, 1.3))
            scene = generate_scene(rng, z_range=(-40.0, ego * count + 160.0), ego_motion=ego)
            for i in range(count):
                frame = render_frame(scene, self.camera, i, self.label_space, True, False, self.options["max_depth"])
                self.write_frame(SYNTHIA_SEQUENCES[split], i, frame)
                bar.update(1)
        bar.close()

    def write_frame(self, sequence, i, frame):
        name = f"{i:06d}.png"
        self.png(f"{sequence}/RGB/Stereo_Left/Omni_F/{name}", frame["image"])
        self.png(f"{sequence}/RGB/Stereo_Right/Omni_F/{name}", frame["right_image"])
        centimetres = np.clip(np.rint(frame["depth"] * 100.0), 0, 65535).astype(np.uint16)
        self.png(f"{sequence}/Depth/Stereo_Left/Omni_F/{name}", np.repeat(centimetres[..., None], 3, axis=2))
        labels = np.zeros(frame["semantic"].shape + (3,), np.uint16)
        labels[..., 0] = frame["semantic"]
        labels[..., 1] = frame["instance"]
        self.png(f"{sequence}/GT/LABELS/Stereo_Left/Omni_F/{name}", labels)
        self.png(self.motion_path(sequence, name), _motion_png(frame, 255))


class _WoodScape(_Writer):
    top_level = ("rgb_images", "previous_images", "semantic_annotations", "motion_annotations", "box_2d_annotations")
    label_space = "woodscape"
    right = False

    def write(self, i, num, camera, frame):
        stem = f"{i:05d}_FV"
        self.png(f"rgb_images/{stem}.png", frame["image"])
        self.png(f"previous_images/{stem}_prev.png", frame["previous_image"])
        self.png(f"semantic_annotations/gtLabels/{stem}.png", frame["semantic"])
        self.png(f"motion_annotations/gtLabels/{stem}.png", _motion_png(frame, 1))
        lines = []
        for k, cls in enumerate(frame["box_classes"]):
            x1, y1, x2, y2 = (int(v) for v in frame["boxes"][k])
            if cls in WOODSCAPE_BOX_CLASSES and frame["visible_pixels"][k] >= 6 and min(x2 - x1, y2 - y1) >= 2:
                name, class_id = WOODSCAPE_BOX_CLASSES[cls]
                lines.append(f"{name},{class_id},{x1},{y1},{x2},{y2}\n")
        _write_text(self.out / f"box_2d_annotations/{stem}.txt", "".join(lines))


_WRITERS = {"kitti": _Kitti, "kitti_object": _KittiObject, "cityscapes": _Cityscapes, "synthia": _Synthia,
            "woodscape": _WoodScape}
_PRESETS = {"kitti": "kitti", "kitti_object": "kitti", "cityscapes": "cityscapes", "synthia": "synthia",
            "woodscape": "woodscape"}


# ------------------------------------------------------------------------------------------------------ entry
def write_dataset(layout, out_dir, num, seed=0, *, scale=None, image_size=None, val_fraction=0.2,
                  motion_dir="motion", vary_size=False, ego_motion=None, max_depth=80.0, compress_level=1,
                  progress=True, overwrite=False):
    """Renders `num` scenes and writes them under `out_dir` in the official layout `layout`. Returns out_dir.

    Scene i depends only on (seed, i) (SYNTHIA: frame i of the drive of its split), so the output is deterministic.
    scale: image size relative to the dataset's native camera (default 1 for KITTI, 0.25 Cityscapes, 0.5 SYNTHIA,
        0.25 WoodScape); image_size=(height, width) instead sets the size directly (focal length scaled with width).
    val_fraction: share of scenes written to the val split (cityscapes, synthia).
    motion_dir: folder for motion masks of layouts without official ones (kitti, cityscapes, synthia), relative
        to out_dir unless absolute; each mask has the file name of its left image, 0 static / 255 moving.
    vary_size: KITTI only, draw each scene's camera and size from the KITTI recording days (1242x375, 1241x376,
        1224x370, 1226x370).
    overwrite: a tree written with other parameters is deleted and rewritten (otherwise ValueError).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not supported; choose one of {', '.join(LAYOUTS)}")
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num must be a positive integer, got {num!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if scale is not None and image_size is not None:
        raise ValueError("give either scale or image_size, not both")
    if scale is not None and not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    if image_size is not None:
        if len(image_size) != 2 or min(int(v) for v in image_size) < 8:
            raise ValueError(f"image_size must be (height, width) with both >= 8, got {image_size!r}")
        image_size = [int(v) for v in image_size]
    if vary_size and layout not in ("kitti", "kitti_object"):
        raise ValueError(f"vary_size=True is only for layouts 'kitti' and 'kitti_object', not {layout!r}")
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be in 0..9, got {compress_level!r}")
    scale = DEFAULT_SCALE[layout] if scale is None and image_size is None else scale
    camera = make_camera(_PRESETS[layout], scale if scale is not None else 1.0, image_size)
    if camera.height < 8 or camera.width < 8:
        raise ValueError(f"scale={scale} gives a {camera.width}x{camera.height} image; images need >= 8 pixels")

    out_dir = Path(out_dir)
    motion = Path(motion_dir) if os.path.isabs(motion_dir) else out_dir / motion_dir
    parameters = {"generator": "data.synthetic", "format_version": FORMAT_VERSION, "layout": layout, "num": int(num),
                  "seed": int(seed), "scale": scale, "image_size": image_size, "val_fraction": val_fraction,
                  "motion_dir": str(motion_dir), "vary_size": bool(vary_size), "ego_motion": ego_motion,
                  "max_depth": max_depth}
    # one writer per tree: several processes (two reproductions on one results folder, Ray workers) may ask for it
    # at once; the others wait, then find it complete
    lock = str(out_dir.parent / f".{out_dir.name}.lock")
    with locks.exclusive(lock, on_wait=lambda holder: print(f"{out_dir}: being written by {holder}; waiting for it",
                                                            flush=True)):
        manifest = out_dir / MANIFEST_NAME
        if manifest.is_file():
            try:
                previous = json.loads(manifest.read_text())
            except (OSError, ValueError):
                previous = {}
            if previous.get("parameters") == parameters:
                return out_dir
            if not overwrite:
                raise ValueError(f"out_dir={str(out_dir)!r} holds a synthetic tree written with other parameters "
                                 f"({MANIFEST_NAME}); pass overwrite=True (CLI --overwrite) or another out_dir")
            manifest.unlink()
            for entry in previous.get("created", []):
                path = out_dir / entry if not os.path.isabs(entry) else Path(entry)
                if path.is_dir():
                    shutil.rmtree(path)
        out_dir.mkdir(parents=True, exist_ok=True)

        options = {"val_fraction": val_fraction, "motion_dir": motion, "vary_size": vary_size, "max_depth": max_depth,
                   "compress_level": compress_level, "ego_motion": ego_motion}
        writer = _WRITERS[layout](layout, out_dir, int(seed), camera, options)
        writer.write_all(int(num), progress)

        created = list(writer.top_level)
        if layout in ("kitti", "cityscapes", "synthia") and not os.path.isabs(motion_dir):
            created.append(str(motion_dir))  # never delete an absolute folder outside out_dir on overwrite
        record = {"parameters": parameters, "created": created,
                  "camera": {"height": camera.height, "width": camera.width, "focal": camera.focal, "cx": camera.cx,
                             "cy": camera.cy, "baseline": camera.baseline},
                  "label_space": {"kitti": "cityscapes", "kitti_object": "cityscapes", "cityscapes": "cityscapes",
                                  "synthia": "synthia", "woodscape": "woodscape"}[layout]}
        write_text(manifest, json.dumps(record, indent=2))  # last, atomically: a tree with a manifest is complete
    return out_dir

