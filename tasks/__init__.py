"""What each task is, one module per task: its head's activation, default loss, streaming metrics and whole-split
scores, how the input pipeline makes its target, its TensorBoard panel, prediction picture and saved array.

Every layer that needs to know a task asks `get_task(name)` (data.load, MultiTaskModel.compile, the builders,
training.callbacks, models.predict, reproduce.evaluation), so a task of your own is one module that subclasses
`Task` and calls `register` (see tasks/base.py); `--import MODULE` on the command lines loads it first.

The package sits beside data/, losses/ and metrics/ (it reads their loss and metric classes, they never read it
except data.load, which asks a task how to make its target), below models/, so every layer above can read it.
"""
from tasks.base import Task, find_task, get_task, register, registered
from tasks import segmentation, motion, depth, colorization, disparity, detection  # noqa: E402,F401  (built-ins)

get = get_task

__all__ = ["Task", "find_task", "get", "get_task", "register", "registered"]
