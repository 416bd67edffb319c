"""Scores of a trained run on its validation split, as the flat dict the tables read (metrics.json).

Keys: "segmentation/miou" (mean over the class set's named classes), "segmentation/iou/<class>",
"segmentation/pixel_accuracy", and the other readings of a paper's "IoU" (metrics.segmentation,
reproduce/iou_definition.py): "segmentation/pooled_jaccard" (what AuxNet's and NeurAll's "IoU" columns fit),
"segmentation/frequency_weighted_iou", "segmentation/mean_class_accuracy", "segmentation/image_mean_iou_smoothed"
(the same for motion and colorization); "motion/miou", "motion/iou/moving", "motion/pixel_accuracy"; "depth/<score>" and
"disparity/<score>" for abs_rel, sq_rel, rmse, rmse_log, delta1 (depth: on the dataset's depth target in its
scored unit, whatever unit the network trained on (data/depth_units.py: a network trained on KITTI's 16-bit PNG
values, "disparity_x256", is scored in pixels of disparity), i.e. disparity in pixels for KITTI / Cityscapes and
metres for SYNTHIA, "depth/unit" naming it; disparity: Novosel's self-supervised disparity
turned into depth with the dataset's calibration, depth = focal x baseline / disparity, capped at 50 m);
"colorization/miou"; "detection/map"; "geometric_mean" = sqrt(mAP x mIoU) when a run has both.
Cityscapes segmentation on the 19 trainIds is also scored as the official cityscapesscripts evaluation scores it
(metrics.cityscapes, equal to it to 1e-9): the class scores upsampled bilinearly to the labels' full resolution
(2048x1024) and compared with the gtFine labelIds and instanceIds: "cityscapes/class_miou", "cityscapes/class_iiou",
"cityscapes/category_miou", "cityscapes/category_iiou", "cityscapes/iou/<class>".
`samples.npz` keeps the first validation images with targets and predictions for the qualitative figures.
"""
import math
import os

import numpy as np

from data import class_sets
from reproduce.datasets import data_tasks
from reproduce.plan import run_image_size
from tasks import get_task
from tasks.depth import DEPTH_SCORES  # noqa: F401  (re-exported: the tables read these names)
from tasks.disparity import DISPARITY_CAP_METRES  # noqa: F401
from tasks.labels import IOU_READINGS  # noqa: F401

SAMPLES = 2


def eval_tasks(model_tasks):
    """Targets the evaluation needs: the training targets, plus the true disparity to score stereo disparity."""
    tasks = data_tasks(model_tasks)
    for task in model_tasks:
        truth = get_task(task).truth_key
        if truth not in tasks:
            tasks.append(truth)
    return tasks


def evaluate(model, experiment, settings, plan_budget, folder=None):
    class_set = class_sets.get(experiment.class_set) if experiment.class_set else None
    if experiment.dataset == "kitti_detseg":
        from reproduce.datasets import COMPOSITES

        metrics = {}
        for task, dataset in COMPOSITES["kitti_detseg"].items():
            metrics.update(_evaluate_split(model, experiment, settings, plan_budget, dataset, [task], class_set,
                                           folder if task == "segmentation" else None))
    else:
        metrics = _evaluate_split(model, experiment, settings, plan_budget, experiment.dataset, list(model.tasks),
                                  class_set, folder)
    if "detection/map" in metrics and "segmentation/miou" in metrics:
        from metrics.detection import geometric_mean_score

        detection, segmentation = metrics["detection/map"], metrics["segmentation/miou"]
        metrics["geometric_mean"] = (geometric_mean_score(detection, segmentation)
                                     if math.isfinite(detection) and math.isfinite(segmentation) else float("nan"))
    return metrics


def _evaluate_split(model, experiment, settings, plan_budget, dataset, tasks, class_set, folder):

    options = dict(experiment.data_options)
    image_size = run_image_size(experiment, settings)
    ds = settings.sources.load(dataset, experiment.val_split, eval_tasks(tasks), frames=experiment.frames,
                               class_set=class_set, segmentation_dataset=dataset, batch_size=plan_budget.batch_size,
                               image_size=image_size, **options)
    limit = plan_budget.val_images
    if limit:
        ds = ds.take(math.ceil(limit / plan_budget.batch_size))
    context = EvaluationContext(model, experiment, settings, dataset, class_set, image_size)
    evaluators = {task: get_task(task).evaluator(int(model.output[task].shape[-1]), context) for task in tasks}
    evaluators = {task: evaluator for task, evaluator in evaluators.items() if evaluator is not None}
    official = OfficialCityscapes.for_split(settings, dataset, experiment, tasks, class_set)

    samples = {}
    seen = 0
    for inputs, targets in ds:
        predictions = model.predict_on_batch(inputs)
        batch = int(next(iter(inputs.values())).shape[0])
        if limit:
            keep = min(batch, limit - seen)
            inputs = {k: v[:keep] for k, v in inputs.items()}
            targets = {k: v[:keep] for k, v in targets.items()}
            predictions = {k: np.asarray(v)[:keep] for k, v in predictions.items()}
            batch = keep
        arrays = {key: np.asarray(value) for key, value in targets.items()}
        for task, evaluator in evaluators.items():
            evaluator.update(np.asarray(predictions[task]), arrays, seen)
        if official is not None:
            official.update(np.asarray(predictions["segmentation"]), seen)
        if len(samples.get("image", ())) < SAMPLES:
            _keep_samples(samples, inputs, targets, predictions, tasks)
        seen += batch
        if limit and seen >= limit:
            break
    if seen == 0:
        raise ValueError(f"the {experiment.val_split} split of {dataset} gave no image to evaluate")
    if folder is not None and samples:
        _write_samples(os.path.join(folder, "samples.npz"), samples)
    metrics = {}
    for evaluator in evaluators.values():
        metrics.update(evaluator.scores())
    if official is not None:
        metrics.update(official.scores())
    return metrics


