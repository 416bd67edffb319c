"""The input size every table of the papers is regenerated at (224x384, height x width), written once."""
IMAGE_SIZE = (224, 384)
INPUT_SHAPE = IMAGE_SIZE + (3,)
