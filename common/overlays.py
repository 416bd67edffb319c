"""Pictures of task outputs: colour maps, overlays on the input image, a depth map with its colour bar, boxes.

numpy, matplotlib and Pillow only, so `python -m models.predict`, the reproduction's figures, the TensorBoard panels
and the notebook draw every task the same way. Figures are drawn on their own Agg canvas, never through pyplot, so
importing this module leaves a notebook's plotting backend alone.
"""
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

MOVING_COLOR = (255, 64, 0)
STATIC_COLOR = (64, 64, 64)
DEPTH_CMAP = "magma"


def colorize_segmentation(ids, palette, ignore_index=255):
    """(H, W) class ids -> (H, W, 3) uint8 colours from `palette` (K, 3); ids outside [0, K) are black."""
    ids = _squeeze_channel(np.asarray(ids)).astype(np.int64)
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    known = (ids >= 0) & (ids < len(palette)) & (ids != ignore_index)
    rgb = np.zeros(ids.shape + (3,), dtype=np.uint8)
    rgb[known] = palette[ids[known]]
    return rgb


def colorize_depth(values, invalid=0.0, cmap="magma", vmin=None, vmax=None):
    """(H, W) or (H, W, 1) depth or disparity -> (H, W, 3) uint8 through a matplotlib colour map.

    Pixels that are non-finite, <= 0 or equal to `invalid` are black. The default range is the valid
    pixels' 2nd to 98th percentile, so a few extreme pixels do not wash out the rest of the image.
    """
    values = _squeeze_channel(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values > 0) & (values != invalid)
    rgb = np.zeros(values.shape + (3,), dtype=np.uint8)
    if not valid.any():
        return rgb
    low, high = np.percentile(values[valid], [2, 98])
    low = low if vmin is None else float(vmin)
    high = high if vmax is None else float(vmax)
    if not high > low:  # constant image: any non-empty range maps it to one colour
        high = low + max(abs(low), 1.0) * 1e-6
    normalised = np.clip((values[valid] - low) / (high - low), 0.0, 1.0)
    colours = matplotlib.colormaps[cmap](normalised)[:, :3]
    rgb[valid] = np.round(colours * 255).astype(np.uint8)
    return rgb


def colorize_motion(mask):
    """(H, W) motion mask {0 static, 1 moving, 255 ignore} -> (H, W, 3) uint8; anything else is black."""
    mask = _squeeze_channel(np.asarray(mask))
    rgb = np.zeros(mask.shape + (3,), dtype=np.uint8)
    rgb[mask == 0] = STATIC_COLOR
    rgb[mask == 1] = MOVING_COLOR
    return rgb


def blend(image, colours, alpha=0.5, where=None):
    """`colours` laid over `image` (both (H, W, 3) uint8) with opacity `alpha`, only where `where` (H, W) is True."""
    image = np.asarray(image, dtype=np.float32)
    mixed = (1.0 - alpha) * image + alpha * np.asarray(colours, dtype=np.float32)
    if where is not None:
        mixed = np.where(np.asarray(where)[..., None], mixed, image)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def depth_with_colorbar(values, label="disparity (px)", cmap=DEPTH_CMAP):
    """(H, W[, 1]) depth or disparity -> uint8 RGB picture of the map at its own resolution with a labelled
    colour bar on the right (the range of `colorize_depth`: the valid pixels' 2nd to 98th percentile)."""
    values = _squeeze_channel(np.asarray(values, dtype=np.float64))
    height, width = values.shape
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values > 0)
    low, high = np.percentile(values[valid], [2, 98]) if valid.any() else (0.0, 1.0)
    high = high if high > low else low + max(abs(low), 1.0) * 1e-6
    dpi = 100
    bar_inches = 1.3
    figure = Figure(figsize=(width / dpi + bar_inches, max(height / dpi, 1.5)), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    image_height = height / dpi / figure.get_figheight()
    image_axis = figure.add_axes((0, (1 - image_height) / 2, width / dpi / figure.get_figwidth(), image_height))
    image_axis.imshow(colorize_depth(values, cmap=cmap, vmin=low, vmax=high), interpolation="nearest")
    image_axis.set_axis_off()
    left = (width / dpi + 0.15) / figure.get_figwidth()
    bar_axis = figure.add_axes((left, 0.08, 0.18 / figure.get_figwidth(), 0.84))
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(low, high), cmap=cmap)
    figure.colorbar(mappable, cax=bar_axis, label=label)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def draw_detections(image, boxes, classes, scores=None, class_names=None, palette=None):
    """A copy of `image` (H, W, 3) uint8 with the outlines of `boxes` (n, 4) [ymin, xmin, ymax, xmax] in pixels
    (rows ymin..ymax-1), each in `palette[class]` (default `generic_palette`); with `class_names`, a "name score"
    label on each box."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    palette = np.asarray(palette if palette is not None else generic_palette(int(classes.max(initial=0)) + 1),
                         dtype=np.uint8).reshape(-1, 3)
    line = max(1, round(min(picture.size) / 150))
    scores = [None] * len(classes) if scores is None else scores
    for (top, left, bottom, right), score, class_id in zip(np.asarray(boxes).reshape(-1, 4), scores, classes):
        colour = tuple(int(c) for c in palette[class_id % len(palette)])
        top, left = round(float(top)), round(float(left))
        bottom, right = max(top, round(float(bottom)) - 1), max(left, round(float(right)) - 1)
        draw.rectangle((left, top, right, bottom), outline=colour, width=line)
        if class_names is None:
            continue
        name = class_names[class_id] if 0 <= class_id < len(class_names) else f"class {class_id}"
        text = name if score is None else f"{name} {float(score):.2f}"
        text_box = draw.textbbox((left, top), text, font=font)
        lift = text_box[3] - text_box[1] + 2
        text_top = top - lift if top - lift >= 0 else top
        draw.rectangle((left, text_top, left + text_box[2] - text_box[0] + 4, text_top + lift), fill=colour)
        draw.text((left + 2, text_top), text, fill=(0, 0, 0) if sum(colour) > 380 else (255, 255, 255), font=font)
    return np.asarray(picture)


def generic_palette(count):
    """(count, 3) uint8 distinct colours, none black, for class ids no class set names: the PASCAL VOC
    bit-interleaved colour map from its second entry."""
    palette = np.zeros((count, 3), np.uint8)
    for index in range(count):
        label, colour = index + 1, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                colour[channel] |= ((label >> channel) & 1) << shift
            label >>= 3
        palette[index] = colour
    return palette


def _squeeze_channel(array):
    return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
