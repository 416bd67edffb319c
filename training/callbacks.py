"""TensorBoard for multi-task models: per-task validation metrics and image panels of predictions beside ground truth.

- `task_metrics(model)`: streaming metrics per task for `model.compile(metrics=...)`. Keras then computes them in the
  validation pass it already runs for the `val_` losses (no extra forward pass) and logs `val_{task}_{metric}` each
  epoch (and `{task}_{metric}` on the training batches), so History, CSVLogger and TensorBoard all see them:
  segmentation / motion / colorization `miou`; depth `abs_rel`, `rmse`, `delta1`. Stereo disparity and detection
  get none (disparity is scored against true depth with the camera calibration, detection mAP needs NMS over the
  whole set: both after training, e.g. reproduce.evaluation).
- `PredictionPanels`: a callback that, every `every` epochs and after the last one, predicts on a few fixed
  examples and writes one TensorBoard image per task and example: input | prediction | ground truth, side by side,
  `PANEL_GAP` white pixels apart, at the model's input size. Step = epoch (0-based), as Keras' epoch scalars.

    tensorboard = keras.callbacks.TensorBoard("logs")
    panels = PredictionPanels(val_inputs, val_targets, "logs", every=5)   # panels in logs/validation
    model.compile(optimizer="adam", weighting="gls", metrics=task_metrics(model))
    model.fit(train, validation_data=val, epochs=50, callbacks=[tensorboard, panels])

Each task draws its own tiles (its `panel` in tasks/; ground truth in the same colours and, for depth, the same
value range as the prediction); the built-in tasks:
segmentation and colorization: arg-max channel through the palette (`palettes[task]`, default
`models.overlays.generic_palette`), 255 black; motion: static grey, moving orange; depth: the magma colour map over the ground truth's 2nd-98th
percentile, invalid pixels black; disparity: the same, in pixels (prediction x max_disparity x width) against the
true disparity when the targets carry it under "depth"; detection: boxes drawn on the input image, in the class's
palette colour (`models.detection.decode_detections` above `score_threshold`; ground-truth rows with a class
outside [0, C) are padding). A task without ground truth gets a grey tile. The colour helpers are
models.overlays' (those of `python -m models.predict` and the reproduction's figures) unless `colorize` provides
them.

Only the writing needs TensorFlow (tf.summary, imported when the first panel is written); this module imports
without it.
"""
import os
import statistics
import time

import keras
import numpy as np

PANEL_GAP = 4  # white pixels between the tiles of a panel
MISSING_GREY = 128


def task_metrics(model, tasks=None, depth_cap=None):
    """{task: [streaming Keras metrics]} for `model.compile(metrics=...)`, logged as `{task}_{metric}` (training
    batches) and `val_{task}_{metric}` (validation data) every epoch: segmentation / motion / colorization `miou` over
    the model's channels; depth `abs_rel`, `rmse`, `delta1` (gt <= 0 invalid, `depth_cap` as metrics.depth_scores).

    `tasks`: the tasks whose targets both the training and the validation data carry (Keras fails on the first
    batch otherwise); default: the model's tasks but stereo disparity (its target is the right image). Keras prefixes
    a metric with its output's name only when two or more outputs are scored, so with one scored task the metrics
    carry the task in their own names: the logs read `{task}_{metric}` either way.

    The mean IoU averages the channels with a non-zero union (metrics.SegmentationMeanIoU): where a model has more
    channels than its classes (unused channels), a pixel predicted in an unused channel adds a zero to the mean."""
    from tasks import get_task

    tasks = [t for t in model.tasks if get_task(t).target_key == t] if tasks is None else list(tasks)
    prefix = (lambda task: f"{task}_") if len(tasks) == 1 else (lambda task: "")
    chosen = {}
    for task in tasks:
        spec = get_task(task)
        channels = int(model.output[task].shape[-1]) if task in model.output else spec.channels
        metrics = spec.streaming_metrics(channels, prefix(task), depth_cap=depth_cap)
        if metrics:
            chosen[task] = metrics
    return chosen


