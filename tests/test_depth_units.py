"""Depth target units (data/depth_units.py): what the pipeline gives for each choice on each dataset, checked against
the PNG values themselves (the real KITTI stereo sample, tiny Cityscapes and SYNTHIA trees), the unit a model
records, and the scored unit."""
import numpy as np
import pytest
from PIL import Image

import data
from data import depth_units
from tests.data_trees import cityscapes_tree, synthia_tree
from tests.real_samples import REAL_SAMPLES

KITTI_STEREO = REAL_SAMPLES / "kitti_stereo2015"
needs_real = pytest.mark.skipif(not KITTI_STEREO.is_dir(), reason=f"real KITTI sample not at {KITTI_STEREO}")


def _first_depth(dataset, root, split="train", **options):
    inputs, targets = next(iter(data.load(dataset, str(root), split, ["depth"], **options)))
    return targets["depth"].numpy()[..., 0]


@needs_real
def test_paper16_on_the_real_kitti_sample_is_the_png_value_at_native_width_and_scales_with_the_width():
    raw = np.asarray(Image.open(KITTI_STEREO / "training" / "disp_occ_0" / "000046_10.png")).astype(np.float64)
    native = _first_depth("kitti", KITTI_STEREO, image_size=None, depth_units="paper16", val_fraction=0.0)
    np.testing.assert_array_equal(native, raw)  # what AuxNet / MultiNet++ trained on: v = 256 x disparity
    pixels = _first_depth("kitti", KITTI_STEREO, image_size=None, depth_units="pixels", val_fraction=0.0)
    np.testing.assert_allclose(pixels, raw / 256.0, rtol=1e-6)
    assert 4.8 < pixels[pixels > 0].min() and pixels.max() < 65.8  # the sample's 4.87 to 65.74 px (SOURCES.md)
    default = _first_depth("kitti", KITTI_STEREO, image_size=None, val_fraction=0.0)
    np.testing.assert_array_equal(default, pixels)
    # at the network's 384 of 1242 pixels, both units shrink with the width; zeros stay invalid
    resized = _first_depth("kitti", KITTI_STEREO, image_size=(224, 384), depth_units="paper16", val_fraction=0.0)
    resized_px = _first_depth("kitti", KITTI_STEREO, image_size=(224, 384), depth_units="pixels", val_fraction=0.0)
    np.testing.assert_allclose(resized, 256.0 * resized_px, rtol=1e-6)
    assert resized.max() <= raw.max() * 384 / 1242 + 1e-3 and resized.max() > 0.9 * raw.max() * 384 / 1242
    # the scored unit of both is pixels of disparity
    scored, unit = depth_units.to_scored(resized, "disparity_x256")
    assert unit == "disparity_px"
    np.testing.assert_allclose(scored, resized_px, rtol=1e-6)


def test_metres_on_cityscapes_use_each_images_camera(tmp_path):
    written = cityscapes_tree(tmp_path, counts={"train": 1})
    entry = next(iter(written.values()))
    raw = entry["disparity_raw"].astype(np.float64)
    disparity = np.where(raw > 0, (raw - 1.0) / 256.0, 0.0)
    metres = _first_depth("cityscapes", tmp_path, image_size=None, depth_units="metres")
    valid = disparity > 0
    np.testing.assert_allclose(metres[valid], 2262.52 * 0.209313 / disparity[valid], rtol=1e-5)
    assert (metres[~valid] == 0).all()
    paper16 = _first_depth("cityscapes", tmp_path, image_size=None, depth_units="paper16")
    np.testing.assert_allclose(paper16, 256.0 * disparity, rtol=1e-6, atol=1e-3)  # p - 1: the +1 marks validity


def test_synthia_paper16_is_centimetres_of_depth_and_pixels_are_refused(tmp_path):
    written = synthia_tree(tmp_path)
    depth_cm = written["SYNTHIA-SEQS-02-NIGHT/000000"]["depth_cm"].astype(np.float64)
    paper16 = _first_depth("synthia", tmp_path, image_size=None, depth_units="paper16")
    np.testing.assert_array_equal(paper16, depth_cm)
    metres = _first_depth("synthia", tmp_path, image_size=(48, 80), depth_units="metres")
    default = _first_depth("synthia", tmp_path, image_size=(48, 80))
    np.testing.assert_array_equal(metres, default)  # resizing never rescales a depth
    assert depth_units.to_scored(np.array(250.0), "depth_cm") == (2.5, "depth_m")
    with pytest.raises(ValueError, match="not available for synthia.*centimetres"):
        data.load("synthia", str(tmp_path), "train", ["depth"], depth_units="pixels")
    with pytest.raises(ValueError, match="depth_units='inches' must be one of"):
        data.load("synthia", str(tmp_path), "train", ["depth"], depth_units="inches")


def test_decode_is_one_formula_for_numpy_and_the_pipeline():
    raw = np.array([0.0, 1.0, 257.0, 25_600.0])
    np.testing.assert_allclose(depth_units.decode_png_values(raw, "cityscapes_disparity", "disparity_px", np),
                               [0.0, 0.0, 1.0, 99.99609375])
    np.testing.assert_allclose(depth_units.decode_png_values(raw, "kitti_disparity", "depth_m", np, 100.0),
                               [0.0, 25_600.0, 100.0 * 256 / 257, 1.0])
    assert depth_units.resolve("kitti_disparity", "paper16") == "disparity_x256"
    assert depth_units.resolve("centimetres") == "depth_m"


def test_a_model_keeps_its_depth_unit_through_a_keras_file(tmp_path):
    import keras

    import models

    model = models.build_auxnet(12, input_shape=(64, 96, 3), backbone="resnet10")
    model.target_units = {"depth": "disparity_x256"}
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert loaded.target_units == {"depth": "disparity_x256"}
    from models.predict import Renderer

    renderer = Renderer(loaded)
    assert renderer.units["depth"] == "disparity_x256" and renderer._is_disparity("depth")
    assert Renderer(loaded, depth_units="metres").units["depth"] == "depth_m"
    unlabelled = models.build_auxnet(12, input_shape=(64, 96, 3), backbone="resnet10")
    assert "target_units" not in unlabelled.get_config() and Renderer(unlabelled).units["depth"] == "disparity_px"
