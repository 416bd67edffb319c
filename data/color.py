"""CIE Lab conversion and colorization bins (Novosel et al. 2019, section 3.1).

``rgb_to_lab`` follows skimage.color.rgb2lab (sRGB, D65 white, 2 degree observer) and is written with keras.ops so
the models can reuse it under any backend. The tf.data pipeline calls the same formula through
``rgb_to_lab_with(ops)`` with TensorFlow's numpy namespace, because keras.ops returns backend tensors (e.g. JAX)
that tf.data graphs cannot hold.

Colorization target (section 3.1): a and b are clipped to mean +- 2 std (estimated on the training split, see
data.statistics.estimate_ab_statistics), each clipped range is split into ``bins`` equal bins (6), and the class is
``a_bin * bins + b_bin`` (36 classes).
"""
import numpy as np

_SRGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]], np.float32
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
# Folding the white-point normalisation into the matrix saves one op per pixel.
_RGB_TO_XYZ_NORMALISED_T = (_SRGB_TO_XYZ / _D65_WHITE[:, None]).T.astype(np.float32)


def rgb_to_lab_with(rgb_0_255, ops):
    """Lab of float RGB in [0, 255] with a numpy-like namespace ``ops`` (numpy, keras.ops, tf.experimental.numpy).

    Returns (..., 3): L in [0, 100], a and b roughly in [-128, 127].
    """
    rgb = rgb_0_255 / 255.0
    linear = ops.where(rgb > 0.04045, ops.power(ops.maximum((rgb + 0.055) / 1.055, 1e-12), 2.4), rgb / 12.92)
    xyz = ops.matmul(linear, _RGB_TO_XYZ_NORMALISED_T)
    f = ops.where(xyz > 0.008856, ops.power(ops.maximum(xyz, 1e-12), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return ops.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def rgb_to_lab(rgb_0_255):
    """CIE Lab of RGB images with raw values in [0, 255] (keras.ops; agrees with skimage.color.rgb2lab)."""
    import keras

    rgb = keras.ops.cast(keras.ops.convert_to_tensor(rgb_0_255), "float32")
    return rgb_to_lab_with(rgb, keras.ops)


def ab_bin_edges(stats, bins=6):
    """Lower/upper clip limits (mu - 2 sd, mu + 2 sd) of a and b from ``stats = (mu_a, sd_a, mu_b, sd_b)``."""
    mu_a, sd_a, mu_b, sd_b = (float(v) for v in stats)
    return (mu_a - 2 * sd_a, mu_a + 2 * sd_a), (mu_b - 2 * sd_b, mu_b + 2 * sd_b)


def quantize_ab_with(lab, stats, ops, bins=6):
    """Colorization class ids (int32, ..., in [0, bins**2)) of Lab values; see the module docstring."""
    (a_low, a_high), (b_low, b_high) = ab_bin_edges(stats, bins)

    def to_bin(values, low, high):
        scaled = (values - low) / max(high - low, 1e-6) * bins
        return ops.clip(ops.floor(scaled), 0, bins - 1)

    a_bin = to_bin(lab[..., 1], a_low, a_high)
    b_bin = to_bin(lab[..., 2], b_low, b_high)
    return a_bin * bins + b_bin


def rgb_to_colorization_bins(rgb_0_255, stats, bins=6):
    """keras.ops version of the colorization target: RGB [0, 255] -> int32 bin ids."""
    import keras

    ids = quantize_ab_with(rgb_to_lab(rgb_0_255), stats, keras.ops, bins)
    return keras.ops.cast(ids, "int32")


def bin_centers_ab(stats, bins=6):
    """(bins**2, 2) float32 (a, b) centre of each colorization class, for decoding predictions back to colour."""
    (a_low, a_high), (b_low, b_high) = ab_bin_edges(stats, bins)
    a_centres = a_low + (np.arange(bins) + 0.5) * (a_high - a_low) / bins
    b_centres = b_low + (np.arange(bins) + 0.5) * (b_high - b_low) / bins
    a_grid, b_grid = np.meshgrid(a_centres, b_centres, indexing="ij")
    return np.stack([a_grid.ravel(), b_grid.ravel()], axis=-1).astype(np.float32)