def _tensorflow():
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            f"TensorBoard summaries are written with tf.summary, which needs TensorFlow; the Keras backend is "
            f"{keras.backend.backend()!r} and TensorFlow cannot be imported ({error}). Install tensorflow (or "
            f"tensorflow-cpu) beside your backend to write TensorBoard logs.") from error
    return tf


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


class PredictionPanels(keras.callbacks.Callback):
    """Every `every` epochs and after the last, one TensorBoard image per task and example: input | prediction |
    ground truth (see the module docstring for how each task is drawn).

    Args:
        inputs: the model's inputs of a few fixed examples: a dict of (N, H, W, 3) arrays (`image`, and
            `previous_image` / `depth_image` where the model takes them) or one array; the panel shows `image`.
        targets: dict task -> ground truth of the same examples, as the datasets give them: segmentation, motion,
            colorization int (N, H, W) channel ids (255 ignore); depth float (N, H, W[, 1]) (0 invalid); detection
            (N, max_boxes, 5) [ymin, xmin, ymax, xmax, class] normalised; disparity: the true disparity in pixels
            under "depth", if any. Tasks without a target get a grey ground-truth tile.
        log_dir: the TensorBoard folder, the one given to keras.callbacks.TensorBoard; panels go to `log_dir/run`.
        every: epochs between panels (epochs every, 2 x every, ... counted from 1, and the last epoch).
        max_images: examples per panel (the first of `inputs`).
        palettes: dict task -> (K, 3) uint8 colours of its channels (segmentation, colorization; detection: of its
            classes); default `models.overlays.generic_palette`.
        colorize: dict of renderers replacing models.overlays': "segmentation" f(ids (H, W), palette),
            "depth" f(values (H, W), vmin=..., vmax=...), "motion" f(mask (H, W)), each returning (H, W, 3) uint8.
        run: the sub-folder (TensorBoard run) of `log_dir`; "validation" puts the panels beside Keras' val_ scalars.
        tag: images are tagged "{tag}/{task}".
        score_threshold: detection boxes drawn from this score (objectness x class probability) on.
    """

    def __init__(self, inputs, targets, log_dir, every=1, max_images=4, palettes=None, colorize=None,
                 run="validation", tag="panels", score_threshold=0.3):
        super().__init__()
        if int(every) < 1 or int(max_images) < 1:
            raise ValueError(f"every and max_images must be >= 1, got every={every!r}, max_images={max_images!r}")
        self.every, self.max_images = int(every), int(max_images)
        if isinstance(inputs, dict):
            self.inputs = {name: _numpy(value)[: self.max_images] for name, value in inputs.items()}
            if "image" not in self.inputs:
                raise ValueError(f"inputs has no 'image' entry to show; got {sorted(self.inputs)}")
            self.images = self.inputs["image"]
        else:
            self.inputs = self.images = _numpy(inputs)[: self.max_images]
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or len(self.images) == 0:
            raise ValueError(f"the image input must be (N >= 1, H, W, 3), got shape {self.images.shape}")
        self.targets = {task: _numpy(value)[: self.max_images] for task, value in (targets or {}).items()}
        self.log_dir = os.fspath(log_dir)
        self.run, self.tag, self.score_threshold = run, tag, float(score_threshold)
        self.palettes = {task: np.asarray(p, np.uint8).reshape(-1, 3) for task, p in (palettes or {}).items()}
        self.colorize = dict(colorize or {})
        self.written_steps = []
        self._writer = None
        self._last_epoch = None

    # ------------------------------------------------------------------ schedule
    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch
        if (epoch + 1) % self.every == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        try:
            if self._last_epoch is not None and self._last_epoch not in self.written_steps:
                self.write(self._last_epoch)
        finally:
            self.close()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------ writing
    def write(self, step):
        """Predicts on the fixed examples and writes their panels at `step`; returns the panels (`render`)."""
        panels = self.render()
        tf = _tensorflow()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, self.run))
        from data.depth_units import label

        units = getattr(self.model, "target_units", {})  # what the depth output was trained on (colour range only)
        with self._writer.as_default():
            for task, images in panels.items():
                unit = f"; values in {label(units[task])}" if task in units else ""
                tf.summary.image(f"{self.tag}/{task}", images, step=int(step), max_outputs=len(images),
                                 description=f"{task}: input | prediction | ground truth{unit}")
        self._writer.flush()
        self.written_steps.append(int(step))
        return panels

    def predict(self):
        """The model's outputs on the fixed examples, dict task -> numpy (one eager forward pass, nothing traced)."""
        outputs = self.model(self.inputs, training=False)
        if not isinstance(outputs, dict):
            raise ValueError("PredictionPanels needs a model whose outputs are a dict keyed by task "
                             f"(models.MultiTaskModel); got {type(outputs).__name__}.")
        return {task: _numpy(value) for task, value in outputs.items()}

    def render(self, predictions=None):
        """dict task -> (N, H, 3 W + 2 PANEL_GAP, 3) uint8 panels of `predictions` (default: `predict()`)."""
        predictions = self.predict() if predictions is None else predictions
        panels = {}
        for task, predicted in predictions.items():
            predicted = _numpy(predicted)
            rows = [self._panel(task, predicted, index) for index in range(len(self.images))]
            panels[task] = np.stack(rows)
        return panels

    # ------------------------------------------------------------------ drawing
    def renderers(self):
        """The colour helpers the tasks draw with: models.overlays' unless `colorize` replaces them."""
        missing = {"segmentation", "depth", "motion"} - set(self.colorize)
        if not missing:
            return self.colorize
        from common import overlays

        defaults = {"segmentation": overlays.colorize_segmentation, "depth": overlays.colorize_depth,
                    "motion": overlays.colorize_motion}
        return {**defaults, **self.colorize}

    def palette(self, task, count):
        """`palettes[task]` when it has `count` colours, else the generic palette."""
        from common.overlays import generic_palette

        palette = self.palettes.get(task)
        return palette if palette is not None and len(palette) >= count else generic_palette(count)

    def _panel(self, task, predicted, index):
        from tasks import get_task

        image = np.clip(np.round(self.images[index]), 0, 255).astype(np.uint8)
        height, width = image.shape[:2]
        spec = get_task(task)
        prediction, truth = spec.panel(predicted[index], self._target(spec.truth_key, index), image, self)
        tiles = [image, _fit(prediction, height, width),
                 _fit(truth, height, width) if truth is not None else np.full_like(image, MISSING_GREY)]
        gap = np.full((height, PANEL_GAP, 3), 255, np.uint8)
        return np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)

    def _target(self, task, index):
        return self.targets[task][index] if task in self.targets else None


class StepTimer(keras.callbacks.Callback):
    """Wall seconds of each training step; `median_seconds` leaves out the first step of the fit (tracing,
    compilation, allocation), so methods compare by what a step costs once running."""

    def __init__(self):
        super().__init__()
        self.seconds, self._started = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)

    @property
    def median_seconds(self):
        measured = self.seconds[1:]
        return statistics.median(measured) if measured else None


def _fit(tile, height, width):
    """`tile` (h, w, 3) at (height, width): nearest neighbour when an output's resolution differs from the input's."""
    tile = np.asarray(tile, np.uint8)
    if tile.shape[:2] == (height, width):
        return tile
    rows = np.minimum((np.arange(height) * tile.shape[0]) // height, tile.shape[0] - 1)
    cols = np.minimum((np.arange(width) * tile.shape[1]) // width, tile.shape[1] - 1)
    return tile[rows][:, cols]
