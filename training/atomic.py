"""Moved to `common.atomic` (a leaf module every layer may import); kept so existing imports keep working."""
from common.atomic import atomic_path, write_json, write_text  # noqa: F401
