"""Test-wide settings: TensorFlow backend unless the caller chose another, quiet TF logs, few threads."""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
