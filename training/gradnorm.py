"""Moved to `losses.weighting.tensorflow_steps` (owned by the GradNorm strategy, below models/); kept so existing
imports keep working."""
from losses.weighting.tensorflow_steps import gradnorm_train_step  # noqa: F401
