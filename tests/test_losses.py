"""Per-task losses (losses.segmentation, losses.depth, losses.stereo, losses.registry) on hand-computed cases."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import losses
from tests.real_samples import REAL_SAMPLES
from losses import (
    ClassWeightedCrossEntropy,
    MaskedCrossEntropy,
    MaskedHuber,
    MaskedMeanAbsoluteError,
    StereoReconstructionLoss,
    warp_right_to_left,
)

KITTI_STEREO = REAL_SAMPLES / "kitti_stereo2015" / "training"


def value(tensor):
    return float(ops.convert_to_numpy(tensor))


# Three pixels: label 0 predicted 0.8, label 1 predicted 0.6, one ignored pixel.
PROBABILITIES = np.array([[[[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]]]], dtype="float32")  # (1, 1, 3, 2)
LABELS = np.array([[[0, 1, 255]]], dtype="int32")  # (1, 1, 3)


def test_cross_entropy_ignores_label_255_and_averages_over_valid_pixels():
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert value(MaskedCrossEntropy()(LABELS, PROBABILITIES)) == pytest.approx(expected, rel=1e-5)
    assert value(MaskedCrossEntropy()(LABELS[..., None], PROBABILITIES)) == pytest.approx(expected, rel=1e-5)


def test_cross_entropy_treats_out_of_range_labels_as_ignored():
    labels = np.array([[[0, 1, 7]]], dtype="int32")
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert value(MaskedCrossEntropy()(labels, PROBABILITIES)) == pytest.approx(expected, rel=1e-5)


def test_cross_entropy_all_ignored_batch_is_zero_with_finite_gradient():
    labels = np.full((1, 1, 3), 255, dtype="int32")
    probabilities = tf.Variable(PROBABILITIES)
    with tf.GradientTape() as tape:
        loss = MaskedCrossEntropy()(labels, probabilities)
    assert value(loss) == 0.0
    assert np.all(np.isfinite(tape.gradient(loss, probabilities).numpy()))


def test_cross_entropy_clips_zero_probabilities():
    probabilities = np.array([[[[1.0, 0.0]]]], dtype="float32")
    loss = value(MaskedCrossEntropy(epsilon=1e-7)(np.array([[[1]]]), probabilities))
    assert loss == pytest.approx(-math.log(1e-7), rel=1e-3)


def test_class_weighted_cross_entropy_both_normalizations():
    weights = [2.0, 0.5]
    weighted_sum = -(2.0 * math.log(0.8) + 0.5 * math.log(0.6))
    by_pixels = ClassWeightedCrossEntropy(weights)(LABELS, PROBABILITIES)
    by_weights = ClassWeightedCrossEntropy(weights, normalization="weights")(LABELS, PROBABILITIES)
    assert value(by_pixels) == pytest.approx(weighted_sum / 2, rel=1e-5)
    assert value(by_weights) == pytest.approx(weighted_sum / 2.5, rel=1e-5)


def test_class_weighted_cross_entropy_without_weights_is_plain_cross_entropy():
    assert value(ClassWeightedCrossEntropy()(LABELS, PROBABILITIES)) == pytest.approx(
        value(MaskedCrossEntropy()(LABELS, PROBABILITIES)), rel=1e-6
    )


def test_sample_weight_reweights_examples_and_reduction_none_gives_pixel_map():
    probabilities = np.concatenate([PROBABILITIES, PROBABILITIES[:, :, ::-1]], axis=0)  # (2, 1, 3, 2)
    labels = np.concatenate([LABELS, LABELS], axis=0)
    only_first = MaskedCrossEntropy()(labels, probabilities, sample_weight=np.array([1.0, 0.0]))
    assert value(only_first) == pytest.approx(value(MaskedCrossEntropy()(LABELS, PROBABILITIES)), rel=1e-6)
    pixel_map = ops.convert_to_numpy(MaskedCrossEntropy(reduction=None)(LABELS, PROBABILITIES))
    np.testing.assert_allclose(pixel_map, [[[-math.log(0.8), -math.log(0.6), 0.0]]], rtol=1e-5)


def test_bad_options_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="normalization"):
        MaskedCrossEntropy(normalization="batch")
    with pytest.raises(ValueError, match="class_weights"):
        ClassWeightedCrossEntropy([1.0, 2.0, 3.0])(LABELS, PROBABILITIES)
    with pytest.raises(ValueError, match="delta"):
        MaskedHuber(delta=0)
    with pytest.raises(ValueError, match="max_disparity"):
        StereoReconstructionLoss(max_disparity=-1)


def test_huber_delta_250_quadratic_and_linear_branches_skip_invalid_depth():
    # residuals 100 (quadratic: 0.5 * 100^2), 300 (linear: 250 * (300 - 125)), 250 (both branches agree);
    # the pixel with target 0 is invalid however far off the prediction is.
    target = np.array([[[[500.0], [700.0], [1250.0], [0.0]]]], dtype="float32")
    prediction = np.array([[[[400.0], [400.0], [1000.0], [9000.0]]]], dtype="float32")
    expected = (5000.0 + 43750.0 + 31250.0) / 3
    assert value(MaskedHuber(delta=250.0)(target, prediction)) == pytest.approx(expected, rel=1e-6)
    assert value(MaskedHuber()(target[..., 0], prediction)) == pytest.approx(expected, rel=1e-6)


def test_mae_ignores_non_positive_targets():
    target = np.array([[[[2.0], [0.0], [-1.0], [4.0]]]], dtype="float32")
    prediction = np.array([[[[1.0], [9.0], [9.0], [7.0]]]], dtype="float32")
    assert value(MaskedMeanAbsoluteError()(target, prediction)) == pytest.approx(2.0)


@pytest.mark.parametrize("loss", [MaskedHuber(), MaskedMeanAbsoluteError()])
def test_depth_losses_are_zero_when_no_pixel_is_valid(loss):
    prediction = tf.Variable(np.full((2, 2, 3, 1), 5.0, dtype="float32"))
    with tf.GradientTape() as tape:
        result = loss(np.zeros((2, 2, 3, 1), dtype="float32"), prediction)
    assert value(result) == 0.0
    assert np.all(np.isfinite(tape.gradient(result, prediction).numpy()))


@pytest.mark.parametrize(
    "loss",
    [
        MaskedCrossEntropy(ignore_index=3, epsilon=1e-6, name="seg"),
        ClassWeightedCrossEntropy([1.0, 2.5], normalization="weights"),
        MaskedHuber(delta=10.0),
        MaskedMeanAbsoluteError(name="depth_mae"),
        StereoReconstructionLoss(max_disparity=0.2, image_scale=1.0),
    ],
)
def test_get_config_round_trips(loss):
    config = loss.get_config()
    assert type(loss).from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss) and restored.get_config() == config


def test_default_loss_per_task():
    assert isinstance(losses.default_loss("segmentation"), MaskedCrossEntropy)
    assert isinstance(losses.default_loss("motion"), MaskedCrossEntropy)
    depth = losses.default_loss("depth")
    assert isinstance(depth, MaskedHuber) and depth.delta == 250.0
    assert isinstance(losses.default_loss("depth", kind="mae"), MaskedMeanAbsoluteError)
    colorization = losses.default_loss("colorization", class_weights=[1.0] * 36)
    assert isinstance(colorization, ClassWeightedCrossEntropy) and len(colorization.class_weights) == 36
    disparity = losses.default_loss("disparity")
    assert isinstance(disparity, StereoReconstructionLoss) and disparity.max_disparity == 0.3
    with pytest.raises(ValueError, match="unknown task .optical_flow.; registered tasks"):
        losses.default_loss("optical_flow")
    with pytest.raises(ValueError, match="kind"):
        losses.default_loss("depth", kind="berhu")


def test_default_detection_loss_comes_from_losses_detection():
    detection = pytest.importorskip("losses.detection")
    assert isinstance(losses.default_loss("detection", num_classes=3), detection.DetectionLoss)


def test_warp_integer_and_fractional_shift_with_border_clamping():
    rng = np.random.default_rng(0)
    right = rng.uniform(0, 255, size=(2, 3, 10, 3)).astype("float32")
    shifted = ops.convert_to_numpy(warp_right_to_left(right, np.full((2, 3, 10, 1), 2.0, dtype="float32")))
    np.testing.assert_allclose(shifted[:, :, 2:], right[:, :, :-2], rtol=1e-6)
    np.testing.assert_allclose(shifted[:, :, :2], np.repeat(right[:, :, :1], 2, axis=2), rtol=1e-6)

    half = ops.convert_to_numpy(warp_right_to_left(right, np.full((2, 3, 10), 1.5, dtype="float32")))
    np.testing.assert_allclose(half[:, :, 2:], 0.5 * right[:, :, :-2] + 0.5 * right[:, :, 1:-1], rtol=1e-5)

    # Per-pixel disparity: each column samples its own source column.
    disparity = np.zeros((1, 1, 10, 1), dtype="float32")
    disparity[0, 0, 7, 0] = 3.25
    varied = ops.convert_to_numpy(warp_right_to_left(right[:1, :1], disparity))
    assert varied[0, 0, 7] == pytest.approx(0.25 * right[0, 0, 3] + 0.75 * right[0, 0, 4], rel=1e-5)  # source 3.75
    np.testing.assert_allclose(varied[0, 0, :7], right[0, 0, :7], rtol=1e-6)


def test_warp_gradient_wrt_disparity_is_finite_and_non_zero():
    right = np.tile(np.arange(12, dtype="float32") ** 2, (1, 4, 1))[..., None]  # (1, 4, 12, 1)
    disparity = tf.Variable(np.full((1, 4, 12, 1), 2.3, dtype="float32"))
    with tf.GradientTape() as tape:
        reconstructed = warp_right_to_left(right, disparity)
        total = ops.sum(reconstructed)
    gradient = tape.gradient(total, disparity).numpy()
    assert np.all(np.isfinite(gradient))
    # d/dd right(x - d) = -(right(x0 + 1) - right(x0)) inside the image.
    x = 7
    x0 = math.floor(x - 2.3)
    assert gradient[0, 0, x, 0] == pytest.approx(-((x0 + 1) ** 2 - x0**2), rel=1e-4)


def test_warp_with_kitti_ground_truth_disparity_reconstructs_the_left_image():
    from PIL import Image

    name = "000046_10.png"
    paths = [KITTI_STEREO / folder / name for folder in ("image_2", "image_3", "disp_occ_0")]
    if not all(path.exists() for path in paths):
        pytest.skip(f"KITTI stereo 2015 sample not found under {KITTI_STEREO}")
    left, right = (np.asarray(Image.open(path), dtype="float32")[None] for path in paths[:2])
    disparity = np.asarray(Image.open(paths[2]), dtype="float32")[None, ..., None] / 256.0
    valid = disparity[0, ..., 0] > 0
    reconstructed = ops.convert_to_numpy(warp_right_to_left(right, disparity))
    warped_error = np.abs(reconstructed[0] - left[0]).mean(axis=-1)[valid].mean()
    unwarped_error = np.abs(right[0] - left[0]).mean(axis=-1)[valid].mean()
    print(f"KITTI {name}: mean abs error on valid pixels, warped {warped_error:.2f} vs unwarped {unwarped_error:.2f}")
    assert warped_error * 2 < unwarped_error


def test_stereo_loss_is_zero_for_the_true_disparity_and_mse_of_raw_pair_for_zero():
    rng = np.random.default_rng(1)
    width, shift = 20, 4
    right = rng.uniform(0, 255, size=(2, 5, width, 3)).astype("float32")
    left = right[:, :, np.maximum(np.arange(width) - shift, 0)]
    y_true = np.concatenate([left, right], axis=-1)
    loss = StereoReconstructionLoss(max_disparity=0.3)
    true_output = np.full((2, 5, width, 1), shift / (0.3 * width), dtype="float32")
    assert value(loss(y_true, true_output)) == pytest.approx(0.0, abs=1e-8)
    expected_zero = np.mean(((left - right) / 255.0) ** 2)
    assert value(loss(y_true, np.zeros((2, 5, width, 1), "float32"))) == pytest.approx(expected_zero, rel=1e-5)
    with pytest.raises(ValueError, match="6 channels"):
        loss(left, true_output)


@pytest.mark.parametrize(
    "loss, channels, activation, target",
    [
        (MaskedCrossEntropy(), 3, "softmax", lambda rng: rng.integers(0, 3, (4, 8, 8)).astype("int32")),
        (MaskedHuber(delta=1.0), 1, None, lambda rng: rng.uniform(0, 2, (4, 8, 8, 1)).astype("float32")),
        (StereoReconstructionLoss(), 1, "sigmoid", lambda rng: rng.uniform(0, 255, (4, 8, 8, 6)).astype("float32")),
    ],
)
def test_losses_train_a_keras_model(loss, channels, activation, target):
    rng = np.random.default_rng(2)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(channels, 1, activation=activation)(inputs))
    model.compile(optimizer="sgd", loss=loss)
    history = model.fit(rng.uniform(size=(4, 8, 8, 3)), target(rng), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
