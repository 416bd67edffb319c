"""Moved to `data.class_sets` (beside the labels, where models/ and the tasks can read them); kept so existing
imports keep working."""
from data.class_sets import CLASS_SETS, IGNORE, MOTION_NAMES, ClassSet, get  # noqa: F401
