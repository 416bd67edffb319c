"""What int8 costs in accuracy on models that learned something: train, export int8, score against the ground truth.

    python -m benchmarks.int8_accuracy [--models segnet,multinet_pp] [--size 160x288] [--backbone resnet50]
        [--train-images 240] [--epochs 40] [--minutes 28] [--batch-size 4] [--formats litert,onnx]
        [--calibration-images 32] [--work DIR] [--out benchmarks/results/int8_accuracy.json] [--docs docs/speed.md]

Each network trains from scratch (no pretrained weights are fetched) on synthetic KITTI-layout scenes (`data.load`,
19 Cityscapes train ids; MultiNet++ with depth and motion on frame pairs) for `--epochs` or `--minutes` of training,
whichever ends first (the defaults fit both networks in about an hour of a 2-core CPU, hence 160x288 rather than the
papers' 224x384: int8's cost is a property of the weights and activations, not of the size), and is saved as
WORK/NETWORK/model.keras (an existing one is reused: the run resumes at the export; WORK defaults to a folder in the
system's temporary directory, since the models are 95 MB each). It is then exported in int8 through
`python -m models.export`'s code (MultiNet++ as its streaming step, the way it is deployed), calibrated on the first
`--calibration-images` train images, and the float Keras model and the int8 file are scored on the whole val split:
segmentation mIoU against the ground truth for both, the mIoU of the majority-class prediction (what a network that
learned nothing scores), and int8's pixel agreement with float32; MultiNet++ also depth AbsRel and motion mIoU.
Targets: int8 within 1 mIoU point of float32, pixel agreement >= 98%. The table goes between the docs page's
`<!-- int8-accuracy -->` markers and, with every score, into OUT.
"""
import argparse
import datetime
import os
import sys
import tempfile
import time

import numpy as np

from common.doc_blocks import check_block, update_block
from common.atomic import write_json

BLOCK = "int8-accuracy"
CLASSES = 19  # KITTI's semantic labels mapped to Cityscapes' train ids (data/labels.py)
NETWORKS = {
    "segnet": ("SegNet", {"segmentation": CLASSES}, 1),
    "multinet_pp": ("MultiNet++ (streaming step)", {"segmentation": CLASSES, "depth": 1, "motion": 2}, 2),
}
TARGET_POINTS, TARGET_AGREEMENT = 1.0, 0.98
LEARNING_RATE = 5e-4


def build(network, size, backbone):
    import models

    _, tasks, frames = NETWORKS[network]
    if frames == 1:
        return models.build_segnet(CLASSES, input_shape=(*size, 3), backbone=backbone)
    return models.build_multinet_pp(tasks=tasks, input_shape=(*size, 3), backbone=backbone)


def scenes(network, split, size, count, batch_size=None, shuffle=False):
    """data.load of synthetic KITTI-layout scenes: `count` scenes in the tree (train and val splits)."""
    import data

    _, tasks, frames = NETWORKS[network]
    return data.load("synthetic", None, split, list(tasks), frames=frames, image_size=size, batch_size=batch_size,
                     shuffle=shuffle, layout="kitti", num=count, seed=0, cache=True, shuffle_seed=0)


def time_budget(minutes):
    """A Keras callback that stops training once `minutes` have passed (checked at the end of each epoch)."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() - self.started > minutes * 60:
                self.model.stop_training = True

    return TimeBudget()


def trained(network, args, echo):
    """(the trained network, how it was trained) from WORK/NETWORK/, training it first when it is not there."""
    import json

    import keras

    path = os.path.join(args.work, network, "model.keras")
    record = os.path.join(args.work, network, "training.json")
    if os.path.isfile(path):
        echo(f"{network}: reusing {path}")
        training = json.load(open(record)) if os.path.isfile(record) else None
        return keras.saving.load_model(path, compile=False), training
    keras.utils.set_random_seed(0)
    model = build(network, args.size, args.backbone)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), weighting="equal")
    started = time.monotonic()
    history = model.fit(scenes(network, "train", args.size, args.train_images, args.batch_size, shuffle=True),
                        epochs=args.epochs, callbacks=[time_budget(args.minutes)], verbose=2 if args.verbose else 0)
    minutes = (time.monotonic() - started) / 60
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save(path)
    training = {"epochs": len(history.history["loss"]), "minutes": round(minutes, 1),
                "final_loss": round(float(history.history["loss"][-1]), 4)}
    write_json(record, training)
    echo(f"{network}: trained {training['epochs']} epochs in {minutes:.1f} min, saved {path}")
    return model, training


def ground_truth_scores(outputs, targets):
    """Scores of one set of outputs ({task: (N, H, W, C)}) against the val targets."""
    from metrics import depth_scores, segmentation_scores

    scores = {"segmentation_miou": segmentation_scores(targets["segmentation"], outputs["segmentation"].argmax(-1),
                                                       CLASSES)["miou"]}
    if "depth" in targets:
        scores["depth_abs_rel"] = depth_scores(targets["depth"], outputs["depth"])["abs_rel"]
        scores["motion_miou"] = segmentation_scores(targets["motion"], outputs["motion"].argmax(-1), 2)["miou"]
    return {name: round(float(value), 4) for name, value in scores.items()}


def majority_baseline(network, args, targets):
    """mIoU of predicting the train split's most frequent class everywhere, on the val targets."""
    from metrics import segmentation_scores

    counts = np.zeros(CLASSES, np.int64)
    for _, train_targets in scenes(network, "train", args.size, args.train_images).take(64):
        labels = np.asarray(train_targets["segmentation"]).ravel()
        counts += np.bincount(labels[labels < CLASSES], minlength=CLASSES)
    majority = np.full_like(targets["segmentation"], counts.argmax())
    miou = segmentation_scores(targets["segmentation"], majority, CLASSES)["miou"]
    return round(float(miou), 4), int(counts.argmax())


