"""Vectorised numpy ray casting of the synthetic street scenes (see scene.py for the geometry).

Every pixel casts the ray (u - cx, v - cy, f) / f from a pinhole camera; because the ray's Z component is 1 the
ray parameter t of a hit *is* the depth Z, so the z-buffer holds metric depth directly and the stored disparity
f * B / Z matches a right camera translated by B along X. Planes (road, raised sidewalk, curb faces) are solved for
all pixels at once; boxes, vertical cylinders and spheres are solved inside the screen window their bounding box
projects to, which keeps a 1242x375 view at a few tens of milliseconds. Shading is deferred: once the nearest
surface of every pixel is known, each material's shader colours its pixels from the hit point's world (or
object-local) coordinates, so a surface point has the same colour in every view.
"""
import dataclasses

import numpy as np

from data.synthetic import textures
from data.synthetic.scene import (CURB, LANE, M_BUILDING, M_CAR_BODY, M_CAR_CABIN, M_CURB, M_LEAVES,
                                  M_PERSON_BODY, M_PERSON_HEAD, M_POLE, M_ROAD, M_SIDEWALK, M_SIGN, M_SKY, M_TRUNK,
                                  ROAD, SIDEWALK, SKY)

NEAR = 0.1
FAR = 400.0
_LIGHT = np.array([0.45, -0.8, -0.4]) / np.linalg.norm([0.45, -0.8, -0.4])
_AMBIENT, _DIFFUSE = 0.62, 0.42
_FIRST_PRIMITIVE = 4  # buffer ids: 0 sky, 1 road, 2 sidewalk, 3 curb, then scene.primitives


def _lambert(dot):
    return np.float32(_AMBIENT) + np.float32(_DIFFUSE) * np.maximum(dot, 0).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Camera:
    height: int
    width: int
    focal: float
    cx: float
    cy: float
    baseline: float

    def rays(self):
        dx = ((np.arange(self.width) - self.cx) / self.focal).astype(np.float32)
        dy = ((np.arange(self.height) - self.cy) / self.focal).astype(np.float32)
        return dx, dy


@dataclasses.dataclass
class View:
    depth: np.ndarray       # (H, W) float32, inf where the ray hits nothing (sky)
    buffer_id: np.ndarray   # (H, W) int32, see _FIRST_PRIMITIVE
    shade: np.ndarray       # (H, W) float32 Lambert factor of the hit face
    cam_x: float
    cam_z: float
    frame: float
    windows: dict           # primitive index -> (v0, v1, u0, u1, unoccluded hit count)


def _window(camera, x0, x1, y0, y1, z0, z1):
    """Screen rectangle (v0, v1, u0, u1) covering a camera-relative AABB, or None when it cannot be seen."""
    if z1 <= NEAR or z0 > FAR:
        return None
    z0 = max(z0, NEAR)
    xs = (x0 / z0, x0 / z1, x1 / z0, x1 / z1)
    ys = (y0 / z0, y0 / z1, y1 / z0, y1 / z1)
    u0 = max(0, int(np.floor(camera.focal * min(xs) + camera.cx)))
    u1 = min(camera.width, int(np.ceil(camera.focal * max(xs) + camera.cx)) + 1)
    v0 = max(0, int(np.floor(camera.focal * min(ys) + camera.cy)))
    v1 = min(camera.height, int(np.ceil(camera.focal * max(ys) + camera.cy)) + 1)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


