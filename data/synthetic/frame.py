"""One rendered frame of a synthetic scene: stereo pair, previous frame and every ground-truth map.

`render_scene` is the public entry point; `render_frame` renders frame k of an already generated scene (used for
SYNTHIA-style sequences, where consecutive files are consecutive frames of one drive).
"""
import math

import numpy as np

from data.synthetic.render import Camera, _Tables, cast, shade
from data.synthetic.scene import (BUILDING, CAR, CLASS_NAMES, CURB, LANE, PERSON, POLE, ROAD, SIDEWALK, SIGN, SKY,
                                  VEGETATION, generate_scene)

# Official label ids of every rendered class in each dataset's label space.
LABEL_SPACES = {
    # Cityscapes labelIds (also KITTI data_semantics); lane marks are road, the curb is sidewalk.
    "cityscapes": {SKY: 23, ROAD: 7, LANE: 7, SIDEWALK: 8, CURB: 8, BUILDING: 11, VEGETATION: 21, POLE: 17,
                   SIGN: 20, CAR: 26, PERSON: 24},
    # SYNTHIA: 1 sky, 2 building, 3 road, 4 sidewalk, 6 vegetation, 7 pole, 8 car, 9 sign, 10 pedestrian,
    # 12 lanemarking.
    "synthia": {SKY: 1, ROAD: 3, LANE: 12, SIDEWALK: 4, CURB: 4, BUILDING: 2, VEGETATION: 6, POLE: 7, SIGN: 9,
                CAR: 8, PERSON: 10},
    # WoodScape: 0 void, 1 road, 2 lanemarks, 3 curb, 4 person, 6 vehicles, 9 traffic_sign.
    "woodscape": {SKY: 0, ROAD: 1, LANE: 2, SIDEWALK: 0, CURB: 3, BUILDING: 0, VEGETATION: 0, POLE: 0, SIGN: 9,
                  CAR: 6, PERSON: 4},
    "internal": {c: c for c in range(len(CLASS_NAMES))},
}

# Native rectified cameras of the datasets (pixels, metres). WoodScape is fisheye; we render a wide pinhole.
CAMERA_PRESETS = {
    "kitti": dict(width=1242, height=375, focal=721.5377, cx=609.5593, cy=172.854, baseline=0.54),
    "cityscapes": dict(width=2048, height=1024, focal=2262.52, cx=1096.98, cy=513.137, baseline=0.209313),
    "synthia": dict(width=1280, height=760, focal=532.740352, cx=640.0, cy=380.0, baseline=0.8),
    "woodscape": dict(width=1280, height=966, focal=540.0, cx=640.0, cy=483.0, baseline=0.0),
}


def make_camera(preset, scale=1.0, image_size=None):
    """Scales a preset camera by `scale`, or to `image_size` = (height, width) keeping square pixels."""
    p = CAMERA_PRESETS[preset]
    if image_size is None:
        height, width = int(round(p["height"] * scale)), int(round(p["width"] * scale))
    else:
        height, width = (int(v) for v in image_size)
    sx, sy = width / p["width"], height / p["height"]
    return Camera(height, width, p["focal"] * sx, p["cx"] * sx, p["cy"] * sy, p["baseline"])


def _label_lut(label_space):
    if label_space not in LABEL_SPACES:
        raise ValueError(f"label_space={label_space!r} is not one of {sorted(LABEL_SPACES)}")
    lut = np.zeros(len(CLASS_NAMES), np.uint8)
    for cls, label in LABEL_SPACES[label_space].items():
        lut[cls] = label
    return lut


def _project_bounds(camera, x0, x1, y0, y1, z0, z1):
    z0 = max(z0, 0.1)
    xs = [x / z for x in (x0, x1) for z in (z0, z1)]
    ys = [y / z for y in (y0, y1) for z in (z0, z1)]
    return (camera.focal * min(xs) + camera.cx, camera.focal * min(ys) + camera.cy,
            camera.focal * max(xs) + camera.cx, camera.focal * max(ys) + camera.cy)


