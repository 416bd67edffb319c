"""`python -m models.predict`: a trained model on your own images or frame sequences.

    python -m models.predict --model M.keras --input DIR|FILE|'frames/*.png' --out DIR [--batch-size 4]
        [--classes SET] [--detection-classes A,B,C] [--score-threshold 0.3] [--depth-units UNIT]
        [--ab-stats MU_A,SD_A,MU_B,SD_B] [--alpha 0.5] [--video gif|mp4] [--fps 10]

Images of any size are resized to the model's input (bilinear, as in training) and every output is resized back to
the image's own size. For each image and task it writes `OUT/<task>/<name>.png`, a picture, and `OUT/<task>/<name>.npy`,
the output at the image's size:

| task | .npy | picture |
|---|---|---|
| segmentation | class ids, uint8 | the class set's palette blended over the image |
| motion | 0 static / 1 moving, uint8 | moving pixels tinted over the image |
| depth, disparity | float32 | colour map with a colour bar |
| colorization | (a, b) expected over the colour bins, float32 | the image's lightness with the predicted colours |
| detection | (n, 6) float32 [ymin, xmin, ymax, xmax, score, class] in pixels, clipped to the image | boxes with class names and scores |

Disparity is in pixels of the width it was predicted at, so it is multiplied by (image width / model width): the
`disparity` task always, `depth` when its unit is a disparity. The depth unit is the one the model recorded when it
was trained (`MultiTaskModel.target_units`, e.g. `disparity_x256`: KITTI's 16-bit PNG value, as AuxNet and
MultiNet++ trained; see data/depth_units.py); `--depth-units` overrides it (models saved without one are taken as
disparity in pixels), and `OUT/summary.json` says which unit the `.npy` files and colour bars are in. A 2-frame model reads the images as one sequence ordered by file name and runs
`StreamingPredictor` (each frame encoded once; the first frame is paired with itself). `--video` also writes
`OUT/<task>.gif` or `.mp4` of the pictures. An unreadable image is skipped with a warning and counted;
`OUT/summary.json` records what was done.
"""
import argparse
import collections
import glob
import importlib.util
import os
import sys
import time

import numpy as np