def evaluate(network, model, args, echo):
    """Exports the int8 files and scores float32 and int8 on the val split; returns the network's record."""
    from models import int8_check, quantize
    from models.export import deployable, export

    target = deployable(model, streaming=NETWORKS[network][2] == 2)
    val = [({name: np.asarray(value) for name, value in inputs.items()},
            {name: np.asarray(value) for name, value in targets.items()})
           for inputs, targets in scenes(network, "val", args.size, args.train_images, batch_size=1)]
    examples = [inputs for inputs, _ in val]
    targets = {task: np.concatenate([t[task] for _, t in val]) for task in val[0][1]}
    import data

    calibration = quantize.calibration_frames("kitti", data.synthetic_tree("kitti", args.train_images, 0),
                                              NETWORKS[network][2], args.size, args.calibration_images)
    samples = [quantize.model_inputs(target, example) for example in calibration]
    baseline, majority_class = majority_baseline(network, args, targets)
    record = {"val_images": len(examples), "majority_class": majority_class, "majority_baseline_miou": baseline,
              "formats": {}}
    for export_format in args.formats:
        folder = os.path.join(args.work, network, f"int8_{export_format}")
        path = export(target, folder, export_format, batch=1, calibration=samples)
        float_runs, int8_runs = int8_check.paired_runs(target, int8_check.quantized_runner(path, export_format), examples)
        stacked = [{task: np.concatenate([run[task] for run in runs]) for task in NETWORKS[network][1]}
                   for runs in (float_runs, int8_runs)]
        float_scores, int8_scores = (ground_truth_scores(outputs, targets) for outputs in stacked)
        agreement = int8_check.agreement(float_runs, int8_runs)
        record["float32"] = float_scores
        record["formats"][export_format] = {"int8": int8_scores, "agreement_with_float": agreement}
        echo(f"{network} {export_format}: float32 {float_scores}, int8 {int8_scores}, "
             f"pixel agreement {agreement['segmentation']['pixel_agreement']}")
    return record


def markdown(results, args, command):
    lines = ["| network | format | float32 mIoU | int8 mIoU | int8 - float32 (points) | pixel agreement | "
             "majority-class mIoU | other tasks (float32 / int8) |", "|---" * 8 + "|"]
    for network, record in results.items():
        for export_format, scores in record["formats"].items():
            float_miou, int8_miou = record["float32"]["segmentation_miou"], scores["int8"]["segmentation_miou"]
            others = "; ".join(f"{name} {record['float32'][name]:.3f} / {scores['int8'][name]:.3f}"
                               for name in record["float32"] if name != "segmentation_miou") or "-"
            lines.append(f"| {NETWORKS[network][0]} | {export_format} | {100 * float_miou:.1f} | "
                         f"{100 * int8_miou:.1f} | {100 * (int8_miou - float_miou):+.1f} | "
                         f"{100 * scores['agreement_with_float']['segmentation']['pixel_agreement']:.1f}% | "
                         f"{100 * record['majority_baseline_miou']:.1f} | {others} |")
    trained = ", ".join(f"{NETWORKS[n][0]} {r['training']['epochs']} epochs in {r['training']['minutes']} min"
                        for n, r in results.items() if r.get("training"))
    lines += ["", f"Val split of {args.train_images} synthetic KITTI-layout scenes at {args.size[0]}x{args.size[1]}, "
              f"{args.backbone}, trained from scratch ({trained or 'models reused'}); int8 calibrated on "
              f"{args.calibration_images} train images; measured {datetime.date.today().isoformat()}; `{command}`."]
    return "\n".join(lines)


def parse_size(text):
    from models.cli import parse_size as parse

    return parse(text, "--size")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.int8_accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="segnet,multinet_pp")
    parser.add_argument("--size", default="160x288", help="input HxW (multiples of 32)")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--train-images", type=int, default=240, help="synthetic scenes (85%% train, 15%% val)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=28.0, help="training time budget per network")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--formats", default="litert,onnx")
    parser.add_argument("--calibration-images", type=int, default=32)
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "int8_accuracy"),
                        help="folder for the trained models and int8 files")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "int8_accuracy.json"))
    parser.add_argument("--docs", default=os.path.join("docs", "speed.md"), help="page to update ('' to leave it)")
    parser.add_argument("--verbose", action="store_true", help="Keras' per-epoch lines")
    args = parser.parse_args(argv)
    args.size = parse_size(args.size)
    args.formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    networks = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = ([name for name in networks if name not in NETWORKS]
               + [name for name in args.formats if name not in ("litert", "onnx")])
    if unknown:
        parser.error(f"unknown {unknown}: --models from {sorted(NETWORKS)}, --formats from litert, onnx")
    if args.docs:
        check_block(args.docs, BLOCK)

    def echo(text):
        print(text, flush=True)

    results = {}
    for network in networks:
        model, training = trained(network, args, echo)
        results[network] = {**evaluate(network, model, args, echo), "training": training}
    command = "python -m benchmarks.int8_accuracy " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(results, args, command.strip())
    write_json(args.out, {"results": results, "table": text})
    print(text)
    if args.docs:
        update_block(args.docs, BLOCK, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