class _Caster:
    def __init__(self, camera, cam_x, cam_z):
        self.camera = camera
        self.cam_x, self.cam_z = cam_x, cam_z
        self.dx, self.dy = camera.rays()
        self.inv_dx = (1.0 / np.where(np.abs(self.dx) < 1e-7, np.float32(1e-7), self.dx)).astype(np.float32)
        self.inv_dy = (1.0 / np.where(np.abs(self.dy) < 1e-7, np.float32(1e-7), self.dy)).astype(np.float32)
        shape = (camera.height, camera.width)
        self.depth = np.full(shape, np.inf, np.float32)
        self.buffer_id = np.zeros(shape, np.int32)
        self.shade = np.ones(shape, np.float32)

    def ztest(self, window, t, buffer_id, shade):
        v0, v1, u0, u1 = window
        depth = self.depth[v0:v1, u0:u1]
        closer = t < depth
        np.copyto(depth, t, where=closer)
        np.copyto(self.buffer_id[v0:v1, u0:u1], buffer_id, where=closer)
        np.copyto(self.shade[v0:v1, u0:u1], shade, where=closer)

    def ground(self, scene):
        camera, h, curb = self.camera, scene.camera_height, scene.curb_height
        first_row = int(np.searchsorted(self.dy, 1e-6))
        if first_row >= camera.height:
            return
        window = (first_row, camera.height, 0, camera.width)
        dy = self.dy[first_row:, None]
        inv_dy = self.inv_dy[first_row:, None]
        left, right = scene.road_left, scene.road_right
        t_road = np.float32(h) * inv_dy
        x_road = self.cam_x + t_road * self.dx
        on_road = (x_road >= left) & (x_road <= right)
        self.ztest(window, np.where(on_road, t_road, np.inf), 1, np.float32(_lambert(-_LIGHT[1])))
        t_sidewalk = np.float32(h - curb) * inv_dy
        x_sidewalk = self.cam_x + t_sidewalk * self.dx
        off_road = (x_sidewalk < left) | (x_sidewalk > right)
        self.ztest(window, np.where(off_road, t_sidewalk, np.inf), 2, np.float32(_lambert(-_LIGHT[1])))
        # curb faces: the vertical planes X = road_right (seen looking right) and X = road_left (looking left)
        t_curb = np.where(self.dx > 0, (right - self.cam_x) * self.inv_dx, (left - self.cam_x) * self.inv_dx)
        t_curb = np.where(t_curb > NEAR, t_curb, np.inf).astype(np.float32)
        y_curb = t_curb * dy
        on_curb = (y_curb >= h - curb) & (y_curb <= h)
        curb_shade = np.where(self.dx > 0, _lambert(-_LIGHT[0]), _lambert(_LIGHT[0])).astype(np.float32)
        self.ztest(window, np.where(on_curb, t_curb, np.inf), 3, curb_shade)

    def box(self, x0, x1, y0, y1, z0, z1, buffer_id):
        window = _window(self.camera, x0, x1, y0, y1, z0, z1)
        if window is None:
            return None
        v0, v1, u0, u1 = window
        inv_dx = self.inv_dx[None, u0:u1]
        inv_dy = self.inv_dy[v0:v1, None]
        tx0, tx1 = x0 * inv_dx, x1 * inv_dx
        ty0, ty1 = y0 * inv_dy, y1 * inv_dy
        tx_near, ty_near = np.minimum(tx0, tx1), np.minimum(ty0, ty1)
        t_near = np.maximum(np.maximum(tx_near, ty_near), np.float32(z0))
        t_far = np.minimum(np.minimum(np.maximum(tx0, tx1), np.maximum(ty0, ty1)), np.float32(z1))
        t = np.where((t_near <= t_far) & (t_near > NEAR), t_near, np.inf)
        # which slab the ray entered through gives the face normal, hence the shading
        x_shade = _lambert(-_LIGHT[0] if x0 > 0 else _LIGHT[0])
        y_shade = _lambert(-_LIGHT[1] if y0 > 0 else _LIGHT[1])
        z_shade = _lambert(-_LIGHT[2])
        shade = np.where(t_near == tx_near, np.float32(x_shade),
                         np.where(t_near == ty_near, np.float32(y_shade), np.float32(z_shade)))
        self.ztest(window, t, buffer_id, shade)
        return window, t

    def cylinder(self, x, z, radius, y_top, y_bottom, buffer_id):
        window = _window(self.camera, x - radius, x + radius, y_top, y_bottom, z - radius, z + radius)
        if window is None:
            return None
        v0, v1, u0, u1 = window
        dx = self.dx[None, u0:u1]
        dy = self.dy[v0:v1, None]
        a = dx * dx + 1
        b = -2 * (dx * x + z)
        c = x * x + z * z - radius * radius
        disc = b * b - 4 * a * c
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        y = t_side * dy
        side = (disc >= 0) & (t_side > NEAR) & (y >= y_top) & (y <= y_bottom)
        t = np.where(side, t_side, np.inf)
        normal_dot = ((t_side * dx - x) * _LIGHT[0] + (t_side - z) * _LIGHT[2]) / radius
        shade = np.broadcast_to(_lambert(normal_dot), t.shape)
        if y_top > 0:  # the top disc is below the camera, hence visible from above
            t_cap = y_top * self.inv_dy[v0:v1, None]
            cap_x, cap_z = t_cap * dx - x, t_cap - z
            cap = (~side) & (dy > 0) & (cap_x * cap_x + cap_z * cap_z <= radius * radius)
            t = np.where(cap, t_cap, t)
            shade = np.where(cap, np.float32(_lambert(-_LIGHT[1])), shade)
        t = t.astype(np.float32)
        self.ztest(window, t, buffer_id, shade)
        return window, t

    def sphere(self, x, y, z, radius, buffer_id):
        window = _window(self.camera, x - radius, x + radius, y - radius, y + radius, z - radius, z + radius)
        if window is None:
            return None
        v0, v1, u0, u1 = window
        dx = self.dx[None, u0:u1]
        dy = self.dy[v0:v1, None]
        a = dx * dx + dy * dy + 1
        b = -2 * (dx * x + dy * y + z)
        c = x * x + y * y + z * z - radius * radius
        disc = b * b - 4 * a * c
        t_hit = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        t = np.where((disc >= 0) & (t_hit > NEAR), t_hit, np.inf).astype(np.float32)
        normal_dot = ((t_hit * dx - x) * _LIGHT[0] + (t_hit * dy - y) * _LIGHT[1] + (t_hit - z) * _LIGHT[2]) / radius
        self.ztest(window, t, buffer_id, _lambert(normal_dot))
        return window, t


