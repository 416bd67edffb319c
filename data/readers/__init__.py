"""Dataset readers: one module per dataset layout, all built on data.readers.base.Reader."""
from data.readers.base import Example, Reader, png_info
from data.readers.cityscapes import CityscapesReader
from data.readers.kitti import KittiReader
from data.readers.kitti_object import KittiObjectReader
from data.readers.synthia import SynthiaReader
from data.readers.woodscape import WoodscapeReader

READERS = {
    "kitti": KittiReader,
    "kitti_object": KittiObjectReader,
    "cityscapes": CityscapesReader,
    "synthia": SynthiaReader,
    "woodscape": WoodscapeReader,
}


def get_reader(dataset, root, **options):
    """Reader instance for ``dataset`` (one of READERS) at ``root``."""
    if dataset not in READERS:
        raise ValueError(f"Unknown dataset {dataset!r}; allowed: {sorted(READERS) + ['synthetic']}")
    return READERS[dataset](root, **options)
