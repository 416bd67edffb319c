"""Moved to `models.fused_adam` (beside the other TensorFlow kernel, models/batch_norm_tensorflow.py, so models/
reads it without importing training/); kept so existing imports keep working."""
from models.fused_adam import FusedAdam  # noqa: F401