def cast(scene, camera, cam_x, cam_z, frame, count_hits=False):
    """Ray casts one view: camera at (cam_x, 0, cam_z), objects at their frame-`frame` positions."""
    caster = _Caster(camera, cam_x, cam_z)
    caster.ground(scene)
    windows = {}
    for index, p in enumerate(scene.primitives):
        shift_x = p.velocity[0] * frame - cam_x
        shift_z = p.velocity[1] * frame - cam_z
        g = p.geometry
        buffer_id = index + _FIRST_PRIMITIVE
        if p.kind == "box":
            result = caster.box(g[0] + shift_x, g[1] + shift_x, g[2], g[3], g[4] + shift_z, g[5] + shift_z,
                                buffer_id)
        elif p.kind == "cylinder":
            result = caster.cylinder(g[0] + shift_x, g[1] + shift_z, g[2], g[3], g[4], buffer_id)
        else:
            result = caster.sphere(g[0] + shift_x, g[1], g[2] + shift_z, g[3], buffer_id)
        if result is not None and p.object_index >= 0:
            window, t = result
            hits = int(np.count_nonzero(np.isfinite(t))) if count_hits else 0
            windows[index] = (*window, hits)
    return View(caster.depth, caster.buffer_id, caster.shade, cam_x, cam_z, frame, windows)


class _Tables:
    """Per-buffer-id lookup tables (class, material, colours, frame-dependent origins)."""

    def __init__(self, scene, frame):
        primitives = scene.primitives
        n = len(primitives) + _FIRST_PRIMITIVE
        self.cls = np.zeros(n, np.uint8)
        self.material = np.zeros(n, np.uint8)
        self.cls[:_FIRST_PRIMITIVE] = (SKY, ROAD, SIDEWALK, CURB)
        self.material[:_FIRST_PRIMITIVE] = (M_SKY, M_ROAD, M_SIDEWALK, M_CURB)
        self.object_index = np.full(n, -1, np.int32)
        self.moving = np.zeros(n, bool)
        self.color = np.zeros((n, 3), np.float32)
        self.color2 = np.zeros((n, 3), np.float32)
        self.param = np.zeros(n, np.float32)
        self.param2 = np.zeros(n, np.float32)
        self.size = np.zeros((n, 2), np.float32)
        self.origin = np.zeros((n, 3), np.float32)
        for i, p in enumerate(primitives, _FIRST_PRIMITIVE):
            self.cls[i], self.material[i], self.object_index[i] = p.cls, p.material, p.object_index
            self.moving[i] = p.velocity != (0.0, 0.0)
            self.color[i], self.color2[i] = p.color, p.color2
            self.param[i], self.param2[i], self.size[i] = p.param, p.param2, p.size
            self.origin[i] = (p.origin[0] + p.velocity[0] * frame, p.origin[1], p.origin[2] + p.velocity[1] * frame)


