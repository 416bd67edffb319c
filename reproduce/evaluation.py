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

from reproduce import class_sets
from reproduce.datasets import data_tasks

SAMPLES = 2
DISPARITY_CAP_METRES = 50.0
DEPTH_SCORES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1")


def eval_tasks(model_tasks):
    """Targets the evaluation needs: the training targets, plus the true disparity to score stereo disparity."""
    tasks = data_tasks(model_tasks)
    if "disparity" in model_tasks and "depth" not in tasks:
        tasks.append("depth")
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
        detection, segmentation = metrics["detection/map"], metrics["segmentation/miou"]
        metrics["geometric_mean"] = (math.sqrt(detection * segmentation)
                                     if math.isfinite(detection) and math.isfinite(segmentation) else float("nan"))
    return metrics


def _evaluate_split(model, experiment, settings, plan_budget, dataset, tasks, class_set, folder):
    from metrics import DepthEvaluator, SegmentationEvaluator

    from reproduce.runner import run_image_size

    options = dict(experiment.data_options)
    image_size = run_image_size(experiment, settings)
    ds = settings.sources.load(dataset, experiment.val_split, eval_tasks(tasks), frames=experiment.frames,
                               class_set=class_set, segmentation_dataset=dataset, batch_size=plan_budget.batch_size,
                               image_size=image_size, **options)
    limit = plan_budget.val_images
    if limit:
        ds = ds.take(math.ceil(limit / plan_budget.batch_size))
    evaluators = {}
    if "segmentation" in tasks:
        evaluators["segmentation"] = SegmentationEvaluator(int(model.output["segmentation"].shape[-1]),
                                                           per_image=True)
    if "motion" in tasks:
        evaluators["motion"] = SegmentationEvaluator(2, per_image=True)
    if "colorization" in tasks:
        evaluators["colorization"] = SegmentationEvaluator(int(model.output["colorization"].shape[-1]))
    if "depth" in tasks:
        from data.depth_units import to_scored

        evaluators["depth"] = DepthEvaluator()
        depth_unit = model.target_units.get("depth") or settings.sources.depth_unit(dataset, options)
    if "disparity" in tasks:
        evaluators["disparity"] = DepthEvaluator(cap=DISPARITY_CAP_METRES)
        focal_baselines = _focal_baselines(settings, dataset, experiment, image_size[1])
        from losses.stereo import StereoReconstructionLoss

        # the stereo loss knows how the network's output maps to pixels (the defaults if the model is not compiled)
        disparity_loss = model.task_losses.get("disparity") or StereoReconstructionLoss()
    official = OfficialCityscapes.for_split(settings, dataset, experiment, tasks, class_set)
    if "detection" in tasks:
        from metrics.detection import DetectionEvaluator

        detection_classes = int(model.output["detection"].shape[-1]) - 5
        evaluators["detection"] = DetectionEvaluator(detection_classes, image_size=image_size)

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
        for task in tasks:
            predicted = np.asarray(predictions[task])
            if task in ("segmentation", "motion", "colorization"):
                evaluators[task].update(targets[task].numpy(), predicted.argmax(-1))
                if task == "segmentation" and official is not None:
                    official.update(predicted, seen)
            elif task == "depth":
                true, _ = to_scored(targets["depth"].numpy(), depth_unit)
                scored, _ = to_scored(predicted, depth_unit)
                evaluators[task].update(true, scored)
            elif task == "disparity":
                disparity_px = np.asarray(disparity_loss.disparity_in_pixels(predicted))
                scale = focal_baselines[seen:seen + batch].reshape(-1, 1, 1, 1)
                true_disparity = targets["depth"].numpy()
                true_depth = np.where(true_disparity > 0, scale / np.maximum(true_disparity, 1e-6), 0.0)
                evaluators[task].update(true_depth, scale / np.maximum(disparity_px, 1e-6))
            elif task == "detection":
                evaluators[task].update(targets["detection"].numpy(), predicted)
        if len(samples.get("image", ())) < SAMPLES:
            _keep_samples(samples, inputs, targets, predictions, tasks)
        seen += batch
        if limit and seen >= limit:
            break
    if seen == 0:
        raise ValueError(f"the {experiment.val_split} split of {dataset} gave no image to evaluate")
    if folder is not None and samples:
        _write_samples(os.path.join(folder, "samples.npz"), samples)
    metrics = _scores(evaluators, class_set)
    if official is not None:
        metrics.update(official.scores())
    if "depth" in tasks:
        metrics["depth/unit"] = to_scored(0.0, depth_unit)[1]
    return metrics


def _scores(evaluators, class_set):
    metrics = {}
    for task, evaluator in evaluators.items():
        result = evaluator.result()
        if task == "segmentation":
            names = class_set.names if class_set is not None else tuple(str(i) for i in range(len(result["iou"])))
            iou = np.asarray(result["iou"], dtype=float)[: len(names)]
            for name, value in zip(names, iou):
                metrics[f"segmentation/iou/{name}"] = float(value)
            metrics["segmentation/miou"] = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
            metrics.update(_iou_readings("segmentation", result))
        elif task in ("motion", "colorization"):
            metrics[f"{task}/miou"] = result["miou"]
            metrics.update(_iou_readings(task, result))
            if task == "motion":
                for name, value in zip(class_sets.MOTION_NAMES, result["iou"]):
                    metrics[f"motion/iou/{name}"] = float(value)
        elif task in ("depth", "disparity"):
            for score in DEPTH_SCORES:
                metrics[f"{task}/{score}"] = float(result[score])
        elif task == "detection":
            metrics["detection/map"] = float(result["map"])
    return metrics


#: the other readings of "IoU" that reproduce/iou_definition.py weighs (metrics.segmentation); pooled_jaccard is
#: the one the papers' "IoU" columns fit
IOU_READINGS = ("pixel_accuracy", "pooled_jaccard", "frequency_weighted_iou", "mean_class_accuracy",
                "image_mean_iou_smoothed")


def _iou_readings(task, result):
    return {f"{task}/{key}": float(result[key]) for key in IOU_READINGS if key in result}


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
        predicted = np.asarray(predictions[task])
        add(f"pred/{task}", predicted.argmax(-1) if task in ("segmentation", "motion", "colorization")
            else predicted)
        source = "depth" if task == "disparity" else task
        if source in targets:
            add(f"true/{task}", targets[source])


def _write_samples(path, samples):
    from common.atomic import atomic_path

    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, **{key: np.stack(values) for key, values in samples.items()})