def _objects(scene, camera, view, tables, frame):
    """Boxes and KITTI-style 3D annotations of the objects visible in `view`, plus the instance map."""
    object_map = tables.object_index[view.buffer_id]
    visible_ids = np.unique(object_map[object_map >= 0])
    instance = np.zeros(object_map.shape, np.int32)
    rows = []
    for k, object_id in enumerate(visible_ids):
        obj = scene.objects[object_id]
        windows = [view.windows[i] for i in obj.primitives if i in view.windows]
        v0, v1 = min(w[0] for w in windows), max(w[1] for w in windows)
        u0, u1 = min(w[2] for w in windows), max(w[3] for w in windows)
        mask = object_map[v0:v1, u0:u1] == object_id
        instance[v0:v1, u0:u1][mask] = k + 1
        mask_rows, mask_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (u0 + mask_cols[0], v0 + mask_rows[0], u0 + mask_cols[-1], v0 + mask_rows[-1])
        visible = int(np.count_nonzero(mask))
        unoccluded = max(sum(w[4] for w in windows), visible)
        h, w, l = obj.dims
        x = obj.bottom[0] + obj.velocity[0] * frame - view.cam_x
        y = obj.bottom[1]
        z = obj.bottom[2] + obj.velocity[1] * frame - view.cam_z
        along_z = abs(abs(obj.heading) - math.pi / 2) < 0.25 or obj.cls == PERSON
        half_x, half_z = (w / 2, l / 2) if along_z else (l / 2, w / 2)
        full = _project_bounds(camera, x - half_x, x + half_x, y - h, y, z - half_z, z + half_z)
        full_area = max((full[2] - full[0]) * (full[3] - full[1]), 1e-6)
        clipped = (max(full[0], 0), max(full[1], 0), min(full[2], camera.width - 1), min(full[3], camera.height - 1))
        clipped_area = max(clipped[2] - clipped[0], 0) * max(clipped[3] - clipped[1], 0)
        ratio = visible / unoccluded
        alpha = (obj.heading - math.atan2(x, z) + math.pi) % (2 * math.pi) - math.pi
        rows.append(dict(box=box, cls=obj.cls, moving=obj.moving, box_3d=(h, w, l, x, y, z, obj.heading),
                         alpha=alpha, truncated=float(np.clip(1 - clipped_area / full_area, 0, 1)),
                         occlusion=0 if ratio >= 0.8 else (1 if ratio >= 0.4 else 2), visible=visible,
                         object_id=int(object_id)))
    n = len(rows)

    def column(key, dtype, shape=()):
        return np.array([r[key] for r in rows], dtype).reshape((n, *shape))

    return instance, {
        "boxes": column("box", np.float32, (4,)),
        "box_classes": column("cls", np.int32),
        "box_names": np.array([CLASS_NAMES[r["cls"]] for r in rows], dtype="<U16").reshape(n),
        "box_moving": column("moving", bool),
        "box_3d": column("box_3d", np.float32, (7,)),
        "alpha": column("alpha", np.float32),
        "truncated": column("truncated", np.float32),
        "occlusion": column("occlusion", np.int32),
        "visible_pixels": column("visible", np.int32),
        "object_ids": column("object_id", np.int32),
    }