def _fade(depth, distance=25.0):
    # stands in for mip-mapping: fine texture detail fades out where a pixel covers many texels
    return np.exp(-depth / np.float32(distance)).astype(np.float32)


def shade(scene, camera, view, tables):
    """Colours a cast view. Returns (rgb uint8 (H, W, 3), internal class ids uint8 (H, W))."""
    buffer_id = view.buffer_id.ravel()
    dx, dy = camera.rays()
    hit = buffer_id > 0
    depth = np.where(view.depth.ravel() < np.inf, view.depth.ravel(), 0).astype(np.float32)
    columns = np.tile(np.arange(camera.width, dtype=np.int32), camera.height)
    rows = np.repeat(np.arange(camera.height, dtype=np.int32), camera.width)
    classes = tables.cls[buffer_id]
    material = tables.material[buffer_id]
    rgb = np.empty((buffer_id.size, 3), np.float32)
    order = np.argsort(material, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(material, minlength=16))])
    for m in range(len(bounds) - 1):
        idx = order[bounds[m]:bounds[m + 1]]
        if idx.size == 0:
            continue
        ids = buffer_id[idx]
        z = depth[idx]
        if m == M_SKY:
            rgb[idx] = _sky(scene, dx[columns[idx]], dy[rows[idx]])
            continue
        point = _Point(view.cam_x + z * dx[columns[idx]], z * dy[rows[idx]], view.cam_z + z, z, ids, tables, scene)
        color, lane = _SHADERS[m](point)
        if lane is not None:
            classes[idx[lane]] = LANE
        rgb[idx] = color * view.shade.ravel()[idx, None]
    image = np.clip(rgb + 0.5, 0, 255).astype(np.uint8).reshape(camera.height, camera.width, 3)
    return image, classes.reshape(camera.height, camera.width)


@dataclasses.dataclass
class _Point:
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    depth: np.ndarray
    ids: np.ndarray
    tables: _Tables
    scene: object

    def local(self):
        origin = self.tables.origin[self.ids]
        return self.x - origin[:, 0], self.y - origin[:, 1], self.z - origin[:, 2]


def _sky(scene, dx, dy):
    elevation = np.clip(-dy * 2.2, 0, 1)[:, None]
    horizon = np.array([205, 218, 232], np.float32)
    zenith = np.array([70, 125, 200], np.float32)
    color = horizon + (zenith - horizon) * elevation
    ox, oy = scene.sky_offset
    cloud = textures.sample("coarse", dx * 90 + ox, dy * 200 + oy, 1.0)
    cloud = np.clip(cloud - 0.4, 0, 1.2)[:, None] * 0.7
    return color + (np.float32(245) - color) * cloud


def _road(p):
    fade = _fade(p.depth)
    noise = (1 + 0.10 * textures.sample("coarse", p.x, p.z, 0.3)
             + 0.10 * fade * textures.sample("fine", p.x, p.z, 0.02))
    color = p.scene.asphalt[None, :] * noise[:, None]
    lane = np.zeros(p.x.shape, bool)
    for mark in p.scene.lane_marks:
        inside = np.abs(p.x - np.float32(mark.x)) < np.float32(mark.width / 2)
        if mark.dashed:
            inside &= np.mod(p.z + np.float32(mark.phase), np.float32(mark.period)) < np.float32(mark.dash)
        lane |= inside
    paint = 218 * (1 + 0.05 * textures.sample("medium", p.x, p.z, 0.05))
    color[lane] = np.stack([paint[lane], paint[lane], paint[lane] * 0.96], axis=1)
    return color, lane


def _sidewalk(p):
    fade = _fade(p.depth)
    slab = np.float32(p.scene.slab_size)
    joint = (np.mod(p.x, slab) < 0.05 * slab) | (np.mod(p.z, slab) < 0.05 * slab)
    noise = (1 + 0.07 * textures.sample("medium", p.x, p.z, 0.1) + 0.07 * fade * textures.sample("fine", p.x, p.z, 0.02)
             - 0.22 * joint * _fade(p.depth, 15.0))
    return p.scene.sidewalk_color[None, :] * noise[:, None], None


def _curb(p):
    noise = 1 + 0.05 * textures.sample("fine", p.z, p.y, 0.02) * _fade(p.depth)
    return np.array([185, 183, 178], np.float32) * noise[:, None], None