from models.cli import UsageError, add_model_argument, check_tasks, import_modules, load_model, run_command
from tasks import get_task

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
DEPTH_UNIT_CHOICES = ("disparity", "metres", "disparity_px", "disparity_x256", "depth_m", "depth_cm")
DEFAULT_DETECTION_CLASSES = {3: ("Car", "Pedestrian", "Cyclist"),  # KITTI object (Leang et al.)
                             5: ("vehicles", "person", "bicycle", "traffic_light", "traffic_sign"),  # WoodScape
                             8: ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")}
DEFAULT_CLASS_SETS = {3: "leang3", 12: "kitti12", 13: "synthia13", 19: "cityscapes19", 20: "cityscapes20"}


class UnreadableImage(Exception):
    pass


def find_images(pattern):
    """Image files of a folder (sorted, not recursive), one file, or a glob pattern (sorted)."""
    if os.path.isdir(pattern):
        paths = [os.path.join(pattern, name) for name in sorted(os.listdir(pattern))
                 if name.lower().endswith(IMAGE_EXTENSIONS)]
    elif os.path.isfile(pattern):
        paths = [pattern]
    else:
        paths = [path for path in sorted(glob.glob(pattern)) if os.path.isfile(path)]
    if not paths:
        what = "folder has no image files" if os.path.isdir(pattern) else "matches no file"
        raise UsageError(f"--input {pattern}: the {what} ({', '.join(IMAGE_EXTENSIONS)}).")
    return paths


def read_image(path):
    """(H, W, 3) uint8 RGB; `UnreadableImage` names the file when it is not an image Pillow can decode."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return np.asarray(picture.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        raise UnreadableImage(f"{path}: {error}") from None


def output_names(paths):
    """A file name per input: its stem, or its path below the inputs' common folder when stems collide."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    if len(set(stems)) == len(stems):
        return stems
    root = os.path.commonpath([os.path.abspath(path) for path in paths])
    return [os.path.splitext(os.path.relpath(os.path.abspath(path), root))[0].replace(os.sep, "__")
            for path in paths]


class Renderer:
    """Turns one image's raw model outputs into outputs at the image's size and pictures of them."""

    def __init__(self, model, classes=None, detection_classes=None, score_threshold=0.3, depth_units=None,
                 ab_stats=None, alpha=0.5):
        from data import depth_units as units

        self.input_size = tuple(int(v) for v in model.input["image"].shape[1:3])
        self.channels = {task: int(model.output[task].shape[-1]) for task in model.tasks}
        self.score_threshold = score_threshold
        recorded = getattr(model, "target_units", {}).get("depth")
        self.depth_unit = units.UNITS_BY_NAME.get(depth_units, depth_units) or recorded or "disparity_px"
        self.ab_stats = ab_stats
        self.alpha = alpha
        self.palette, self.class_names = self._class_set(classes)
        self.detection_names = self._detection_names(detection_classes)

    def _class_set(self, key):
        from common.overlays import generic_palette
        from data import class_sets

        channels = self.channels.get("segmentation")
        if channels is None:
            return None, None
        key = key or DEFAULT_CLASS_SETS.get(channels)
        if key is None:
            return generic_palette(channels), [f"class {i}" for i in range(channels)]
        if key not in class_sets.CLASS_SETS:
            raise UsageError(f"--classes {key}: unknown class set; choose from {', '.join(sorted(class_sets.CLASS_SETS))}.")
        class_set = class_sets.CLASS_SETS[key]
        if class_set.channels != channels:
            raise UsageError(f"--classes {key} has {class_set.channels} channels but the model's segmentation has "
                             f"{channels}.")
        return class_set.palette, list(class_set.names)

    def _detection_names(self, names):
        if "detection" not in self.channels:
            return None
        from models.detection import BOX_FIELDS

        count = self.channels["detection"] - BOX_FIELDS
        if names:
            names = [name.strip() for name in names.split(",")]
            if len(names) != count:
                raise UsageError(f"--detection-classes names {len(names)} classes but the model detects {count}.")
            return names
        return list(DEFAULT_DETECTION_CLASSES.get(count, [f"class {i}" for i in range(count)]))

    def outputs_at_image_size(self, raw, image):
        """{task: output at the image's size} from one image's raw outputs {task: (h, w, C)} (each task's
        `output_at_size`, tasks/)."""
        return {task: get_task(task).output_at_size(np.asarray(value, np.float32), image, self)
                for task, value in raw.items()}

    def picture(self, task, image, output):
        """(H', W', 3) uint8 picture of one task's output at the image's size (the task's `picture`)."""
        return get_task(task).picture(image, output, self)

    def unit(self, task):
        """The unit key of a task's saved values (data/depth_units.py), or None."""
        return get_task(task).unit(self)

    @property
    def units(self):
        """{task: unit key} of the model's tasks whose values have a unit."""
        return {task: self.unit(task) for task in self.channels if self.unit(task) is not None}

    def _is_disparity(self, task):
        from data import depth_units as units

        return units.UNITS[self.unit(task)].scales_with_width


def predict_images(model, images, renderer, batch_size=4):
    """Yields {task: output at the image's size} for each image (uint8 arrays) in order; 2-frame models stream."""
    from models.streaming import StreamingPredictor

    if model.frames == 2:
        streamer = StreamingPredictor(model)
        for image in images:
            raw = streamer.step(_resized(image, renderer.input_size))
            yield renderer.outputs_at_image_size({task: value[0] for task, value in raw.items()}, image)
        return
    batch = []
    for image in images:
        batch.append(image)
        if len(batch) == batch_size:
            yield from _predict_batch(model, batch, renderer)
            batch = []
    if batch:
        yield from _predict_batch(model, batch, renderer)


def _predict_batch(model, images, renderer):
    inputs = np.stack([_resized(image, renderer.input_size) for image in images])
    raw = model.predict_on_batch({"image": inputs})
    for index, image in enumerate(images):
        yield renderer.outputs_at_image_size({task: value[index] for task, value in raw.items()}, image)


def _resized(image, size):
    import keras

    return keras.ops.convert_to_numpy(keras.ops.image.resize(image.astype(np.float32), size, "bilinear"))


def _readable(paths, skipped):
    """(path, image) of each readable file; an unreadable one is reported, recorded in `skipped` and passed over."""
    from tqdm import tqdm

    for path in paths:
        try:
            yield path, read_image(path)
        except UnreadableImage as error:
            tqdm.write(f"warning: skipping unreadable image {error}", file=sys.stderr)
            skipped.append({"file": path, "reason": str(error)})


def write_outputs(out, name, image, outputs, renderer):
    """OUT/<task>/<name>.npy and .png for every task; returns {task: picture path}."""
    from PIL import Image

    from common.atomic import atomic_path

    pictures = {}
    for task, value in outputs.items():
        folder = os.path.join(out, task)
        os.makedirs(folder, exist_ok=True)
        with atomic_path(os.path.join(folder, f"{name}.npy")) as temporary, open(temporary, "wb") as file:
            np.save(file, value)
        picture = renderer.picture(task, image, value)
        pictures[task] = os.path.join(folder, f"{name}.png")
        with atomic_path(pictures[task]) as temporary:
            Image.fromarray(picture).save(temporary, format="PNG")
    return pictures


def write_video(path, frames, fps):
    """A GIF (Pillow) or MP4 (imageio with imageio-ffmpeg) of the pictures, resized to the first one's size."""
    from PIL import Image

    from common.atomic import atomic_path

    pictures = [Image.open(frame).convert("RGB") for frame in frames]
    pictures = [picture.resize(pictures[0].size) for picture in pictures]
    with atomic_path(path) as temporary:
        if path.endswith(".gif"):
            pictures[0].save(temporary, format="GIF", save_all=True, append_images=pictures[1:],
                             duration=round(1000 / fps), loop=0)
        else:
            import imageio.v3 as imageio

            # even sizes: H.264 encodes 2x2 chroma blocks
            arrays = [np.asarray(picture)[: picture.height // 2 * 2, : picture.width // 2 * 2] for picture in pictures]
            imageio.imwrite(temporary, np.stack(arrays), extension=".mp4", fps=fps, codec="libx264")


def _check_video_support(kind):
    if kind == "mp4":
        if importlib.util.find_spec("imageio_ffmpeg") is None:
            raise UsageError("--video mp4 needs the ffmpeg plugin of imageio: pip install imageio-ffmpeg "
                             "(or use --video gif, which needs nothing more).")


def _parse_ab_stats(text):
    if text is None:
        return None
    try:
        values = tuple(float(value) for value in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[1] <= 0 or values[3] <= 0:
        raise UsageError(f"--ab-stats {text!r}: expected MU_A,SD_A,MU_B,SD_B (standard deviations > 0), as "
                         f"data.statistics.estimate_ab_statistics gives them for the training set.")
    return values


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m models.predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_argument(parser)
    parser.add_argument("--input", required=True, help="an image folder, an image file or a quoted glob pattern")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=4, help="images per model call, 1-frame models (default 4)")
    parser.add_argument("--tasks", help="comma-separated subset of the model's tasks to write (default all)")
    parser.add_argument("--classes", help="segmentation class set for palette and names (default from the "
                        "channel count: 3 leang3, 12 kitti12, 13 synthia13, 19 cityscapes19, 20 cityscapes20)")
    parser.add_argument("--detection-classes", help="comma-separated detection class names (default from the "
                        "class count: 3 KITTI, 5 WoodScape, 8 Cityscapes)")
    parser.add_argument("--score-threshold", type=float, default=0.3, help="detection score threshold (0.3)")
    parser.add_argument("--depth-units", choices=DEPTH_UNIT_CHOICES,
                        help="what the depth task predicts (disparity = disparity_px, metres = depth_m; default: the "
                             "unit the model recorded in training, else disparity_px); disparities scale with the "
                             "width")
    parser.add_argument("--ab-stats", help="MU_A,SD_A,MU_B,SD_B of the colorization bins (default: each image's own)")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (0.5)")
    parser.add_argument("--video", choices=("gif", "mp4"), help="also write OUT/<task>.gif|mp4 of the pictures")
    parser.add_argument("--fps", type=float, default=10.0, help="video frames per second (10)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import_modules(args.imports)
    if args.batch_size < 1:
        raise UsageError(f"--batch-size {args.batch_size}: must be at least 1.")
    if not 0.0 <= args.alpha <= 1.0:
        raise UsageError(f"--alpha {args.alpha}: must be in [0, 1].")
    if not 0.0 <= args.score_threshold <= 1.0:
        raise UsageError(f"--score-threshold {args.score_threshold}: must be in [0, 1].")
    if args.fps <= 0:
        raise UsageError(f"--fps {args.fps}: must be positive.")
    if args.video:
        _check_video_support(args.video)
    paths = find_images(args.input)
    model = load_model(args.model)
    if set(model.input) != {"image"} and set(model.input) != {"image", "previous_image"}:
        raise UsageError(f"--model {args.model} takes inputs {sorted(model.input)}; prediction on images supports "
                         f"models with 'image' (and 'previous_image' for 2-frame models).")
    tasks = check_tasks(model, args.tasks, "--tasks") if args.tasks else list(model.tasks)
    renderer = Renderer(model, args.classes, args.detection_classes, args.score_threshold, args.depth_units,
                        _parse_ab_stats(args.ab_stats), args.alpha)
    return predict_folder(model, paths, args.out, renderer, tasks, args.batch_size, args.video, args.fps,
                          progress=not args.quiet, model_path=args.model)


def predict_folder(model, paths, out, renderer, tasks=None, batch_size=4, video=None, fps=10.0, progress=True,
                   model_path=None):
    """Predicts every image of `paths`, writes outputs, pictures, videos and OUT/summary.json; returns 0."""
    from tqdm import tqdm

    from common.atomic import write_json

    tasks = list(tasks or model.tasks)
    started = time.time()
    names = dict(zip(paths, output_names(paths)))
    skipped, done, pictures = [], [], {task: [] for task in tasks}
    bar = tqdm(total=len(paths), desc="predict", unit="image", disable=not progress, file=sys.stderr)
    waiting = collections.deque()  # images handed to the model whose outputs have not come back yet

    def images():
        for path, image in _readable(paths, skipped):
            waiting.append((path, image))
            yield image
            bar.update(1)

    for outputs in predict_images(model, images(), renderer, batch_size):
        path, image = waiting.popleft()
        written = write_outputs(out, names[path], image, {task: outputs[task] for task in tasks}, renderer)
        for task in tasks:
            pictures[task].append(written[task])
        done.append(path)
    bar.update(len(skipped))
    bar.close()
    if not done:
        raise UsageError(f"--input: none of the {len(paths)} files could be read as an image "
                         f"(first: {skipped[0]['reason']}).")
    os.makedirs(out, exist_ok=True)
    videos = {}
    if video:
        for task in tasks:
            videos[task] = os.path.join(out, f"{task}.{video}")
            write_video(videos[task], pictures[task], fps)
    summary = {"model": model_path, "model_name": model.name, "frames": model.frames, "tasks": tasks,
               "streaming": model.frames == 2, "images": len(done), "skipped": skipped,
               "input_size": list(renderer.input_size), "videos": videos,
               "units": {task: renderer.unit(task) for task in tasks if renderer.unit(task) is not None},
               "seconds": round(time.time() - started, 2)}
    write_json(os.path.join(out, "summary.json"), summary)
    print(f"{len(done)} image(s) predicted, {len(skipped)} skipped (unreadable); "
          f"{'streamed, ' if model.frames == 2 else ''}outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
