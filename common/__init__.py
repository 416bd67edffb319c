"""Leaf helpers every layer of the package may import (they import nothing of it): atomic result files
(`common.atomic`) and every use of a private Keras attribute (`common.keras_compat`)."""
