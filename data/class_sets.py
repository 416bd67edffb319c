"""The class sets of the papers' tables, as mappings from a dataset's training ids onto the model's channels.

The readers give segmentation labels in the dataset's own training-id space (Cityscapes and KITTI: the 19
trainIds; SYNTHIA: its 13 ids; WoodScape: its 10 ids; 255 ignore). The papers' networks have fixed output
channels (their parameter counts fix them), so each table names a class set:

- `kitti12` (NeurAll, AuxNet on KITTI, 12 channels): SYNTHIA's 13 classes without lane marking, which is what the
  KITTI columns of NeurAll Table I / AuxNet Table 1 suggest (Lane is "-" there). The 19 trainIds are merged:
  wall -> building, terrain -> vegetation, person and rider -> pedestrian, truck / bus / train -> car,
  motorcycle -> bicycle. Our choice; the papers list only the classes they print.
- `synthia13` (NeurAll, AuxNet, MultiNet++ on SYNTHIA, 13 channels): SYNTHIA's ids as they are (MultiNet++: "the
  decoder predicts from 13 categories in SYNTHIA", which its Table 2's SYNTHIA counts confirm).
- `cityscapes20` (MultiNet++ on KITTI and Cityscapes, 20 channels): the 19 trainIds and an unused channel; the paper
  gives 20 output channels without naming them. `synthia20` (SYNTHIA's 13 ids on 20 channels) is what MultiNet++'s
  SYNTHIA runs used before they predicted 13 classes; kept for the models trained then (models.predict --classes).
- `cityscapes19` (Novosel et al., KITTI and Cityscapes): the 19 trainIds.
- `leang3` (Leang et al.): road, sidewalk and void ("only road, sidewalk and merged the other classes into void",
  Sec. V-B). WoodScape has no sidewalk: its curb is taken as sidewalk and lane marks as road.

Pixels labelled 255 stay ignored in every set. mIoU is the mean over the set's named classes (the unused channels
of the 20-channel sets are not classes: a pixel predicted there is simply wrong).
"""
import dataclasses

import numpy as np

from data import labels

IGNORE = labels.IGNORE_LABEL
_CITYSCAPES_PALETTE = {label.train_id: label.color for label in labels.CITYSCAPES_LABELS if 0 <= label.train_id < 255}


@dataclasses.dataclass(frozen=True)
class ClassSet:
    """`names[i]` is channel i's class; `channels >= len(names)`; `mapping[dataset]` maps that dataset's
    training ids (index) onto channels (value, 255 ignore)."""

    key: str
    names: tuple
    channels: int
    mapping: dict
    colors: tuple

    def lookup(self, dataset):
        """(256,) int32 array: dataset training id -> channel (255 ignore)."""
        if dataset not in self.mapping:
            raise ValueError(f"class set {self.key!r} has no mapping for dataset {dataset!r}; "
                             f"it maps {sorted(self.mapping)}.")
        table = np.full(256, IGNORE, np.int32)
        for source, target in self.mapping[dataset].items():
            table[source] = target
        return table

    @property
    def palette(self):
        """(channels, 3) uint8 colours; unused channels black."""
        palette = np.zeros((self.channels, 3), np.uint8)
        palette[: len(self.colors)] = self.colors
        return palette


def _identity(count):
    return {i: i for i in range(count)}


_KITTI12_NAMES = ("sky", "building", "road", "sidewalk", "fence", "vegetation", "pole", "car", "traffic sign",
                  "pedestrian", "bicycle", "traffic light")
_TRAIN_ID_TO_KITTI12 = {0: 2, 1: 3, 2: 1, 3: 1, 4: 4, 5: 6, 6: 11, 7: 8, 8: 5, 9: 5, 10: 0, 11: 9, 12: 9, 13: 7,
                        14: 7, 15: 7, 16: 7, 17: 10, 18: 10}
_SYNTHIA_TO_KITTI12 = {i: i for i in range(11)} | {12: 11}  # lane marking (11) has no KITTI counterpart
_SYNTHIA_COLORS = ((70, 130, 180), (70, 70, 70), (128, 64, 128), (244, 35, 232), (190, 153, 153), (107, 142, 35),
                   (153, 153, 153), (0, 0, 142), (220, 220, 0), (220, 20, 60), (119, 11, 32), (255, 255, 255),
                   (250, 170, 30))
_CITYSCAPES_COLORS = tuple(_CITYSCAPES_PALETTE[i] for i in range(19))

CLASS_SETS = {
    "kitti12": ClassSet("kitti12", _KITTI12_NAMES, 12,
                        {"kitti": _TRAIN_ID_TO_KITTI12, "cityscapes": _TRAIN_ID_TO_KITTI12,
                         "synthia": _SYNTHIA_TO_KITTI12},
                        _SYNTHIA_COLORS[:11] + _SYNTHIA_COLORS[12:]),
    "synthia13": ClassSet("synthia13", labels.SYNTHIA_CLASSES, 13, {"synthia": _identity(13)}, _SYNTHIA_COLORS),
    "cityscapes19": ClassSet("cityscapes19", labels.CITYSCAPES_CLASSES, 19,
                             {"kitti": _identity(19), "cityscapes": _identity(19)}, _CITYSCAPES_COLORS),
    "cityscapes20": ClassSet("cityscapes20", labels.CITYSCAPES_CLASSES, 20,
                             {"kitti": _identity(19), "cityscapes": _identity(19)}, _CITYSCAPES_COLORS),
    "synthia20": ClassSet("synthia20", labels.SYNTHIA_CLASSES, 20, {"synthia": _identity(13)}, _SYNTHIA_COLORS),
    "leang3": ClassSet("leang3", ("road", "sidewalk", "void"), 3,
                       {"kitti": {0: 0, 1: 1} | {i: 2 for i in range(2, 19)},
                        "cityscapes": {0: 0, 1: 1} | {i: 2 for i in range(2, 19)},
                        "woodscape": {1: 0, 2: 0, 3: 1} | {i: 2 for i in (0, 4, 5, 6, 7, 8, 9)}},
                       ((128, 64, 128), (244, 35, 232), (0, 0, 0))),
}

MOTION_NAMES = ("static", "moving")


def get(key):
    if key not in CLASS_SETS:
        raise ValueError(f"Unknown class set {key!r}; known: {sorted(CLASS_SETS)}.")
    return CLASS_SETS[key]