class EvaluationContext:
    """What a task's evaluator may ask of the run (tasks/: `Task.evaluator(channels, context)`)."""

    def __init__(self, model, experiment, settings, dataset, class_set, image_size):
        self.model, self.experiment, self.settings, self.dataset = model, experiment, settings, dataset
        self.class_set, self.image_size = class_set, image_size

    @property
    def depth_unit(self):
        """The unit the depth output predicts: the one it trained on, else the dataset's depth target's."""
        options = dict(self.experiment.data_options)
        return self.model.target_units.get("depth") or self.settings.sources.depth_unit(self.dataset, options)

    def focal_baselines(self):
        """focal x baseline at the evaluated width, per validation example in pipeline order."""
        return _focal_baselines(self.settings, self.dataset, self.experiment, self.image_size[1])


class OfficialCityscapes:
    """The official Cityscapes pixel-level evaluation of a run's validation predictions (metrics.cityscapes), at the
    labels' full resolution as the benchmark scores them; the examples are the pipeline's, in its order."""

    def __init__(self, reader, examples):
        from metrics.cityscapes import CityscapesEvaluator

        self.reader, self.examples = reader, examples
        self.evaluator = CityscapesEvaluator()

    @classmethod
    def for_split(cls, settings, dataset, experiment, tasks, class_set):
        """The evaluation when `dataset` is Cityscapes with fine labels and the class set is its 19 trainIds."""
        from metrics.cityscapes import NUM_TRAIN_IDS

        identity = class_set is not None and dataset in class_set.mapping and (
            class_set.lookup(dataset)[:NUM_TRAIN_IDS] == np.arange(NUM_TRAIN_IDS)).all()
        options = experiment.data_options
        if dataset != "cityscapes" or "segmentation" not in tasks or not identity or options.get("coarse"):
            return None
        reader, split = settings.sources.reader(dataset, experiment.val_split, **options)
        examples = reader.list_examples(split, eval_tasks(tasks), experiment.frames,
                                        options.get("depth_input", False))
        return cls(reader, examples)

    def update(self, scores, first_index):
        """Scores (B, h, w, C >= 19) of the examples from `first_index` on."""
        from PIL import Image

        from metrics.cityscapes import NUM_TRAIN_IDS, upsample_prediction

        for offset, image_scores in enumerate(np.asarray(scores)):
            example = self.examples[first_index + offset]
            with Image.open(example.files["segmentation"]) as labels_png:
                labels = np.asarray(labels_png)
            with Image.open(self.reader.instance_ids_path(example)) as instances_png:
                instances = np.asarray(instances_png)
            # the 20-channel class sets' last channel is no class: the 19 trainIds decide
            predicted = upsample_prediction(image_scores[..., :NUM_TRAIN_IDS], size=labels.shape[:2])
            self.evaluator.update(labels, predicted, instances)

    def scores(self):
        result = self.evaluator.result()
        scores = {"cityscapes/class_miou": result["miou"], "cityscapes/class_iiou": result["iiou"],
                  "cityscapes/category_miou": result["category_miou"],
                  "cityscapes/category_iiou": result["category_iiou"]}
        scores.update({f"cityscapes/iou/{name}": value for name, value in result["iou_per_class"].items()})
        return {key: float(value) for key, value in scores.items()}


def _focal_baselines(settings, dataset, experiment, width):
    """focal x baseline at the evaluated width, per validation example in pipeline order."""
    from data.readers.base import png_info

    reader, split = settings.sources.reader(dataset, experiment.val_split, **experiment.data_options)
    values = []
    for example in reader.list_examples(split, ["right_image", "depth"], experiment.frames):
        camera = reader.camera(example)
        native_width = png_info(example.files["image"]).width
        values.append(camera["focal"] * camera["baseline"] * width / native_width)
    return np.asarray(values, np.float64)


def _keep_samples(samples, inputs, targets, predictions, tasks):
    def add(key, value):
        samples.setdefault(key, []).extend(np.asarray(value)[: SAMPLES - len(samples.get(key, []))])

    add("image", inputs["image"])
    for task in tasks:
        spec = get_task(task)
        add(f"pred/{task}", spec.sample(np.asarray(predictions[task])))
        if spec.truth_key in targets:
            add(f"true/{task}", targets[spec.truth_key])


def _write_samples(path, samples):
    from common.atomic import atomic_path

    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, **{key: np.stack(values) for key, values in samples.items()})
