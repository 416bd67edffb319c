"""Label tables of the supported datasets: ids on disk -> training ids, class names and order.

The Cityscapes table is copied from cityscapesScripts (``cityscapesscripts/helpers/labels.py``); KITTI semantics
uses the same labelIds. Every table maps "unknown" ids (not in the official table) to the ignore label 255; the
readers warn once when they meet one.
"""
import collections

import numpy as np

IGNORE_LABEL = 255

CityscapesLabel = collections.namedtuple(
    "CityscapesLabel", ["name", "id", "train_id", "category", "category_id", "has_instances", "ignore_in_eval", "color"]
)

# fmt: off
CITYSCAPES_LABELS = (
    CityscapesLabel("unlabeled",             0, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("ego vehicle",           1, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("rectification border",  2, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("out of roi",            3, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("static",                4, 255, "void",         0, False, True,  (0, 0, 0)),
    CityscapesLabel("dynamic",               5, 255, "void",         0, False, True,  (111, 74, 0)),
    CityscapesLabel("ground",                6, 255, "void",         0, False, True,  (81, 0, 81)),
    CityscapesLabel("road",                  7,   0, "flat",         1, False, False, (128, 64, 128)),
    CityscapesLabel("sidewalk",              8,   1, "flat",         1, False, False, (244, 35, 232)),
    CityscapesLabel("parking",               9, 255, "flat",         1, False, True,  (250, 170, 160)),
    CityscapesLabel("rail track",           10, 255, "flat",         1, False, True,  (230, 150, 140)),
    CityscapesLabel("building",             11,   2, "construction", 2, False, False, (70, 70, 70)),
    CityscapesLabel("wall",                 12,   3, "construction", 2, False, False, (102, 102, 156)),
    CityscapesLabel("fence",                13,   4, "construction", 2, False, False, (190, 153, 153)),
    CityscapesLabel("guard rail",           14, 255, "construction", 2, False, True,  (180, 165, 180)),
    CityscapesLabel("bridge",               15, 255, "construction", 2, False, True,  (150, 100, 100)),
    CityscapesLabel("tunnel",               16, 255, "construction", 2, False, True,  (150, 120, 90)),
    CityscapesLabel("pole",                 17,   5, "object",       3, False, False, (153, 153, 153)),
    CityscapesLabel("polegroup",            18, 255, "object",       3, False, True,  (153, 153, 153)),
    CityscapesLabel("traffic light",        19,   6, "object",       3, False, False, (250, 170, 30)),
    CityscapesLabel("traffic sign",         20,   7, "object",       3, False, False, (220, 220, 0)),
    CityscapesLabel("vegetation",           21,   8, "nature",       4, False, False, (107, 142, 35)),
    CityscapesLabel("terrain",              22,   9, "nature",       4, False, False, (152, 251, 152)),
    CityscapesLabel("sky",                  23,  10, "sky",          5, False, False, (70, 130, 180)),
    CityscapesLabel("person",               24,  11, "human",        6, True,  False, (220, 20, 60)),
    CityscapesLabel("rider",                25,  12, "human",        6, True,  False, (255, 0, 0)),
    CityscapesLabel("car",                  26,  13, "vehicle",      7, True,  False, (0, 0, 142)),
    CityscapesLabel("truck",                27,  14, "vehicle",      7, True,  False, (0, 0, 70)),
    CityscapesLabel("bus",                  28,  15, "vehicle",      7, True,  False, (0, 60, 100)),
    CityscapesLabel("caravan",              29, 255, "vehicle",      7, True,  True,  (0, 0, 90)),
    CityscapesLabel("trailer",              30, 255, "vehicle",      7, True,  True,  (0, 0, 110)),
    CityscapesLabel("train",                31,  16, "vehicle",      7, True,  False, (0, 80, 100)),
    CityscapesLabel("motorcycle",           32,  17, "vehicle",      7, True,  False, (0, 0, 230)),
    CityscapesLabel("bicycle",              33,  18, "vehicle",      7, True,  False, (119, 11, 32)),
    CityscapesLabel("license plate",        -1,  -1, "vehicle",      7, False, True,  (0, 0, 142)),
)
# fmt: on

#: The 19 Cityscapes training classes in trainId order (also KITTI semantics).
CITYSCAPES_CLASSES = tuple(
    label.name for label in sorted(CITYSCAPES_LABELS, key=lambda l: l.train_id) if 0 <= label.train_id < 255
)

#: Detection classes derived from the gtFine polygons (instance classes with a trainId), in class-id order.
CITYSCAPES_DETECTION_CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")

#: SYNTHIA (SEQS) label id -> training id; the 13 classes of MultiNet++ in training-id order.
SYNTHIA_ID_TO_TRAIN_ID = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 10: 9, 11: 10, 12: 11, 15: 12}
SYNTHIA_KNOWN_IDS = tuple(range(16))  # 0 void and the reserved 13/14 are known but ignored
SYNTHIA_CLASSES = (
    "sky", "building", "road", "sidewalk", "fence", "vegetation", "pole", "car",
    "traffic sign", "pedestrian", "bicycle", "lanemarking", "traffic light",
)

#: WoodScape semantic classes, ids 0..9 kept as they are on disk.
WOODSCAPE_CLASSES = (
    "void", "road", "lanemarks", "curb", "person", "rider", "vehicles", "bicycle", "motorcycle", "traffic_sign",
)

#: KITTI object detection classes (class id = position).
KITTI_OBJECT_CLASSES = ("Car", "Pedestrian", "Cyclist")
#: ``merge_classes=True`` maps these look-alike KITTI types onto the three classes (KITTI devkit's "neighbouring"
#: classes); everything else (Truck, Tram, Misc, DontCare) is dropped.
KITTI_OBJECT_MERGE = {"Van": "Car", "Person_sitting": "Pedestrian"}


def lookup_table(id_to_train_id, known_ids, size=None):
    """Build (table, known) numpy arrays of length ``size + 1``; the last entry catches every id >= size.

    ``table[i]`` is the training id of on-disk id i (255 when ignored), ``known[i]`` says whether i is in the
    official table; unknown ids map to 255 and make the reader warn.
    """
    size = size or (max(list(known_ids) + [0]) + 1)
    table = np.full(size + 1, IGNORE_LABEL, np.int32)
    known = np.zeros(size + 1, bool)
    for label_id in known_ids:
        known[label_id] = True
    for label_id, train_id in id_to_train_id.items():
        table[label_id] = train_id
    return table, known


def cityscapes_lookup():
    """labelId -> trainId table of cityscapesScripts (ids 0..33 known; 'license plate' -1 never occurs on disk)."""
    pairs = {l.id: (l.train_id if 0 <= l.train_id < 255 else IGNORE_LABEL) for l in CITYSCAPES_LABELS if l.id >= 0}
    return lookup_table(pairs, pairs.keys())


def synthia_lookup():
    return lookup_table(SYNTHIA_ID_TO_TRAIN_ID, SYNTHIA_KNOWN_IDS)


def woodscape_lookup():
    return lookup_table({i: i for i in range(len(WOODSCAPE_CLASSES))}, range(len(WOODSCAPE_CLASSES)))


def motion_lookup():
    """Motion masks: 0 static, any value > 0 moving (binarised); no id is unknown."""
    table = np.ones(257, np.int32)
    table[0] = 0
    return table, np.ones(257, bool)