def _building(p):
    height = np.float32(p.scene.camera_height) - p.y
    along = p.x + p.z  # runs along the facade on X-facing and Z-facing walls alike
    spacing, floor = p.tables.param[p.ids], p.tables.param2[p.ids]
    wx, wy = np.mod(along / spacing, 1), np.mod(height / floor, 1)
    window = (wx > 0.3) & (wx < 0.7) & (wy > 0.35) & (wy < 0.8) & (height > floor)
    noise = 1 + 0.06 * textures.sample("medium", along, height, 0.1) + 0.05 * _fade(p.depth) * textures.sample(
        "fine", along, height, 0.02)
    color = p.tables.color[p.ids] * noise[:, None]
    glass = 50 + 22 * textures.sample("coarse", along, height, 0.4)
    color[window] = np.stack([glass, glass * 1.1, glass * 1.35], axis=1)[window]
    return color, None


def _trunk(p):
    lx, _, lz = p.local()
    noise = 1 + 0.15 * textures.sample("fine", (lx + lz) * 3, p.y, 0.03)
    return p.tables.color[p.ids] * noise[:, None], None


def _leaves(p):
    fade = _fade(p.depth, 30.0)
    leaves = textures.sample("fine", p.x + p.z, p.y, 0.04) + textures.sample("fine", p.x - p.z, p.y * 1.3, 0.04)
    noise = 1 + 0.22 * fade * leaves + 0.15 * textures.sample("medium", p.x - p.z, p.y, 0.15)
    return p.tables.color[p.ids] * noise[:, None], None


def _pole(p):
    noise = 1 + 0.04 * textures.sample("medium", p.x + p.z, p.y, 0.05)
    return p.tables.color[p.ids] * noise[:, None], None


def _sign(p):
    lx, ly, _ = p.local()
    size = p.tables.param[p.ids]
    red = p.tables.param2[p.ids] > 0.5
    ring = np.maximum(np.abs(lx), np.abs(ly)) > 0.32 * size
    bar = (np.abs(ly) < 0.1 * size) & (np.abs(lx) < 0.3 * size)
    white = np.where(red, ~ring, bar)
    color = p.tables.color[p.ids].copy()
    color[white] = (235, 235, 235)
    return color, None


def _car_body(p):
    height = p.tables.origin[p.ids, 1] - p.y
    color = p.tables.color[p.ids] * (1 + 0.03 * textures.sample("medium", p.x + p.z, p.y, 0.1))[:, None]
    color[height < 0.3] = (28, 28, 30)
    color[(height >= 0.3) & (height < 0.38)] *= 0.65
    return color, None


def _car_cabin(p):
    lx, _, lz = p.local()
    height = p.tables.origin[p.ids, 1] - p.y
    half = p.tables.size[p.ids]
    pillar = (np.abs(lx) > half[:, 0] - 0.1) & (np.abs(lz) > half[:, 1] - 0.12)
    roof = height > p.tables.param[p.ids] - 0.03
    glass = 42 + 14 * textures.sample("coarse", lx + lz, height, 0.3)
    color = np.stack([glass, glass * 1.1, glass * 1.3], axis=1)
    body = pillar | roof
    color[body] = p.tables.color[p.ids][body]
    return color, None


def _person_body(p):
    height = p.tables.origin[p.ids, 1] - p.y
    legs = height < p.tables.param[p.ids]
    stripes = (p.tables.param2[p.ids] > 0.5) & (np.mod(height, np.float32(0.12)) < 0.06) & ~legs
    color = np.where(legs[:, None], p.tables.color2[p.ids], p.tables.color[p.ids])
    color *= (1 - 0.45 * stripes)[:, None]
    return color * (1 + 0.06 * textures.sample("fine", p.x + p.z, p.y, 0.03))[:, None], None


def _person_head(p):
    _, ly, _ = p.local()
    hair = ly < -0.3 * p.tables.param[p.ids]
    return np.where(hair[:, None], p.tables.color2[p.ids], p.tables.color[p.ids]), None


_SHADERS = {M_ROAD: _road, M_SIDEWALK: _sidewalk, M_CURB: _curb, M_BUILDING: _building, M_TRUNK: _trunk,
            M_LEAVES: _leaves, M_POLE: _pole, M_SIGN: _sign, M_CAR_BODY: _car_body, M_CAR_CABIN: _car_cabin,
            M_PERSON_BODY: _person_body, M_PERSON_HEAD: _person_head}
