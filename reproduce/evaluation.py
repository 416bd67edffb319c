"""Scores of a trained run on its validation split, as the flat dict the tables read (metrics.json).

Keys: "segmentation/miou" (mean over the class set's named classes), "segmentation/iou/<class>",
"segmentation/pixel_accuracy"; "motion/miou", "motion/iou/moving", "motion/pixel_accuracy"; "depth/<score>" and
"disparity/<score>" for abs_rel, sq_rel, rmse, rmse_log, delta1 (depth: on the dataset's depth target, i.e.
disparity in pixels for KITTI / Cityscapes and metres for SYNTHIA; disparity: Novosel's self-supervised disparity
turned into depth with the dataset's calibration, depth = focal x baseline / disparity, capped at 50 m);
"colorization/miou"; "detection/map"; "geometric_mean" = sqrt(mAP x mIoU) when a run has both.
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

    options = dict(experiment.data_options)
    ds = settings.sources.load(dataset, experiment.val_split, eval_tasks(tasks), frames=experiment.frames,
                               class_set=class_set, segmentation_dataset=dataset, batch_size=plan_budget.batch_size,
                               image_size=settings.image_size, **options)
    limit = plan_budget.val_images
    if limit:
        ds = ds.take(math.ceil(limit / plan_budget.batch_size))
    evaluators = {}
    if "segmentation" in tasks:
        evaluators["segmentation"] = SegmentationEvaluator(int(model.output["segmentation"].shape[-1]))
    if "motion" in tasks:
        evaluators["motion"] = SegmentationEvaluator(2)
    if "colorization" in tasks:
        evaluators["colorization"] = SegmentationEvaluator(int(model.output["colorization"].shape[-1]))
    if "depth" in tasks:
        evaluators["depth"] = DepthEvaluator()
    if "disparity" in tasks:
        evaluators["disparity"] = DepthEvaluator(cap=DISPARITY_CAP_METRES)
        focal_baselines = _focal_baselines(settings, dataset, experiment, settings.image_size[1])
        from losses.stereo import StereoReconstructionLoss

        # the stereo loss knows how the network's output maps to pixels (the defaults if the model is not compiled)
        disparity_loss = model.task_losses.get("disparity") or StereoReconstructionLoss()
    if "detection" in tasks:
        from metrics.detection import DetectionEvaluator

        detection_classes = int(model.output["detection"].shape[-1]) - 5
        evaluators["detection"] = DetectionEvaluator(detection_classes, image_size=settings.image_size)

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
            elif task == "depth":
                evaluators[task].update(targets["depth"].numpy(), predicted)
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
    return _scores(evaluators, class_set)


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
            metrics["segmentation/pixel_accuracy"] = result["pixel_accuracy"]
        elif task in ("motion", "colorization"):
            metrics[f"{task}/miou"] = result["miou"]
            metrics[f"{task}/pixel_accuracy"] = result["pixel_accuracy"]
            if task == "motion":
                for name, value in zip(class_sets.MOTION_NAMES, result["iou"]):
                    metrics[f"motion/iou/{name}"] = float(value)
        elif task in ("depth", "disparity"):
            for score in DEPTH_SCORES:
                metrics[f"{task}/{score}"] = float(result[score])
        elif task == "detection":
            metrics["detection/map"] = float(result["map"])
    return metrics


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
    from training.atomic import atomic_path

    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, **{key: np.stack(values) for key, values in samples.items()})
