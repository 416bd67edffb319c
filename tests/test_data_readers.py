"""Readers of the official layouts: real KITTI samples, miniature trees of every layout, splits and bad input."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import data
from data import labels
from data.readers import base, kitti_object, woodscape
from tests import data_trees

from tests.real_samples import REAL_SAMPLES

REAL = str(REAL_SAMPLES)
requires_real = pytest.mark.skipif(not os.path.isdir(REAL), reason="shared/real-samples not available")


def first(dataset):
    return next(iter(dataset.as_numpy_iterator()))


def cityscapes_train_ids(label_ids):
    table = {l.id: (l.train_id if 0 <= l.train_id < 255 else 255) for l in labels.CITYSCAPES_LABELS if l.id >= 0}
    return np.vectorize(lambda v: table.get(int(v), 255))(label_ids)


@pytest.fixture(scope="module")
def kitti_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kitti"))
    return root, data_trees.kitti_tree(root, count=8)


# ---------------------------------------------------------------- real KITTI files


@requires_real
def test_real_kitti_disparity_is_value_over_256(tmp_path):
    sample = os.path.join(REAL, "kitti_stereo2015", "training")
    for folder in ("image_2", "image_3", "disp_occ_0"):
        os.makedirs(tmp_path / "training" / folder)
        shutil.copy(os.path.join(sample, folder, "000046_10.png"), tmp_path / "training" / folder)
    raw = np.array(Image.open(os.path.join(sample, "disp_occ_0", "000046_10.png"))).astype(np.float64)
    inputs, targets = first(data.load("kitti", str(tmp_path), "trainval", ["depth", "right_image"], image_size=None))
    assert inputs["image"].shape == (375, 1242, 3) and targets["right_image"].shape == (375, 1242, 3)
    assert targets["depth"].shape == (375, 1242, 1) and targets["depth"].dtype == np.float32
    np.testing.assert_array_equal(targets["depth"][..., 0], (raw / 256.0).astype(np.float32))
    assert np.count_nonzero(targets["depth"]) == 55068  # SOURCES.md: 55,068 valid pixels
    assert targets["depth"].max() == pytest.approx(65.74, abs=0.01)


@requires_real
def test_real_kitti_semantic_label_ids_map_to_train_ids(tmp_path):
    for name in ("000000_10", "000001_10"):
        os.makedirs(tmp_path / "training" / "semantic", exist_ok=True)
        shutil.copy(os.path.join(REAL, "kitti_semantics", "training", "semantic", name + ".png"),
                    tmp_path / "training" / "semantic")
        # the real image_2 frames are not in the samples: a stand-in image of the labels' size pairs them
        data_trees.write_png(str(tmp_path / "training" / "image_2" / f"{name}.png"), np.zeros((375, 1242, 3), np.uint8))
    label_ids = np.array(Image.open(os.path.join(REAL, "kitti_semantics", "training", "semantic", "000000_10.png")))
    _, targets = first(data.load("kitti", str(tmp_path), "trainval", ["segmentation"], image_size=None))
    segmentation = targets["segmentation"]
    assert segmentation.shape == (375, 1242) and segmentation.dtype == np.int32
    assert (segmentation[label_ids == 7] == 0).all()  # road
    assert (segmentation[label_ids == 26] == 13).all()  # car
    assert (segmentation[label_ids == 4] == 255).all()  # static -> ignore
    np.testing.assert_array_equal(segmentation, cityscapes_train_ids(label_ids))


@requires_real
def test_real_kitti_object_labels_with_dontcare(tmp_path):
    objects = kitti_object.parse_label_file(os.path.join(REAL, "kitti_object", "training", "label_2", "000001.txt"))
    assert [o["type"] for o in objects] == ["Truck", "Car", "Cyclist"] + ["DontCare"] * 4
    assert objects[1]["left"] == 387.63 and objects[1]["bottom"] == 203.12 and objects[1]["rotation_y"] == 1.57
    for folder in ("image_2", "label_2", "calib"):
        shutil.copytree(os.path.join(REAL, "kitti_object", "training", folder), tmp_path / "training" / folder)
    examples = data.get_reader("kitti_object", str(tmp_path)).list_examples("trainval", ["detection"])
    assert [e.name for e in examples] == ["000000", "000001"]
    pedestrian = [712.40 / 1224, 143.00 / 370, 810.73 / 1224, 307.92 / 370]  # image 000000 is 1224x370
    np.testing.assert_allclose(examples[0].boxes, [[pedestrian[1], pedestrian[0], pedestrian[3], pedestrian[2], 1]],
                               rtol=1e-6)
    # Truck and the four DontCare rows are dropped; Car (0) then Cyclist (2), normalised by 1242x375
    np.testing.assert_allclose(examples[1].boxes, [
        [181.54 / 375, 387.63 / 1242, 203.12 / 375, 423.81 / 1242, 0],
        [163.95 / 375, 676.60 / 1242, 193.93 / 375, 688.98 / 1242, 2],
    ], rtol=1e-6)
    _, targets = first(data.load("kitti_object", str(tmp_path), "trainval", ["detection"], image_size=(32, 96)))
    assert targets["detection"].shape == (50, 5) and (targets["detection"][1:] == -1).all()
    camera = data.get_reader("kitti_object", str(tmp_path)).camera(examples[0])
    assert camera["focal"] == pytest.approx(707.0493)
    assert camera["baseline"] == pytest.approx((45.75831 + 334.1081) / 707.0493)


# ---------------------------------------------------------------- KITTI miniature tree


def test_kitti_split_is_seeded_disjoint_and_task_independent(kitti_root):
    root, _ = kitti_root
    reader = data.get_reader("kitti", root, val_fraction=0.25)
    train = [e.name for e in reader.list_examples("train", ["segmentation"])]
    val = [e.name for e in reader.list_examples("val", ["segmentation", "depth"])]
    assert len(val) == 2 and len(train) == 6 and not set(train) & set(val)
    assert sorted(train + val) == [f"{i:06d}_10" for i in range(8)]  # _09/_11 frames are not examples
    assert val == [e.name for e in data.get_reader("kitti", root, val_fraction=0.25).list_examples("val", [])]
    other = {tuple(e.name for e in data.get_reader("kitti", root, val_fraction=0.25, seed=s).list_examples("val", []))
             for s in range(1, 6)}
    assert other - {tuple(val)}  # another seed gives another split


def test_novosel_kitti_split_sizes():
    names = [f"{i:06d}_10" for i in range(200)]
    train = base.train_val_split(names, "train", 0.15, 0)
    val = base.train_val_split(names, "val", 0.15, 0)
    assert (len(train), len(val)) == (170, 30) and sorted(train + val) == names


def test_kitti_calibration_focal_and_baseline(kitti_root):
    root, _ = kitti_root
    camera = data.get_reader("kitti", root).camera("000003_10")
    assert camera["focal"] == pytest.approx(721.5377)
    assert camera["baseline"] == pytest.approx((44.85728 + 339.5242) / 721.5377)  # about 0.532 m


def test_kitti_disparity_option_chooses_folder(kitti_root):
    root, written = kitti_root
    for which in ("occ", "noc"):
        example = data.get_reader("kitti", root, disparity=which).list_examples("trainval", ["depth"])[0]
        assert f"disp_{which}_0" in example.files["depth"]
    with pytest.raises(ValueError, match="disparity"):
        data.get_reader("kitti", root, disparity="both").list_examples("train", ["depth"])


def test_kitti_test_split_has_no_labels(kitti_root):
    root, _ = kitti_root
    assert len(data.get_reader("kitti", root).list_examples("test", ["colorization"])) == 2
    with pytest.raises(ValueError, match="test"):
        data.get_reader("kitti", root).list_examples("test", ["segmentation"])


def test_kitti_missing_root_and_folders_name_path_and_archive(tmp_path, kitti_root):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.load("kitti", str(tmp_path / "nowhere"), "train", ["segmentation"])
    data_trees.kitti_tree(str(tmp_path), count=2, semantic=False, previous=False)
    with pytest.raises(FileNotFoundError, match=r"training[/\\]semantic.*data_semantics\.zip"):
        data.load("kitti", str(tmp_path), "train", ["segmentation"])
    with pytest.raises(FileNotFoundError, match="data_scene_flow_multiview"):
        data.load("kitti", str(tmp_path), "train", ["depth"], frames=2)


def test_kitti_unpaired_files_listed_or_skipped(tmp_path):
    data_trees.kitti_tree(str(tmp_path), count=6, previous=False)
    os.remove(tmp_path / "training" / "semantic" / "000002_10.png")
    os.remove(tmp_path / "training" / "image_2" / "000004_10.png")
    with pytest.raises(ValueError, match=r"000002_10 \(missing segmentation\).*000004_10 \(missing image\)"):
        data.get_reader("kitti", str(tmp_path)).list_examples("trainval", ["segmentation"])
    with pytest.warns(UserWarning, match="skipped 2 unpaired"):
        examples = data.get_reader("kitti", str(tmp_path), skip_unpaired=True).list_examples("trainval", ["segmentation"])
    assert [e.name for e in examples] == ["000000_10", "000001_10", "000003_10", "000005_10"]


def test_truncated_png_error_names_the_file(tmp_path):
    data_trees.kitti_tree(str(tmp_path), count=3, previous=False)
    path = tmp_path / "training" / "semantic" / "000001_10.png"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="000001_10.png"):
        data.load("kitti", str(tmp_path), "trainval", ["segmentation"])
    (tmp_path / "training" / "image_2" / "000002_10.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"image_2.000002_10.png"):
        data.load("kitti", str(tmp_path), "trainval", [])


def test_bad_arguments_list_allowed_values(kitti_root):
    root, _ = kitti_root
    with pytest.raises(ValueError, match="kitti_object"):
        data.load("kity", root, "train", [])
    with pytest.raises(ValueError, match="trainval"):
        data.load("kitti", root, "training", [])
    with pytest.raises(ValueError, match="segmentation"):
        data.load("kitti", root, "train", ["semantics"])
    with pytest.raises(ValueError, match="available.*segmentation"):
        data.load("kitti", root, "train", ["detection"])
    with pytest.raises(ValueError, match="val_fraction"):
        data.load("kitti", root, "train", [], val_frac=0.2)
    with pytest.raises(ValueError, match="empty"):
        data.load("kitti", root, "val", [], val_fraction=0.0)
    with pytest.raises(ValueError, match="motion_root"):
        data.load("kitti", root, "train", ["motion"])


# ---------------------------------------------------------------- other layouts


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cityscapes"))
    return root, data_trees.cityscapes_tree(root, counts={"train": 6, "val": 2, "test": 2})


def test_cityscapes_official_splits_and_files(cityscapes_root):
    root, written = cityscapes_root
    reader = data.get_reader("cityscapes", root)
    assert len(reader.list_examples("train", ["segmentation"])) == 6
    val = reader.list_examples("val", ["segmentation", "depth", "right_image"], frames=2)
    assert [e.name for e in val] == ["frankfurt_000000_000019", "lindau_000001_000019"]
    files = val[0].files
    assert files["previous_image"].endswith(os.path.join("leftImg8bit_sequence", "val", "frankfurt",
                                                          "frankfurt_000000_000018_leftImg8bit.png"))
    assert files["depth"].endswith("frankfurt_000000_000019_disparity.png")
    coarse = data.get_reader("cityscapes", root, coarse=True).list_examples("train", ["segmentation"])[0]
    assert coarse.files["segmentation"].endswith("_gtCoarse_labelIds.png")
    assert reader.camera(val[0]) == {"focal": 2262.52, "baseline": 0.209313}


def test_cityscapes_leang_split_is_seeded_60_20_20(cityscapes_root):
    root, _ = cityscapes_root

    def names(split, seed=0):
        reader = data.get_reader("cityscapes", root, split_scheme="leang", seed=seed)
        return [e.name for e in reader.list_examples(split, ["segmentation"])]

    parts = {s: names(s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert len(set(sum(parts.values(), []))) == 10  # pooled train+val+test, each image once
    assert names("val") == parts["val"]
    assert any(names("val", seed) != parts["val"] for seed in range(1, 6))
    with pytest.raises(ValueError, match="leang"):
        data.get_reader("cityscapes", root, split_scheme="random")


def test_cityscapes_boxes_from_polygons(cityscapes_root):
    root, _ = cityscapes_root
    example = data.get_reader("cityscapes", root).list_examples("val", ["detection"])[0]
    # car polygon x 8..24, y 4..16 in a 64x32 image; person x 40..48, y 10..30; cargroup and road are not boxes
    np.testing.assert_allclose(example.boxes, [[4 / 32, 8 / 64, 16 / 32, 24 / 64, 2],
                                               [10 / 32, 40 / 64, 30 / 32, 48 / 64, 0]])
    assert labels.CITYSCAPES_DETECTION_CLASSES.index("car") == 2


def test_cityscapes_missing_sequence_names_archive(tmp_path):
    data_trees.cityscapes_tree(str(tmp_path), counts={"train": 2}, sequence=False)
    with pytest.raises(FileNotFoundError, match="leftImg8bit_sequence_trainvaltest.zip"):
        data.get_reader("cityscapes", str(tmp_path)).list_examples("train", [], frames=2)
    shutil.rmtree(tmp_path / "gtFine")
    with pytest.raises(FileNotFoundError, match=r"gtFine[/\\]train.*gtFine_trainvaltest.zip"):
        data.get_reader("cityscapes", str(tmp_path)).list_examples("train", ["segmentation"])


def test_cityscapes_label_table_matches_cityscapes_scripts():
    table, known = labels.cityscapes_lookup()
    expected = {0: 255, 4: 255, 6: 255, 7: 0, 8: 1, 9: 255, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16, 32: 17, 33: 18}
    assert {i: int(table[i]) for i in expected} == expected
    assert known[:34].all() and not known[34:].any()
    assert labels.CITYSCAPES_CLASSES[0] == "road" and labels.CITYSCAPES_CLASSES[18] == "bicycle"
    assert len(labels.CITYSCAPES_CLASSES) == 19


def test_synthia_sequences_and_label_table(tmp_path):
    data_trees.synthia_tree(str(tmp_path))
    reader = data.get_reader("synthia", str(tmp_path))
    train = reader.list_examples("train", ["segmentation", "depth"])
    assert sorted({e.name.split("/")[0] for e in train}) == ["SYNTHIA-SEQS-02-NIGHT", "SYNTHIA-SEQS-02-SPRING"]
    assert [e.name for e in reader.list_examples("val", [])][0] == "SYNTHIA-SEQS-05-SPRING/000000"
    two_frames = reader.list_examples("val", [], frames=2)
    assert [e.name for e in two_frames] == ["SYNTHIA-SEQS-05-SPRING/000001", "SYNTHIA-SEQS-05-SPRING/000002"]
    assert two_frames[0].files["previous_image"].endswith("000000.png")
    custom = data.get_reader("synthia", str(tmp_path), train_sequences=["SYNTHIA-SEQS-02-NIGHT"], val_sequences=5)
    assert {e.name.split("/")[0] for e in custom.list_examples("train", [])} == {"SYNTHIA-SEQS-02-NIGHT"}
    with pytest.raises(FileNotFoundError, match="SYNTHIA-SEQS-04"):
        data.get_reader("synthia", str(tmp_path), train_sequences=[4]).list_examples("train", [])
    table, known = labels.synthia_lookup()
    assert [int(table[i]) for i in range(16)] == [255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255, 255, 12]
    assert known[:16].all() and not known[16]
    assert labels.SYNTHIA_CLASSES[12] == "traffic light" and len(labels.SYNTHIA_CLASSES) == 13


def test_woodscape_files_and_boxes(tmp_path):
    data_trees.woodscape_tree(str(tmp_path), count=6)
    examples = data.get_reader("woodscape", str(tmp_path)).list_examples("trainval", ["detection", "motion"], frames=2)
    assert len(examples) == 6 and examples[0].files["previous_image"].endswith("00000_FV_prev.png")
    # "vehicles,0,12,3,36,15" in a 48x30 image
    np.testing.assert_allclose(examples[0].boxes[0], [3 / 30, 12 / 48, 15 / 30, 36 / 48, 0])
    with pytest.raises(ValueError, match="x1,y1,x2,y2"):
        path = tmp_path / "bad.txt"
        path.write_text("vehicles,0,12,3\n")
        woodscape.parse_box_file(str(path), 48, 30)


def test_kitti_object_merge_classes(tmp_path):
    data_trees.kitti_object_tree(str(tmp_path), count=2)
    strict = data.get_reader("kitti_object", str(tmp_path)).list_examples("trainval", ["detection"])
    merged = data.get_reader("kitti_object", str(tmp_path), merge_classes=True).list_examples("trainval", ["detection"])
    assert strict[0].boxes[:, 4].tolist() == [0]  # Van and DontCare dropped
    assert merged[0].boxes[:, 4].tolist() == [0, 0]  # Van -> Car
    np.testing.assert_allclose(merged[0].boxes[1], [10 / 40, 60 / 120, 30 / 40, 90 / 120, 0])
    with pytest.raises(ValueError, match="Car"):
        data.get_reader("kitti_object", str(tmp_path), merge_classes={"Van": "Bus"}).list_examples("train", ["detection"])


@requires_real
def test_png_info_reads_header():
    info = base.png_info(os.path.join(REAL, "kitti_stereo2015", "training", "disp_occ_0", "000046_10.png"))
    assert (info.width, info.height, info.bit_depth, info.color_type) == (1242, 375, 16, 0)
