"""Units of the depth target: what a depth PNG holds, what a network trains on, and what its scores are in.

The papers that tuned a depth loss or a task weight trained on the dataset's raw 16-bit PNG values: AuxNet's depth
is "represented as disparity values in 16-bit png format", MultiNet++'s decoder "outputs a 16-bit integer at every
pixel", so MultiNet++'s Huber delta of 250 is a threshold of about one pixel of disparity (250 / 256) and AuxNet's
400x / 1000x segmentation weights balance an MAE on values 256 times larger than pixels. The unit is therefore a
pipeline option, `depth_units`, with three choices resolved per dataset (by its reader's `depth_encoding`):

| choice | KITTI (PNG v, d = v / 256) | Cityscapes (PNG p, d = (p - 1) / 256) | SYNTHIA (PNG = depth in cm) |
|---|---|---|---|
| `paper16` | `disparity_x256`: 256 d | `disparity_x256`: 256 d (p - 1: the +1 only marks validity) | `depth_cm`: the PNG value |
| `pixels` | `disparity_px`: d | `disparity_px`: d | not available (no stereo calibration is read) |
| `metres` | `depth_m`: f b / d (calibration) | `depth_m`: f b / d (camera json) | `depth_m`: value / 100 |
| default (None) | `disparity_px` | `disparity_px` | `depth_m` |

Disparities (`disparity_px`, `disparity_x256`) are in pixels of the network's input width: resizing multiplies them
by new width / native width, as it multiplies the pixel distance they measure; depths are not rescaled. On KITTI,
`paper16` at the native width is exactly the PNG value; on SYNTHIA the PNG holds centimetres of depth, not disparity,
so `paper16` there is depth in centimetres (what a network trained "on the 16-bit PNG" of SYNTHIA regressed).

Scores are reported in the documented unit of the quantity, whatever the training unit: disparity in pixels
(`disparity_px`), depth in metres (`depth_m`); `to_scored` converts. Every conversion lives here: `decode_png_values`
(the pipeline's tf.data graph and numpy both call it), `to_scored` and the per-unit factors.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class DepthUnit:
    quantity: str  # "disparity" or "depth"
    label: str  # colour bars, panels, prediction summaries
    per_scored_unit: float  # values in this unit x per_scored_unit = values in the scored unit (px or m)
    scales_with_width: bool  # disparities: pixels of the input width


UNITS = {
    "disparity_px": DepthUnit("disparity", "disparity (px)", 1.0, True),
    "disparity_x256": DepthUnit("disparity", "disparity x256 (1/256 px, as KITTI's 16-bit PNGs)", 1.0 / 256, True),
    "depth_m": DepthUnit("depth", "depth (m)", 1.0, False),
    "depth_cm": DepthUnit("depth", "depth (cm; SYNTHIA's 16-bit PNG value)", 0.01, False),
}
CHOICES = ("paper16", "pixels", "metres")
#: older short names (models.predict --depth-units) for two of the units
UNITS_BY_NAME = {"disparity": "disparity_px", "metres": "depth_m"}
SCORED_UNIT = {"disparity": "disparity_px", "depth": "depth_m"}
DISPARITY_ENCODINGS = ("kitti_disparity", "cityscapes_disparity")
_BY_ENCODING = {
    "kitti_disparity": {"paper16": "disparity_x256", "pixels": "disparity_px", "metres": "depth_m", None: "disparity_px"},
    "cityscapes_disparity": {"paper16": "disparity_x256", "pixels": "disparity_px", "metres": "depth_m",
                             None: "disparity_px"},
    "centimetres": {"paper16": "depth_cm", "metres": "depth_m", None: "depth_m"},
}


def resolve(encoding, choice=None, dataset=None):
    """The unit key (UNITS) that `choice` (CHOICES or None = the dataset's default) means for a PNG `encoding`."""
    if choice is not None and choice not in CHOICES:
        raise ValueError(f"depth_units={choice!r} must be one of {CHOICES} or None (the dataset's default).")
    if encoding not in _BY_ENCODING:
        raise ValueError(f"unknown depth encoding {encoding!r}; known: {sorted(_BY_ENCODING)}")
    units = _BY_ENCODING[encoding]
    if choice not in units:
        what = dataset or encoding
        raise ValueError(f"depth_units={choice!r} is not available for {what}: its depth PNGs hold depth in "
                         f"centimetres, not disparity, and no stereo calibration is read for it; use "
                         f"{', '.join(repr(c) for c in units if c)}.")
    return units[choice]


def needs_calibration(encoding, unit):
    """True when the unit is metric depth computed from a disparity PNG (focal x baseline / disparity)."""
    return encoding in DISPARITY_ENCODINGS and UNITS[unit].quantity == "depth"


def decode_png_values(raw, encoding, unit, ops, focal_baseline=None):
    """Target values at the PNG's own resolution from its raw integer values (as float), 0 = invalid.

    `ops` is a numpy-like namespace (numpy or tf.experimental.numpy); `focal_baseline` (pixels x metres at the
    native width) is needed for `depth_m` from disparity. Multiply disparities by new width / native width after
    resizing (`UNITS[unit].scales_with_width`)."""
    valid = raw > 0
    if encoding in DISPARITY_ENCODINGS:
        disparity = (raw - 1.0) / 256.0 if encoding == "cityscapes_disparity" else raw / 256.0
        valid = valid & (disparity > 0)
        if unit == "disparity_px":
            values = disparity
        elif unit == "disparity_x256":
            values = disparity * 256.0
        elif unit == "depth_m":
            if focal_baseline is None:
                raise ValueError("depth_units='metres' on a disparity dataset needs each image's focal x baseline")
            values = focal_baseline / ops.maximum(disparity, 1e-6)
        else:
            raise ValueError(f"unit {unit!r} cannot be decoded from {encoding}")
    elif encoding == "centimetres":
        if unit == "depth_cm":
            values = raw * 1.0
        elif unit == "depth_m":
            values = raw / 100.0
        else:
            raise ValueError(f"unit {unit!r} cannot be decoded from {encoding}")
    else:
        raise ValueError(f"unknown depth encoding {encoding!r}")
    return ops.where(valid, values, 0.0 * values)


def to_scored(values, unit):
    """(values in the quantity's scored unit, that unit's key): pixels for disparities, metres for depths."""
    spec = UNITS[unit]
    return values * spec.per_scored_unit, SCORED_UNIT[spec.quantity]


def label(unit):
    """What to print beside a depth output in `unit` (None: unknown)."""
    return UNITS[unit].label if unit in UNITS else "depth or disparity (unit not recorded)"
