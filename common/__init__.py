"""Leaf helpers every layer of the package may import (they import nothing of it): atomic result files
(`common.atomic`), every use of a private Keras attribute (`common.keras_compat`), the detection box codec
(`common.box_codec`) and the task pictures (`common.overlays`)."""
