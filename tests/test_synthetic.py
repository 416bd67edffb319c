"""Synthetic scene generator (data.synthetic): geometry consistency, labels, boxes, official layouts and the CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.synthetic import CLASS_NAMES, MANIFEST_NAME, render_scene, write_dataset
from data.synthetic.scene import CAR, PERSON, ROAD, SKY

H, W = 96, 320
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scene():
    return render_scene(3, H, W)


def _warp_right_to_left(right, disparity):
    """left(x) ~ right(x - d), bilinear along x; also returns where x - d has both neighbours inside the image."""
    height, width = disparity.shape
    source = np.arange(width, dtype=np.float64)[None, :] - disparity
    x0 = np.floor(source).astype(int)
    inside = (x0 >= 0) & (x0 + 1 < width)
    x0 = np.clip(x0, 0, width - 2)
    weight = (source - x0)[..., None]
    rows = np.arange(height)[:, None]
    return right[rows, x0] * (1 - weight) + right[rows, x0 + 1] * weight, inside


def test_render_scene_is_deterministic_for_a_seed():
    first, second, other = render_scene(11, H, W), render_scene(11, H, W), render_scene(12, H, W)
    for key, value in first.items():
        np.testing.assert_array_equal(value, second[key], err_msg=key)
    assert not np.array_equal(first["image"], other["image"])


def test_outputs_have_documented_shapes_and_dtypes(scene):
    for key in ("image", "right_image", "previous_image"):
        assert scene[key].shape == (H, W, 3) and scene[key].dtype == np.uint8
    for key, dtype in (("depth", np.float32), ("disparity", np.float32), ("semantic", np.uint8),
                       ("motion", np.uint8), ("instance", np.int32), ("occluded", bool)):
        assert scene[key].shape == (H, W) and scene[key].dtype == dtype, key
    n = len(scene["boxes"])
    assert scene["boxes"].shape == (n, 4) and scene["box_3d"].shape == (n, 7) and scene["box_classes"].shape == (n,)
    assert scene["focal"] == pytest.approx(721.5377 * W / 1242)
    assert scene["baseline"] == pytest.approx(0.54)


def test_kitti_default_is_native_size_and_camera():
    out = render_scene(0, right=False, previous=False)
    assert out["image"].shape == (375, 1242, 3)
    assert out["focal"] == pytest.approx(721.5377) and out["baseline"] == pytest.approx(0.54)
    np.testing.assert_allclose(out["principal_point"], [609.5593, 172.854], rtol=1e-6)


def test_right_image_warped_with_stored_disparity_reproduces_left(scene):
    left = scene["image"].astype(np.float64)
    right = scene["right_image"].astype(np.float64)
    warped, inside = _warp_right_to_left(right, scene["disparity"])
    valid = scene["valid_disparity"] & ~scene["occluded"] & inside
    assert valid.mean() > 0.5
    warped_error = np.abs(warped - left)[valid].mean()
    unwarped_error = np.abs(right - left)[valid].mean()
    assert warped_error < 6.0
    assert warped_error < 0.3 * unwarped_error


def test_disparity_is_focal_times_baseline_over_depth_and_road_is_a_plane(scene):
    hit = scene["classes"] != SKY
    np.testing.assert_allclose(scene["disparity"][hit] * scene["depth"][hit], scene["focal"] * scene["baseline"],
                               rtol=1e-5)
    assert np.all(scene["depth"][~hit] == 0) and np.all(scene["disparity"][~hit] == 0)
    # road pixels lie on the plane camera_height below the camera: Z = h * f / (v - cy)
    rows, cols = np.nonzero(scene["classes"] == ROAD)
    expected = scene["camera_height"] * scene["focal"] / (rows - scene["principal_point"][1])
    np.testing.assert_allclose(scene["depth"][rows, cols], expected, rtol=1e-4)
    # KITTI-style validity: sky and far pixels are invalid
    assert not scene["valid_disparity"][~hit].any()
    assert np.all(scene["depth"][scene["valid_disparity"]] <= 80.0)


@pytest.mark.parametrize("label_space, expected", [
    ("cityscapes", {7, 8, 11, 17, 20, 21, 23, 24, 26}),
    ("synthia", {1, 2, 3, 4, 6, 7, 8, 9, 10, 12}),
    ("woodscape", {0, 1, 2, 3, 4, 6, 9}),
])
def test_every_class_is_labelled(label_space, expected):
    out = render_scene(4, H, W, label_space=label_space, right=False, previous=False)
    assert set(np.unique(out["classes"])) == set(range(len(CLASS_NAMES)))
    assert set(np.unique(out["semantic"]).tolist()) == expected


def test_bad_label_space_is_rejected():
    with pytest.raises(ValueError, match="label_space"):
        render_scene(0, H, W, label_space="mapillary")


def test_motion_mask_marks_exactly_the_moving_objects(scene):
    motion = scene["motion"].astype(bool)
    assert motion.any()
    assert np.isin(scene["classes"][motion], [CAR, PERSON]).all()
    moving_rows = np.flatnonzero(scene["box_moving"])
    assert moving_rows.size and (~scene["box_moving"]).any()
    np.testing.assert_array_equal(motion, np.isin(scene["instance"], moving_rows + 1))


def test_previous_frame_differs_only_around_moving_objects_without_ego_motion():
    out = render_scene(5, H, W, ego_motion=0.0)
    assert out["ego_motion"] == 0.0
    same = np.all(out["image"] == out["previous_image"], axis=-1)
    assert same[out["motion"] == 0].mean() > 0.9
    assert not same[out["motion"] == 1].all()
    moving = render_scene(5, H, W)  # with ego motion the whole view changes
    assert np.all(moving["image"] == moving["previous_image"], axis=-1).mean() < 0.5


def test_boxes_lie_in_the_image_and_tightly_cover_their_object_pixels(scene):
    boxes = scene["boxes"]
    assert len(boxes) > 0
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 1] >= 0)
    assert np.all(boxes[:, 2] <= W - 1) and np.all(boxes[:, 3] <= H - 1)
    assert np.all(boxes[:, 0] <= boxes[:, 2]) and np.all(boxes[:, 1] <= boxes[:, 3])
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        rows, cols = np.nonzero(scene["instance"] == k + 1)
        assert (cols.min(), rows.min(), cols.max(), rows.max()) == (x1, y1, x2, y2)
        assert len(rows) == scene["visible_pixels"][k]
    assert {CAR, PERSON} <= set(scene["box_classes"].tolist())


# -------------------------------------------------------------------------------------------------- layouts
def _files(root):
    return {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file()}


def _decode16(path):
    import tensorflow as tf

    return tf.io.decode_png(tf.io.read_file(str(path)), channels=0, dtype=tf.uint16).numpy()


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    options = {"kitti": {}, "kitti_object": {}, "cityscapes": {"val_fraction": 0.5}, "synthia": {"val_fraction": 0.34},
               "woodscape": {}}
    for layout, extra in options.items():
        size = {"image_size": (H, W)} if layout != "kitti_object" else {"image_size": (80, 256)}
        write_dataset(layout, root / layout, 3 if layout == "synthia" else 2, 0, progress=False, **size, **extra)
    return root


def test_kitti_tree_has_official_names_and_encodings(trees):
    root = trees / "kitti"
    expected = {MANIFEST_NAME}
    for i in range(2):
        expected |= {f"training/image_2/{i:06d}_10.png", f"training/image_2/{i:06d}_09.png",
                     f"training/image_3/{i:06d}_10.png", f"training/semantic/{i:06d}_10.png",
                     f"training/semantic_rgb/{i:06d}_10.png", f"training/instance/{i:06d}_10.png",
                     f"training/disp_occ_0/{i:06d}_10.png", f"training/disp_noc_0/{i:06d}_10.png",
                     f"training/calib_cam_to_cam/{i:06d}.txt", f"motion/{i:06d}_10.png"}
    assert _files(root) == expected
    modes = {"image_2": "RGB", "image_3": "RGB", "semantic": "L", "semantic_rgb": "RGB", "instance": "I;16",
             "disp_occ_0": "I;16", "disp_noc_0": "I;16"}
    for folder, mode in modes.items():
        with Image.open(root / "training" / folder / "000000_10.png") as image:
            assert image.mode == mode and image.size == (W, H), folder
    with Image.open(root / "motion/000000_10.png") as image:
        assert image.mode == "L" and set(np.unique(np.array(image))) == {0, 255}

    reference = render_scene([0, 0], H, W)  # scene i of seed s is render_scene([s, i])
    semantic = np.array(Image.open(root / "training/semantic/000000_10.png"))
    np.testing.assert_array_equal(semantic, reference["semantic"])
    occ = np.array(Image.open(root / "training/disp_occ_0/000000_10.png")).astype(np.int64)
    np.testing.assert_array_equal(_decode16(root / "training/disp_occ_0/000000_10.png")[..., 0], occ)
    np.testing.assert_array_equal(occ > 0, reference["valid_disparity"])
    np.testing.assert_allclose(occ[occ > 0] / 256.0, reference["disparity"][occ > 0], atol=1 / 512 + 1e-6)
    noc = np.array(Image.open(root / "training/disp_noc_0/000000_10.png"))
    assert np.all(noc[noc > 0] == occ[noc > 0]) and np.count_nonzero(noc) < np.count_nonzero(occ)
    instance = np.array(Image.open(root / "training/instance/000000_10.png")).astype(np.int64)
    np.testing.assert_array_equal(instance // 256, semantic)

    calib = {}
    for line in (root / "training/calib_cam_to_cam/000000.txt").read_text().splitlines():
        key, values = line.split(":", 1)
        calib[key] = values.split()
    p2 = np.array(calib["P_rect_02"], float).reshape(3, 4)
    p3 = np.array(calib["P_rect_03"], float).reshape(3, 4)
    assert p2[0, 0] == pytest.approx(reference["focal"], rel=1e-6)
    assert p3[0, 3] == pytest.approx(-reference["focal"] * reference["baseline"], rel=1e-6)
    assert {"S_rect_02", "R_rect_02", "S_rect_03", "K_02", "D_02", "T_03"} <= set(calib)


def test_kitti_object_tree_labels_and_calib(trees):
    root = trees / "kitti_object"
    expected = {MANIFEST_NAME} | {f"training/{d}/{i:06d}.{e}" for i in range(2)
                                  for d, e in (("image_2", "png"), ("label_2", "txt"), ("calib", "txt"))}
    assert _files(root) == expected
    with Image.open(root / "training/image_2/000000.png") as image:
        assert image.mode == "RGB" and image.size == (256, 80)
    types = set()
    for i in range(2):
        for line in (root / f"training/label_2/{i:06d}.txt").read_text().splitlines():
            columns = line.split(" ")
            assert len(columns) == 15
            types.add(columns[0])
            x1, y1, x2, y2 = (float(v) for v in columns[4:8])
            assert 0 <= x1 <= x2 <= 255 and 0 <= y1 <= y2 <= 79
    assert types <= {"Car", "Pedestrian", "DontCare"} and "Car" in types
    keys = [line.split(":")[0] for line in (root / "training/calib/000000.txt").read_text().splitlines() if line]
    assert keys == ["P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"]


def test_cityscapes_tree_has_official_names_and_encodings(trees):
    root = trees / "cityscapes"
    expected = {MANIFEST_NAME}
    for split, city in (("train", "synthcity"), ("val", "synthville")):
        stem, folder = f"{city}_000000_000019", f"{split}/{city}"
        expected |= {f"leftImg8bit/{folder}/{stem}_leftImg8bit.png", f"rightImg8bit/{folder}/{stem}_rightImg8bit.png",
                     f"gtFine/{folder}/{stem}_gtFine_labelIds.png", f"gtFine/{folder}/{stem}_gtFine_instanceIds.png",
                     f"gtFine/{folder}/{stem}_gtFine_color.png", f"gtFine/{folder}/{stem}_gtFine_polygons.json",
                     f"disparity/{folder}/{stem}_disparity.png", f"camera/{folder}/{stem}_camera.json",
                     f"leftImg8bit_sequence/{folder}/{city}_000000_000018_leftImg8bit.png",
                     f"motion/{folder}/{stem}_leftImg8bit.png"}
    assert _files(root) == expected
    folder, stem = root / "gtFine/train/synthcity", "synthcity_000000_000019"
    labels = np.array(Image.open(folder / f"{stem}_gtFine_labelIds.png"))
    assert Image.open(folder / f"{stem}_gtFine_labelIds.png").mode == "L"
    instances = np.array(Image.open(folder / f"{stem}_gtFine_instanceIds.png")).astype(np.int64)
    assert Image.open(folder / f"{stem}_gtFine_instanceIds.png").mode == "I;16"
    grouped = np.where(instances >= 1000, instances // 1000, instances)
    np.testing.assert_array_equal(grouped, labels)
    assert (instances >= 26000).any()
    polygons = json.loads((folder / f"{stem}_gtFine_polygons.json").read_text())
    assert (polygons["imgHeight"], polygons["imgWidth"]) == (H, W)
    assert polygons["objects"] and all(o["label"] in ("car", "person") and len(o["polygon"]) >= 3
                                       for o in polygons["objects"])
    camera = json.loads((root / f"camera/train/synthcity/{stem}_camera.json").read_text())
    disparity_path = root / f"disparity/train/synthcity/{stem}_disparity.png"
    raw = _decode16(disparity_path)[..., 0].astype(np.int64)
    reference = render_scene([0, 0], H, W, focal=camera["intrinsic"]["fx"], baseline=camera["extrinsic"]["baseline"],
                             principal_point=(camera["intrinsic"]["u0"], camera["intrinsic"]["v0"]), right=False,
                             previous=False)
    valid = raw > 0
    np.testing.assert_array_equal(valid, reference["valid_disparity"])
    np.testing.assert_allclose((raw[valid] - 1) / 256.0, reference["disparity"][valid], atol=1 / 512 + 1e-6)


def test_synthia_tree_is_two_sequences_with_16bit_labels_and_depth(trees):
    root = trees / "synthia"
    expected = {MANIFEST_NAME}
    for sequence, count in (("SYNTHIA-SEQS-02-SPRING", 2), ("SYNTHIA-SEQS-05-SPRING", 1)):
        for i in range(count):
            name = f"{i:06d}.png"
            expected |= {f"{sequence}/RGB/Stereo_Left/Omni_F/{name}", f"{sequence}/RGB/Stereo_Right/Omni_F/{name}",
                         f"{sequence}/Depth/Stereo_Left/Omni_F/{name}",
                         f"{sequence}/GT/LABELS/Stereo_Left/Omni_F/{name}", f"motion/{sequence}/{name}"}
    assert _files(root) == expected
    base = root / "SYNTHIA-SEQS-02-SPRING"
    labels = _decode16(base / "GT/LABELS/Stereo_Left/Omni_F/000000.png")
    depth = _decode16(base / "Depth/Stereo_Left/Omni_F/000000.png")
    assert labels.dtype == np.uint16 and labels.shape == (H, W, 3) and depth.shape == (H, W, 3)
    assert set(np.unique(labels[..., 0]).tolist()) <= {1, 2, 3, 4, 6, 7, 8, 9, 10, 12}
    assert {1, 3, 8}.issubset(np.unique(labels[..., 0]).tolist())
    sky = labels[..., 0] == 1
    assert np.all(depth[sky] == 0) and np.all(depth[~sky, 0] > 0)
    # consecutive files are consecutive frames: the camera moved forward, so the views differ
    frame0 = np.array(Image.open(base / "RGB/Stereo_Left/Omni_F/000000.png"))
    frame1 = np.array(Image.open(base / "RGB/Stereo_Left/Omni_F/000001.png"))
    assert frame0.shape == (H, W, 3) and not np.array_equal(frame0, frame1)


def test_woodscape_tree_has_official_names_and_encodings(trees):
    root = trees / "woodscape"
    expected = {MANIFEST_NAME}
    for i in range(2):
        stem = f"{i:05d}_FV"
        expected |= {f"rgb_images/{stem}.png", f"previous_images/{stem}_prev.png",
                     f"semantic_annotations/gtLabels/{stem}.png", f"motion_annotations/gtLabels/{stem}.png",
                     f"box_2d_annotations/{stem}.txt"}
    assert _files(root) == expected
    semantic = np.array(Image.open(root / "semantic_annotations/gtLabels/00000_FV.png"))
    motion = np.array(Image.open(root / "motion_annotations/gtLabels/00000_FV.png"))
    assert semantic.dtype == np.uint8 and semantic.max() <= 9
    assert set(np.unique(motion).tolist()) == {0, 1}
    lines = (root / "box_2d_annotations/00000_FV.txt").read_text().splitlines()
    assert lines
    for line in lines:
        name, class_id, *box = line.split(",")
        assert (name, class_id) in {("vehicles", "0"), ("person", "1"), ("traffic_sign", "4")}
        x1, y1, x2, y2 = (int(v) for v in box)
        assert 0 <= x1 <= x2 < W and 0 <= y1 <= y2 < H


def test_manifest_makes_a_second_run_a_no_op_and_guards_other_parameters(tmp_path):
    out = write_dataset("woodscape", tmp_path, 1, 7, image_size=(32, 48), progress=False)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["parameters"]["num"] == 1 and manifest["parameters"]["seed"] == 7
    image = out / "rgb_images/00000_FV.png"
    os.utime(image, (1, 1))
    write_dataset("woodscape", tmp_path, 1, 7, image_size=(32, 48), progress=False)
    assert image.stat().st_mtime == 1  # nothing re-rendered
    with pytest.raises(ValueError, match="overwrite"):
        write_dataset("woodscape", tmp_path, 2, 7, image_size=(32, 48), progress=False)
    write_dataset("woodscape", tmp_path, 2, 7, image_size=(32, 48), progress=False, overwrite=True)
    assert (out / "rgb_images/00001_FV.png").is_file() and image.stat().st_mtime != 1
    assert not list(out.glob("*.tmp"))


def test_scene_content_does_not_depend_on_num(tmp_path):
    write_dataset("woodscape", tmp_path / "a", 1, 3, image_size=(32, 48), progress=False)
    write_dataset("woodscape", tmp_path / "b", 2, 3, image_size=(32, 48), progress=False)
    first = (tmp_path / "a/rgb_images/00000_FV.png").read_bytes()
    assert first == (tmp_path / "b/rgb_images/00000_FV.png").read_bytes()


@pytest.mark.parametrize("kwargs, match", [
    ({"layout": "nuscenes"}, "layout"),
    ({"num": 0}, "num"),
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"scale": 0.5, "image_size": (32, 48)}, "scale or image_size"),
    ({"vary_size": True}, "vary_size"),
])
def test_write_dataset_rejects_bad_arguments(tmp_path, kwargs, match):
    arguments = {"layout": "woodscape", "out_dir": tmp_path, "num": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        write_dataset(**arguments)


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "data.synthetic", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_a_kitti_tree(tmp_path):
    result = _cli("--layout", "kitti", "--out", "tmp", "--num", "2", "--seed", "0", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "tmp/training/image_2/000001_10.png") as image:
        assert image.size == (1242, 375)
    assert (tmp_path / "tmp" / MANIFEST_NAME).is_file()


def test_cli_help_and_bad_layout(tmp_path):
    help_result = _cli("--help", cwd=tmp_path)
    assert help_result.returncode == 0 and "--layout" in help_result.stdout
    bad = _cli("--layout", "nuscenes", "--out", "tmp", cwd=tmp_path)
    assert bad.returncode == 2
    assert "invalid choice: 'nuscenes'" in bad.stderr and "kitti_object" in bad.stderr
    assert "Traceback" not in bad.stderr
