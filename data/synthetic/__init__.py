"""Synthetic driving scenes for every reader of the library (DESIGN.md, section Data).

A pinhole camera ~1.65 m above a ground plane looks down a street of road (lane marks), raised sidewalks with a
curb, buildings, trees and hedges, poles with traffic signs, parked and moving cars and standing or walking
pedestrians. Views are ray cast with numpy (per-pixel depth, see render.py), so the right image (camera shifted by
the baseline) and the stored disparity f * B / Z agree, and the previous frame sees the ego motion and the moving
objects. `write_dataset` writes scenes in the official layouts of KITTI, KITTI object, Cityscapes, SYNTHIA-SEQS
and WoodScape (see layouts.py), so synthetic data goes through the same readers as real downloads.

    python -m data.synthetic --layout kitti --out DIR --num N --seed S
"""
from data.synthetic.frame import CAMERA_PRESETS, LABEL_SPACES, render_frame, render_scene
from data.synthetic.layouts import DEFAULT_SCALE, LAYOUTS, MANIFEST_NAME, save_png, write_dataset
from data.synthetic.scene import CLASS_NAMES, generate_scene

__all__ = ["CAMERA_PRESETS", "CLASS_NAMES", "DEFAULT_SCALE", "LABEL_SPACES", "LAYOUTS", "MANIFEST_NAME",
           "generate_scene", "render_frame", "render_scene", "save_png", "write_dataset"]
