"""Random street layouts for the synthetic driving scenes (geometry and materials, no pixels).

Coordinates are those of the left camera at frame 0: X right, Y down, Z forward, in metres. The camera sits at
Y = 0, so the road surface is the plane Y = camera_height and the raised sidewalk is Y = camera_height - curb_height.
Frame k of a scene sees the ego camera at Z = k * ego_motion and every object at `position + k * velocity`
(velocities are metres per frame), so frame -1 is "the previous frame" and frames 0, 1, 2... form a sequence.

Objects are axis-aligned boxes (buildings, hedges, car bodies and cabins, sign plates), vertical cylinders (poles,
trunks, pedestrian bodies) and spheres (tree canopies, heads): cars drive along the road, so their 3D boxes have
KITTI heading ry = -pi/2 (away) or +pi/2 (oncoming).
"""
import dataclasses
import math

import numpy as np

CLASS_NAMES = ("sky", "road", "lane_marking", "sidewalk", "curb", "building", "vegetation", "pole",
               "traffic_sign", "car", "person")
SKY, ROAD, LANE, SIDEWALK, CURB, BUILDING, VEGETATION, POLE, SIGN, CAR, PERSON = range(len(CLASS_NAMES))

# Materials choose the shader; several materials can share a class (car body and cabin are both "car").
(M_SKY, M_ROAD, M_SIDEWALK, M_CURB, M_BUILDING, M_TRUNK, M_LEAVES, M_POLE, M_SIGN, M_CAR_BODY, M_CAR_CABIN,
 M_PERSON_BODY, M_PERSON_HEAD) = range(13)

BUILDING_COLORS = np.array([[150, 80, 65], [185, 160, 125], [205, 195, 175], [120, 110, 105], [170, 120, 80],
                            [140, 140, 150]], np.float32)
CAR_COLORS = np.array([[170, 25, 25], [25, 50, 150], [225, 225, 230], [25, 25, 30], [150, 155, 160],
                       [220, 170, 20], [30, 110, 60], [110, 20, 60], [80, 150, 200]], np.float32)
SHIRT_COLORS = np.array([[200, 40, 40], [40, 70, 170], [230, 230, 220], [30, 30, 30], [240, 170, 30],
                         [60, 140, 70], [150, 60, 160], [235, 120, 150]], np.float32)
TROUSER_COLORS = np.array([[35, 45, 80], [30, 30, 35], [90, 80, 70], [60, 60, 65], [20, 30, 60]], np.float32)


@dataclasses.dataclass
class Primitive:
    kind: str                 # "box" (x0, x1, y0, y1, z0, z1) | "cylinder" (x, z, radius, y_top, y_bottom)
    geometry: tuple           # | "sphere" (x, y, z, radius); all at frame 0
    material: int
    cls: int
    origin: tuple             # (x, y, z) at frame 0: local texture coordinates are measured from here
    velocity: tuple = (0.0, 0.0)   # (vx, vz) metres per frame
    color: tuple = (128.0, 128.0, 128.0)
    color2: tuple = (0.0, 0.0, 0.0)
    param: float = 0.0
    param2: float = 0.0
    size: tuple = (0.0, 0.0)  # shader-specific extents, e.g. a car cabin's (half width, half length)
    object_index: int = -1    # index into Scene.objects for cars, persons and sign plates


@dataclasses.dataclass
class SceneObject:
    cls: int
    dims: tuple               # KITTI (height, width, length)
    bottom: tuple             # bottom centre (x, y, z) at frame 0
    velocity: tuple
    heading: float            # KITTI rotation_y
    primitives: list = dataclasses.field(default_factory=list)

    @property
    def moving(self):
        return self.velocity != (0.0, 0.0)


@dataclasses.dataclass
class LaneMark:
    x: float
    width: float
    dashed: bool
    period: float
    dash: float
    phase: float


@dataclasses.dataclass
class Scene:
    camera_height: float
    curb_height: float
    road_left: float
    road_right: float
    lane_marks: list
    ego_motion: float
    asphalt: np.ndarray
    sidewalk_color: np.ndarray
    slab_size: float
    sky_offset: tuple
    primitives: list
    objects: list


