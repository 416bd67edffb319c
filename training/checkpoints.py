"""Checkpoints a run can trust: a resume backup with the optimizer state, and the best epoch's network.

`RunBackup` replaces `keras.callbacks.BackupAndRestore` for the runs of `python -m reproduce`. Keras' callback
writes its weights and its `training_metadata.json` in place, so a kill or a full disk during the write leaves a
file that the next start cannot read (a half-written JSON is not one of the errors it falls back on). Here every
file is written atomically and the epoch's weights file is named by the epoch: the state file, written last, says
which weights belong to which finished epoch, so a process killed at any instant resumes at an epoch boundary
whose weights, optimizer moments and weighting state are all that epoch's. Put it last among the callbacks: an
epoch counts as finished once its history row, panels and best checkpoint are written too.

`AtomicBestCheckpoint` keeps the best epoch's network and weighting state (not the optimizer's moments, which only
a resume needs: for Adam they are twice the network's size). `read_history` reads a run's history.csv (Keras'
CSVLogger) and names the file when it is damaged.
"""
import csv
import glob
import json
import math
import os

import keras

from common import keras_compat
from common.atomic import atomic_path, write_json

BACKUP_STATE = "state.json"
#: what keras.callbacks.BackupAndRestore left in the folder (runs interrupted before RunBackup existed resume too)
KERAS_BACKUP_METADATA, KERAS_BACKUP_WEIGHTS = "training_metadata.json", "latest.weights.h5"


class BackupDamaged(ValueError):
    """A resume backup that cannot be read; the message names the file."""


def _weights_name(epoch):
    return f"epoch-{epoch:04d}.weights.h5"


def read_backup(folder):
    """(epochs finished, weights file) of the resume backup in `folder`, or None when there is none. Raises
    BackupDamaged when it exists but cannot be read."""
    state_path = os.path.join(folder, BACKUP_STATE)
    legacy = os.path.join(folder, KERAS_BACKUP_METADATA)
    if os.path.isfile(state_path):
        path, weights_key = state_path, "weights"
    elif os.path.isfile(legacy):
        path, weights_key = legacy, None
    else:
        return None
    try:
        with open(path) as handle:
            state = json.load(handle)
        epoch = int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BackupDamaged(f"{path} cannot be read ({type(error).__name__}: {error})") from None
    weights = os.path.join(folder, state[weights_key] if weights_key else KERAS_BACKUP_WEIGHTS)
    if not os.path.isfile(weights):
        raise BackupDamaged(f"{path} names {os.path.basename(weights)}, which is not in {folder}")
    return epoch, weights


def restore(model, folder):
    """Loads the resume backup of `folder` into the compiled `model` (network, weighting state and optimizer
    moments); returns the number of finished epochs to resume after (0 without a backup)."""
    backup = read_backup(folder)
    if backup is None:
        return 0
    epoch, weights = backup
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # its moments must exist to be loaded
    try:
        model.load_weights(weights)
    except (OSError, ValueError) as error:
        raise BackupDamaged(f"{weights} cannot be loaded ({type(error).__name__}: {error})") from None
    return epoch


class RunBackup(keras.callbacks.Callback):
    """After each epoch: the full training state in `folder` (see the module docstring); `restore` reads it."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.folder, exist_ok=True)
        name = _weights_name(epoch + 1)
        with atomic_path(os.path.join(self.folder, name)) as temporary:
            self.model.save_weights(temporary)
        write_json(os.path.join(self.folder, BACKUP_STATE), {"epoch": epoch + 1, "weights": name})
        for path in glob.glob(os.path.join(self.folder, "epoch-*.weights.h5")) + [
                os.path.join(self.folder, KERAS_BACKUP_WEIGHTS), os.path.join(self.folder, KERAS_BACKUP_METADATA)]:
            if os.path.basename(path) != name and os.path.isfile(path):
                os.remove(path)  # older epochs: the state file no longer names them


def save_network_weights(model, path):
    """The network's and the weighting strategy's variables, without the optimizer's, written atomically."""
    with atomic_path(path) as temporary:
        keras_compat.save_weights_without_optimizer(model, temporary)


def load_network_weights(model, path):
    """Loads a `save_network_weights` file (or a full `save_weights` file, whose optimizer part is ignored)."""
    keras_compat.load_weights_without_optimizer(model, path)


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Saves the network of the best epoch by `monitor`, atomically (a kill never leaves half a file).

    Without validation data the monitor falls back to the training log of the same name (without "val_").
    """

    def __init__(self, path, monitor, mode="min", best=None):
        super().__init__()
        self.path, self.monitor, self.mode, self.best = path, monitor, mode, best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get(self.monitor.removeprefix("val_")))
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best = value
            save_network_weights(self.model, self.path)


class HistoryDamaged(ValueError):
    """A history.csv that cannot be read as one epoch per row; the message names the file and what to do."""


def read_history(path):
    """Rows of history.csv, one per epoch (a resumed run may have written an epoch twice: the last row wins; a row
    cut off by a kill keeps the fields it has). Raises HistoryDamaged, naming the file, when a row is not an epoch's
    (a second header: two processes appended to it before runs had one owner)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as handle:
        rows = {}
        for line, row in enumerate(csv.DictReader(handle), start=2):
            if row.get("epoch") in (None, ""):
                continue
            try:
                rows[int(row["epoch"])] = row
            except ValueError:
                raise HistoryDamaged(
                    f"{path} is damaged: line {line} is not an epoch's row ({str(row['epoch'])[:40]!r} in the epoch "
                    f"column). Run the same command again: a run whose files cannot be trusted is retrained from "
                    f"scratch, its files moved aside to failed-<n>/ in its folder (or delete that folder).") from None
    return [rows[epoch] for epoch in sorted(rows)]