def render_frame(scene, camera, frame=0, label_space="cityscapes", right=True, previous=True, max_depth=80.0):
    """Renders frame `frame` of `scene` (camera at Z = frame * ego_motion). See render_scene for the keys."""
    lut = _label_lut(label_space)
    cam_z = scene.ego_motion * frame
    tables = _Tables(scene, frame)
    left = cast(scene, camera, 0.0, cam_z, frame, count_hits=True)
    image, classes = shade(scene, camera, left, tables)
    hit = left.buffer_id > 0
    depth = np.where(hit, left.depth, 0).astype(np.float32)
    disparity = np.divide(np.float32(camera.focal * camera.baseline), depth, out=np.zeros_like(depth), where=hit)
    instance, objects = _objects(scene, camera, left, tables, frame)
    out = {
        "image": image,
        "depth": depth,
        "disparity": disparity,
        "valid_disparity": hit & (depth <= max_depth),
        "semantic": lut[classes],
        "classes": classes,
        "instance": instance,
        "motion": tables.moving[left.buffer_id].astype(np.uint8),
        **objects,
        "focal": np.float32(camera.focal),
        "baseline": np.float32(camera.baseline),
        "principal_point": np.array([camera.cx, camera.cy], np.float32),
        "camera_height": np.float32(scene.camera_height),
        "ego_motion": np.float32(scene.ego_motion),
    }
    if right:
        right_view = cast(scene, camera, camera.baseline, cam_z, frame)
        out["right_image"], _ = shade(scene, camera, right_view, tables)
        out["occluded"] = _occluded(depth, disparity, hit, right_view.depth)
    if previous:
        previous_tables = _Tables(scene, frame - 1)
        previous_view = cast(scene, camera, 0.0, cam_z - scene.ego_motion, frame - 1)
        out["previous_image"], _ = shade(scene, camera, previous_view, previous_tables)
    return out


def _occluded(depth, disparity, hit, right_depth):
    """Left pixels the right camera cannot see: outside its image or behind a nearer surface."""
    height, width = depth.shape
    target = np.rint(np.arange(width, dtype=np.float32)[None, :] - disparity).astype(np.int32)
    outside = target < 0
    seen = np.take_along_axis(right_depth, np.clip(target, 0, width - 1), axis=1)
    return hit & (outside | (seen < depth * 0.97 - 0.05))


def render_scene(seed, height=375, width=1242, *, focal=None, baseline=0.54, principal_point=None,
                 camera_height=1.65, ego_motion=None, label_space="cityscapes", right=True, previous=True,
                 max_depth=80.0):
    """Renders one random street scene, deterministically for `seed` (an int or a sequence of ints).

    Defaults are KITTI's rectified colour camera (f = 721.5377 px at 1242x375, B = 0.54 m); a different size
    scales the focal length and principal point with the width/height unless they are given.

    Returns a dict of numpy arrays:
      image, right_image, previous_image  uint8 (H, W, 3) RGB: left at frame t, right at t, left at t-1
      depth            float32 (H, W) metres along the optical axis, 0 for sky
      disparity        float32 (H, W) pixels, focal * baseline / depth, 0 for sky
      valid_disparity  bool (H, W): not sky and depth <= max_depth
      occluded         bool (H, W): left pixels the right camera does not see
      semantic         uint8 (H, W) ids of `label_space` ("cityscapes" labelIds, "synthia", "woodscape",
                       "internal" = index into CLASS_NAMES); classes: the internal ids
      instance         int32 (H, W): 0 background, k + 1 for the pixels of boxes[k]
      motion           uint8 (H, W): 1 on independently moving objects, 0 elsewhere
      boxes            float32 (N, 4) [x1, y1, x2, y2] inclusive pixel coordinates of each object's visible part
      box_classes, box_names, box_moving, box_3d (N, 7) KITTI [h, w, l, x, y, z, ry] in the left camera frame,
      alpha, truncated, occlusion (KITTI 0/1/2), visible_pixels, object_ids
      focal, baseline, principal_point, camera_height, ego_motion (metres the camera moved since t-1)
    """
    if height < 8 or width < 8:
        raise ValueError(f"height and width must be >= 8 pixels, got height={height}, width={width}")
    if focal is None:
        focal = CAMERA_PRESETS["kitti"]["focal"] * width / CAMERA_PRESETS["kitti"]["width"]
    if principal_point is None:
        principal_point = (CAMERA_PRESETS["kitti"]["cx"] * width / CAMERA_PRESETS["kitti"]["width"],
                           CAMERA_PRESETS["kitti"]["cy"] * height / CAMERA_PRESETS["kitti"]["height"])
    camera = Camera(int(height), int(width), float(focal), float(principal_point[0]), float(principal_point[1]),
                    float(baseline))
    scene = generate_scene(np.random.default_rng(seed), camera_height=camera_height, ego_motion=ego_motion)
    return render_frame(scene, camera, 0, label_space, right, previous, max_depth)