class _Builder:
    def __init__(self, rng, camera_height):
        self.rng = rng
        self.h = camera_height
        self.primitives = []
        self.objects = []

    def uniform(self, low, high):
        return float(self.rng.uniform(low, high))

    def pick(self, palette, jitter=12.0):
        color = palette[self.rng.integers(len(palette))] + self.rng.normal(0.0, jitter, 3)
        return tuple(float(c) for c in np.clip(color, 5, 250))

    def add(self, primitive):
        self.primitives.append(primitive)
        return len(self.primitives) - 1

    def add_object(self, obj, primitives):
        obj.primitives = []
        index = len(self.objects)
        for primitive in primitives:
            primitive.object_index = index
            primitive.velocity = obj.velocity
            obj.primitives.append(self.add(primitive))
        self.objects.append(obj)

    def building(self, side, facade, z0, z1):
        depth = self.uniform(8, 15)
        height = self.uniform(5, 25)
        x0, x1 = (facade, facade + depth) if side > 0 else (facade - depth, facade)
        self.add(Primitive("box", (x0, x1, self.h - height, self.h, z0, z1), M_BUILDING, BUILDING,
                           origin=(0.0, self.h, 0.0), color=self.pick(BUILDING_COLORS, 15),
                           param=self.uniform(2.2, 3.5), param2=self.uniform(2.8, 3.4)))

    def hedge(self, side, facade, z0, z1, ground):
        height, thickness = self.uniform(0.8, 1.8), self.uniform(0.6, 1.2)
        x0, x1 = (facade, facade + thickness) if side > 0 else (facade - thickness, facade)
        self.add(Primitive("box", (x0, x1, ground - height, ground, z0, z1), M_LEAVES, VEGETATION,
                           origin=(0.0, ground, 0.0), color=self.green()))

    def green(self):
        return (self.uniform(35, 75), self.uniform(85, 135), self.uniform(25, 55))

    def tree(self, x, z, ground):
        trunk_radius, trunk_height = self.uniform(0.12, 0.2), self.uniform(2.2, 3.2)
        crown = self.uniform(1.2, 2.4)
        self.add(Primitive("cylinder", (x, z, trunk_radius, ground - trunk_height - crown * 0.5, ground),
                           M_TRUNK, VEGETATION, origin=(x, ground, z),
                           color=(self.uniform(80, 105), self.uniform(58, 72), self.uniform(38, 50))))
        self.add(Primitive("sphere", (x, ground - trunk_height - 0.6 * crown, z, crown), M_LEAVES, VEGETATION,
                           origin=(x, ground, z), color=self.green()))

    def pole(self, x, z, ground, with_sign):
        radius, height = self.uniform(0.07, 0.12), self.uniform(4.0, 8.0)
        if with_sign:
            height = min(height, 3.5)
        grey = self.uniform(95, 140)
        self.add(Primitive("cylinder", (x, z, radius, ground - height, ground), M_POLE, POLE,
                           origin=(x, ground, z), color=(grey, grey, grey * 1.04)))
        if with_sign:
            size = self.uniform(0.55, 0.8)
            centre = ground - self.uniform(2.2, height - size * 0.5)
            red = self.rng.random() < 0.6
            color = (200.0, 25.0, 30.0) if red else (25.0, 70.0, 180.0)
            plate = Primitive("box", (x - size / 2, x + size / 2, centre - size / 2, centre + size / 2,
                                      z - radius - 0.04, z - radius), M_SIGN, SIGN, origin=(x, centre, z),
                              color=color, param=size, param2=1.0 if red else 0.0)
            self.add_object(SceneObject(SIGN, (size, size, 0.04), (x, centre + size / 2, z - radius - 0.02),
                                        (0.0, 0.0), -math.pi / 2), [plate])

    def car(self, x, z, ground, velocity, heading):
        length, width, height = self.uniform(3.7, 4.8), self.uniform(1.6, 1.9), self.uniform(1.4, 1.65)
        color = self.pick(CAR_COLORS, 10)
        belt = ground - 0.58 * height
        cabin_length = length * self.uniform(0.5, 0.6)
        cabin_shift = length * self.uniform(-0.08, 0.02) * (1 if heading < 0 else -1)
        body = Primitive("box", (x - width / 2, x + width / 2, belt, ground - 0.0, z - length / 2, z + length / 2),
                         M_CAR_BODY, CAR, origin=(x, ground, z), color=color)
        cabin = Primitive("box", (x - 0.45 * width, x + 0.45 * width, ground - height, belt,
                                  z + cabin_shift - cabin_length / 2, z + cabin_shift + cabin_length / 2),
                          M_CAR_CABIN, CAR, origin=(x, ground, z + cabin_shift), color=color,
                          param=height, size=(0.45 * width, cabin_length / 2))
        self.add_object(SceneObject(CAR, (height, width, length), (x, ground, z), velocity, heading), [body, cabin])

    def person(self, x, z, ground, velocity):
        height = self.uniform(1.55, 1.9)
        head = 0.115 * height / 1.75
        radius = self.uniform(0.17, 0.24)
        shirt, trousers = self.pick(SHIRT_COLORS, 15), self.pick(TROUSER_COLORS, 8)
        body = Primitive("cylinder", (x, z, radius, ground - height + 2 * head, ground), M_PERSON_BODY, PERSON,
                         origin=(x, ground, z), color=shirt, color2=trousers, param=0.47 * height,
                         param2=float(self.rng.random() < 0.35))
        skin = self.uniform(0.6, 1.0)
        head_prim = Primitive("sphere", (x, ground - height + head, z, head), M_PERSON_HEAD, PERSON,
                              origin=(x, ground - height + head, z),
                              color=(225 * skin, 180 * skin, 150 * skin), color2=self.pick(TROUSER_COLORS, 5),
                              param=head)
        heading = self.uniform(-math.pi, math.pi) if velocity == (0.0, 0.0) else math.atan2(-velocity[1],
                                                                                             velocity[0])
        self.add_object(SceneObject(PERSON, (height, 2 * radius, 2 * radius), (x, ground, z), velocity, heading),
                        [body, head_prim])


