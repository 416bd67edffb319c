"""Dataset statistics: Lab a/b moments for colorization bins and median-frequency class weights.

estimate_ab_statistics: mean and standard deviation of the CIE a and b channels over every pixel of the training
images (Novosel et al. 2019, section 3.1: the "two-sigma rule" clips a and b to mu +- 2 sigma before binning).

median_frequency_weights: median frequency balancing (Eigen & Fergus 2015, used by SegNet and by Novosel et al.
for the 36 colorization classes): w_c = median_freq / freq_c with freq_c = (pixels of class c) / (total pixels of
the images where c is present). Choice: "total pixels" counts the non-ignored pixels of those images (ignore pixels
belong to no class); ``count_ignored=True`` counts every pixel instead. The median is taken over the classes that
are present; classes never present get weight 0.
"""
import numpy as np
from tqdm.auto import tqdm

from data import color


def _images_of(element):
    """The image batch/array inside a dataset element: (inputs, targets) tuples, dicts with 'image', or arrays."""
    if isinstance(element, (tuple, list)) and len(element) == 2 and isinstance(element[0], dict):
        element = element[0]
    if isinstance(element, dict):
        element = element["image"]
    return np.asarray(element, np.float32)


def estimate_ab_statistics(dataset_or_images, max_images=None, progress=True):
    """(mu_a, sd_a, mu_b, sd_b) over all pixels of RGB images with raw values in [0, 255].

    ``dataset_or_images``: a tf.data.Dataset of (inputs, targets) / dicts / images (batched or not), an array of
    images (N, H, W, 3) or a single image, or any iterable of those.
    """
    if isinstance(dataset_or_images, np.ndarray) and dataset_or_images.ndim == 3:
        dataset_or_images = dataset_or_images[None]
    if hasattr(dataset_or_images, "as_numpy_iterator"):
        iterator = dataset_or_images.as_numpy_iterator()
    else:
        iterator = iter(dataset_or_images)
    count, sums, squares, images = 0, np.zeros(2), np.zeros(2), 0
    for element in tqdm(iterator, desc="colorization a/b statistics", disable=not progress, unit="batch"):
        rgb = _images_of(element)
        ab = color.rgb_to_lab_with(rgb.reshape(-1, 3), np)[:, 1:].astype(np.float64)
        count += ab.shape[0]
        sums += ab.sum(axis=0)
        squares += (ab ** 2).sum(axis=0)
        images += 1 if rgb.ndim == 3 else rgb.shape[0]
        if max_images is not None and images >= max_images:
            break
    if count == 0:
        raise ValueError("estimate_ab_statistics got no images.")
    mean = sums / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    return float(mean[0]), float(std[0]), float(mean[1]), float(std[1])


def _label_maps(batch):
    """Split one element of label_batches into 2-D label maps."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], dict):
        batch = batch[1]
    if isinstance(batch, dict):
        if len(batch) != 1:
            raise ValueError(f"label_batches yields dicts with keys {sorted(batch)}; pass the label arrays themselves.")
        batch = next(iter(batch.values()))
    labels = np.asarray(batch)
    if labels.ndim == 4 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.ndim == 2:
        return [labels]
    if labels.ndim == 3:
        return list(labels)
    raise ValueError(f"label maps must be (H, W) or (B, H, W), got shape {labels.shape}")


def median_frequency_weights(label_batches, num_classes, ignore_index=255, count_ignored=False, progress=True):
    """float32 (num_classes,) median-frequency weights from an iterable of label maps (see module docstring).

    ``label_batches``: a tf.data.Dataset or iterable yielding (B, H, W) / (H, W) integer label maps (or
    (inputs, {task: labels}) pairs with one target), or a single array.
    """
    if isinstance(label_batches, np.ndarray):
        label_batches = [label_batches]
    if hasattr(label_batches, "as_numpy_iterator"):
        label_batches = label_batches.as_numpy_iterator()
    class_pixels = np.zeros(num_classes, np.float64)
    image_pixels = np.zeros(num_classes, np.float64)  # total pixels of the images in which each class appears
    for batch in tqdm(label_batches, desc="class frequencies", disable=not progress, unit="batch"):
        for label_map in _label_maps(batch):
            flat = label_map.reshape(-1).astype(np.int64)
            valid = flat != ignore_index
            total = flat.size if count_ignored else int(valid.sum())
            ids = flat[valid]
            if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
                raise ValueError(
                    f"label ids must be in [0, num_classes={num_classes}) or ignore_index={ignore_index}; "
                    f"found {int(ids.min())}..{int(ids.max())}"
                )
            counts = np.bincount(ids, minlength=num_classes)
            present = counts > 0
            class_pixels += counts
            image_pixels[present] += total
    present = image_pixels > 0
    weights = np.zeros(num_classes, np.float32)
    if present.any():
        frequency = class_pixels[present] / image_pixels[present]
        weights[present] = np.median(frequency) / frequency
    return weights