def generate_scene(rng, camera_height=1.65, z_range=(-40.0, 160.0), ego_motion=None):
    """Draws a random street. `z_range` is the stretch of road (frame-0 metres) that gets buildings and objects."""
    b = _Builder(rng, camera_height)
    h = camera_height
    z_min, z_max = z_range
    ego = b.uniform(0.7, 1.3) if ego_motion is None else float(ego_motion)

    lane_width = b.uniform(3.0, 3.6)
    ego_centre = b.uniform(-0.3, 0.3)
    lanes_left, lanes_right = int(rng.integers(1, 3)), int(rng.choice([1, 1, 2]))
    parking_right = 2.2 if rng.random() < 0.75 else 0.0
    parking_left = 2.2 if rng.random() < 0.4 else 0.0
    lanes_edge_right = ego_centre + (lanes_right - 0.5) * lane_width
    lanes_edge_left = ego_centre - (lanes_left + 0.5) * lane_width
    road_right, road_left = lanes_edge_right + parking_right, lanes_edge_left - parking_left

    mark_width = b.uniform(0.12, 0.16)

    def dashed(x):
        return LaneMark(x, mark_width, True, b.uniform(8, 12), b.uniform(2.5, 4), b.uniform(0, 10))

    def solid(x):
        return LaneMark(x, mark_width, False, 1.0, 1.0, 0.0)

    marks = [dashed(ego_centre - lane_width / 2) if rng.random() < 0.7 else solid(ego_centre - lane_width / 2)]
    marks += [dashed(ego_centre + (k + 0.5) * lane_width) for k in range(lanes_right - 1)]
    marks += [dashed(ego_centre - (k + 1.5) * lane_width) for k in range(lanes_left - 1)]
    marks.append(solid(lanes_edge_right - (0.0 if parking_right else 0.3)))
    marks.append(solid(lanes_edge_left + (0.0 if parking_left else 0.3)))

    curb = b.uniform(0.10, 0.16)
    sidewalk_ground = h - curb
    sidewalk_right, sidewalk_left = b.uniform(2.5, 5.0), b.uniform(2.5, 5.0)
    facades = {1: road_right + sidewalk_right, -1: road_left - sidewalk_left}
    curbs = {1: road_right, -1: road_left}

    for side in (1, -1):
        facade, z = facades[side], z_min
        first = True
        while z < z_max:
            length = b.uniform(8, 30)
            if not first and rng.random() < 0.3:
                gap = b.uniform(4, 15)
                if rng.random() < 0.5:
                    b.hedge(side, facade, z, z + gap, sidewalk_ground)
                else:
                    for tree_z in np.arange(z + 2.0, z + gap - 1.0, b.uniform(3.5, 6.0)):
                        b.tree(facade + side * b.uniform(1.0, 4.0), float(tree_z), sidewalk_ground)
                z += gap
                continue
            first = False
            b.building(side, facade + side * b.uniform(0.0, 0.6), z, z + length)
            z += length
        # street furniture on the sidewalk, near the curb
        z = z_min + b.uniform(0, 10)
        while z < z_max:
            if rng.random() < 0.5:
                b.tree(curbs[side] + side * b.uniform(1.0, max(1.1, facades[side] * side - curbs[side] * side - 1.2)),
                       z, sidewalk_ground)
            z += b.uniform(8, 20)
        z = z_min + b.uniform(0, 15)
        while z < z_max:
            b.pole(curbs[side] + side * b.uniform(0.3, 0.6), z, sidewalk_ground, rng.random() < 0.35)
            z += b.uniform(12, 30)
        z = z_min + b.uniform(0, 8)
        while z < z_max:
            walking = rng.random() < 0.5
            velocity = (0.0, b.uniform(0.1, 0.2) * (1 if rng.random() < 0.5 else -1)) if walking else (0.0, 0.0)
            inner, outer = curbs[side] + side * 0.6, facades[side] - side * 0.5
            b.person(b.uniform(min(inner, outer), max(inner, outer)), z, sidewalk_ground, velocity)
            z += b.uniform(6, 30)

    # parked cars (static)
    for side, enabled in ((1, parking_right), (-1, parking_left)):
        if not enabled:
            continue
        z = z_min + b.uniform(0, 5)
        while z < z_max:
            if rng.random() < 0.65:
                b.car(curbs[side] - side * 1.1, z, h, (0.0, 0.0), -math.pi / 2 if side > 0 else math.pi / 2)
            z += b.uniform(6.0, 12.0)
    occupied = []

    def free(x, z):
        return all(abs(x - ox) > 1.0 or abs(z - oz) > 8.0 for ox, oz in occupied)

    # A few objects close to the camera guarantee that every class shows up in every single-frame scene.
    forced_x = ego_centre + (lane_width if lanes_right == 2 else -lane_width)
    forced_z = b.uniform(10, 22)
    occupied.append((forced_x, forced_z))
    b.car(forced_x, forced_z, h, (0.0, b.uniform(0.6, 1.6) * (1 if lanes_right == 2 else -1)),
          -math.pi / 2 if lanes_right == 2 else math.pi / 2)
    b.person(road_right + b.uniform(1.0, 2.0), b.uniform(8, 16), sidewalk_ground, (0.0, b.uniform(0.1, 0.2)))
    b.pole(road_right + 0.45, b.uniform(9, 18), sidewalk_ground, True)
    b.tree(road_right + b.uniform(1.2, 2.2), b.uniform(18, 28), sidewalk_ground)

    # moving traffic: same direction ahead of the camera (never slower than ego in the ego lane, so the camera
    # never drives into a car of a sequence), oncoming on the left lanes
    for k in range(lanes_right):
        x = ego_centre + k * lane_width
        z = b.uniform(12, 35) if k == 0 else z_min + b.uniform(0, 20)
        while z < z_max:
            speed = ego + b.uniform(0.0, 0.6) if k == 0 else b.uniform(0.5, 1.8)
            if free(x, z):
                b.car(x, z, h, (0.0, speed), -math.pi / 2)
            z += b.uniform(15, 50)
    for k in range(lanes_left):
        x = ego_centre - (k + 1) * lane_width
        z = z_min + b.uniform(0, 25)
        while z < z_max:
            speed = b.uniform(0.5, 1.8)
            if free(x, z):
                b.car(x, z, h, (0.0, -speed), math.pi / 2)
            z += b.uniform(15, 50)


    return Scene(camera_height=h, curb_height=curb, road_left=road_left, road_right=road_right, lane_marks=marks,
                 ego_motion=ego, asphalt=np.array([b.uniform(78, 100)] * 3, np.float32) + rng.normal(0, 2, 3),
                 sidewalk_color=np.array([b.uniform(150, 175), b.uniform(140, 165), b.uniform(135, 160)],
                                         np.float32),
                 slab_size=b.uniform(0.4, 0.8), sky_offset=(b.uniform(0, 50), b.uniform(0, 50)),
                 primitives=b.primitives, objects=b.objects)
