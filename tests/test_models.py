"""Model zoo: output shapes, exact parameter counts, serialization, export, streaming, bad arguments."""
import numpy as np
import pytest
import keras

import models
from models.encoders import RESNET50_IMAGENET_FILE
from models.streaming import StreamingPredictor

TINY = (64, 96, 3)
BATCH = 2

# builder, args, kwargs at a tiny size (small backbones keep the suite fast; the 224x384 counts are below)
TINY_BUILDERS = {
    "segnet": (models.build_segnet, (5,), {"backbone": "resnet10"}),
    "multitask": (models.build_multitask, ({"segmentation": 4, "depth": 1},), {"backbone": "resnet10"}),
    "auxnet": (models.build_auxnet, (5,), {"backbone": "resnet10"}),
    "msnet2": (models.build_msnet2, (5,), {"backbone": "resnet10"}),
    "rnnet2": (models.build_rnnet2, (5,), {"backbone": "resnet10"}),
    "multinet_pp": (models.build_multinet_pp, (), {"backbone": "resnet10"}),
    "multinet_pp_sum": (models.build_multinet_pp, (), {"backbone": "resnet10", "aggregation": "sum"}),
    "fusenet": (models.build_fusenet, (5,), {"backbone": "resnet10"}),
    "detseg": (models.build_detseg, (3, 5), {}),
    "selfsup": (models.build_selfsup, (), {"num_classes": 5, "backbone": "resnet10"}),
}

EXPECTED_CHANNELS = {
    "segnet": {"segmentation": 5},
    "multitask": {"segmentation": 4, "depth": 1},
    "auxnet": {"segmentation": 5, "depth": 1},
    "msnet2": {"segmentation": 5},
    "rnnet2": {"segmentation": 5},
    "multinet_pp": {"segmentation": 20, "depth": 1, "motion": 2},
    "multinet_pp_sum": {"segmentation": 20, "depth": 1, "motion": 2},
    "fusenet": {"segmentation": 5},
    "detseg": {"detection": 3 + 5, "segmentation": 5},
    "selfsup": {"segmentation": 5, "colorization": 36, "disparity": 1},
}


def build_tiny(key):
    builder, args, kwargs = TINY_BUILDERS[key]
    return builder(*args, input_shape=TINY, **kwargs)


def tiny_inputs(model, seed=0):
    rng = np.random.default_rng(seed)
    names = [tensor.name for tensor in keras.tree.flatten(model.input)]
    return {name: rng.uniform(0, 255, (BATCH,) + TINY).astype("float32") for name in names}


def assert_outputs_close(expected, actual, atol=1e-5):
    assert set(expected) == set(actual)
    for task in expected:
        np.testing.assert_allclose(np.asarray(actual[task]), np.asarray(expected[task]), atol=atol, rtol=1e-4)


@pytest.mark.parametrize("key", sorted(TINY_BUILDERS))
def test_output_shapes_and_activations(key):
    model = build_tiny(key)
    assert isinstance(model, models.MultiTaskModel)
    outputs = model.predict_on_batch(tiny_inputs(model))
    assert set(outputs) == set(EXPECTED_CHANNELS[key])
    for task, channels in EXPECTED_CHANNELS[key].items():
        if task == "detection":
            assert outputs[task].shape == (BATCH, TINY[0] // 32, TINY[1] // 32, channels)
            continue
        assert outputs[task].shape == (BATCH, TINY[0], TINY[1], channels)
        if task in ("segmentation", "motion", "colorization"):
            np.testing.assert_allclose(outputs[task].sum(axis=-1), 1.0, atol=1e-4)
        if task == "disparity":
            assert 0.0 <= outputs[task].min() and outputs[task].max() <= 1.0


def test_two_frame_models_take_previous_image_and_share_one_encoder():
    model = build_tiny("multinet_pp")
    names = {tensor.name for tensor in keras.tree.flatten(model.input)}
    assert names == {"image", "previous_image"}
    assert model.frames == 2
    encoders = [layer for layer in model.layers if layer.name == "encoder"]
    assert len(encoders) == 1 and len(encoders[0]._inbound_nodes) == 2
    # Swapping the frames changes the output: the previous frame is really used.
    inputs = tiny_inputs(model)
    swapped = {"image": inputs["previous_image"], "previous_image": inputs["image"]}
    a = model.predict_on_batch(inputs)["segmentation"]
    b = model.predict_on_batch(swapped)["segmentation"]
    assert not np.allclose(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("builder, args, kwargs, paper_key", [
    (models.build_segnet, (12,), {}, "segnet_kitti"),           # AuxNet Table 2
    (models.build_segnet, (13,), {}, "segnet_synthia"),
    (models.build_auxnet, (12,), {}, "auxnet_kitti"),
    (models.build_auxnet, (13,), {}, "auxnet_synthia"),
    (models.build_fusenet, (12,), {}, "fusenet_kitti"),
    (models.build_fusenet, (13,), {}, "fusenet_synthia"),
    (models.build_msnet2, (12,), {}, "msnet2_kitti"),           # NeurAll Table I
    (models.build_multitask, ({"segmentation": 20},), {}, "multinet_seg"),   # MultiNet++ Table 2 (printed rounded)
    (models.build_multitask, ({"depth": 1},), {}, "multinet_depth"),
    (models.build_multitask, ({"motion": 2},), {}, "multinet_motion"),
    (models.build_multinet_pp, (), {"frames": 1}, "multinet_3task_1frame"),
    (models.build_multinet_pp, (), {}, "multinet_3task_2frame"),
])
def test_parameter_counts_equal_the_papers(builder, args, kwargs, paper_key):
    from reproduce.paper_numbers import PARAMETER_COUNTS, matches_paper_count

    count = builder(*args, **kwargs).count_params()
    assert matches_paper_count(paper_key, count), (count, PARAMETER_COUNTS[paper_key])


def test_count_params_after_compile_is_the_networks_own_count():
    model = build_tiny("auxnet")
    network = model.count_params()
    model.compile(weighting="uncertainty")  # learned log-variances, tracked by the model
    strategy = sum(int(np.prod(v.shape)) for v in model.weighting.variables)
    assert strategy > 0 and sum(int(np.prod(w.shape)) for w in model.weights) == network + strategy
    assert model.count_params() == network


@pytest.mark.parametrize("backbone, expected", [("resnet50", 23_587_712), ("resnet18", 11_186_112),
                                                ("resnet10", 4_911_552)])
def test_encoder_counts_and_pyramid(backbone, expected):
    encoder = models.build_encoder(backbone)
    assert encoder.count_params() == expected
    shapes = {level: tuple(tensor.shape[1:3]) for level, tensor in encoder.output.items()}
    assert shapes == {"P1": (112, 192), "P2": (56, 96), "P3": (28, 48), "P4": (14, 24), "P5": (7, 12)}
    for level, layer_name in models.PYRAMID_LAYERS[backbone].items():
        assert encoder.get_layer(layer_name).output is encoder.output[level]
    if backbone == "resnet50":
        assert [encoder.output[level].shape[-1] for level in ("P3", "P4", "P5")] == [512, 1024, 2048]
        for layer_name in ("conv3_block4_out", "conv4_block6_out", "conv5_block3_out"):
            encoder.get_layer(layer_name)


@pytest.mark.parametrize("key", sorted(TINY_BUILDERS))
def test_keras_save_and_load_round_trip(key, tmp_path):
    model = build_tiny(key)
    inputs = tiny_inputs(model)
    expected = model.predict_on_batch(inputs)
    path = tmp_path / f"{key}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is models.MultiTaskModel
    assert restored.count_params() == model.count_params()
    assert_outputs_close(expected, restored.predict_on_batch(inputs))


@pytest.mark.parametrize("key", ["segnet", "multinet_pp", "fusenet", "detseg", "selfsup", "rnnet2"])
def test_export_savedmodel_serves_same_outputs(key, tmp_path):
    import tensorflow as tf

    model = build_tiny(key)
    inputs = tiny_inputs(model)
    expected = model.predict_on_batch(inputs)
    model.export(str(tmp_path / key), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / key))  # keep a reference: its variables die with it
    served = reloaded.serve(inputs)
    assert_outputs_close(expected, {task: value.numpy() for task, value in served.items()}, atol=1e-4)


def test_streaming_equals_full_two_frame_model():
    model = build_tiny("multinet_pp")
    frames = np.random.default_rng(3).uniform(0, 255, (3,) + TINY).astype("float32")
    predictor = StreamingPredictor(model)
    first = predictor.step(frames[0])
    assert_outputs_close(model.predict_on_batch({"image": frames[:1], "previous_image": frames[:1]}), first)
    for t in (1, 2):
        streamed = predictor.step(frames[t])
        full = model.predict_on_batch({"image": frames[t:t + 1], "previous_image": frames[t - 1:t]})
        assert_outputs_close(full, streamed)
    predictor.reset()
    assert_outputs_close(first, predictor.step(frames[0]))


def test_streaming_rejects_single_frame_models():
    with pytest.raises(ValueError, match="2-frame"):
        StreamingPredictor(build_tiny("segnet"))


def test_streaming_works_on_a_loaded_model(tmp_path):
    model = build_tiny("msnet2")
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    frames = np.random.default_rng(4).uniform(0, 255, (2,) + TINY).astype("float32")
    predictor = StreamingPredictor(restored)
    predictor.step(frames[0])
    assert_outputs_close(model.predict_on_batch({"image": frames[1:], "previous_image": frames[:1]}),
                         predictor.step(frames[1]))


@pytest.mark.parametrize("call, match", [
    (lambda: models.build_segnet(5, backbone="vgg16", input_shape=TINY), "backbone"),
    (lambda: models.build_segnet(0, input_shape=TINY), "num_classes"),
    (lambda: models.build_segnet(5, input_shape=(60, 96, 3)), "multiple of 32"),
    (lambda: models.build_segnet(5, input_shape=(64, 96, 4)), "3 channels"),
    (lambda: models.build_multitask({"segmentation": 3, "optical_flow": 2}, input_shape=TINY), "unknown task"),
    (lambda: models.build_multitask({"segmentation": 3}, frames=2, aggregation="max", input_shape=TINY),
     "aggregation"),
    (lambda: models.build_multitask({"segmentation": 3}, frames=3, input_shape=TINY), "frames"),
    (lambda: models.build_selfsup(tasks=("segmentation", "depth"), input_shape=TINY), "tasks"),
    (lambda: models.build_detseg(0, 5, input_shape=TINY), "num_det_classes"),
])
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_imagenet_weights_offline_say_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        models.build_segnet(5, input_shape=TINY, weights="imagenet")
    message = str(info.value)
    assert RESNET50_IMAGENET_FILE in message and str(tmp_path / "models") in message


def test_weights_from_a_local_file_are_loaded(tmp_path):
    encoder = models.build_encoder("resnet10", TINY)
    for variable in encoder.weights:
        variable.assign(np.random.default_rng(0).normal(size=variable.shape).astype("float32") * 0.01
                        + (1.0 if "variance" in variable.path else 0.0))
    path = tmp_path / "resnet10.weights.h5"
    encoder.save_weights(path)
    model = models.build_segnet(5, input_shape=TINY, backbone="resnet10", weights=str(path))
    for saved, loaded in zip(encoder.weights, model.get_layer("encoder").weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    with pytest.raises(FileNotFoundError, match="no such file"):
        models.build_segnet(5, input_shape=TINY, weights=str(tmp_path / "missing.h5"))


def tiny_targets(model, seed=0):
    rng = np.random.default_rng(seed)
    targets = {}
    for task, output in model.output.items():
        channels = output.shape[-1]
        if task in ("segmentation", "motion", "colorization"):
            targets[task] = rng.integers(0, channels, (BATCH,) + TINY[:2]).astype("int32")
        elif task == "depth":
            targets[task] = rng.uniform(1, 80, (BATCH,) + TINY[:2] + (1,)).astype("float32")
        elif task == "disparity":
            targets["right_image"] = rng.uniform(0, 255, (BATCH,) + TINY).astype("float32")
        elif task == "detection":
            boxes = -np.ones((BATCH, 4, 5), "float32")
            boxes[:, 0] = [0.2, 0.1, 0.6, 0.4, 1.0]
            targets[task] = boxes
    return targets


@pytest.mark.parametrize("key", sorted(TINY_BUILDERS))
def test_one_fit_step_on_arrays_changes_the_weights(key):
    model = build_tiny(key)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), weighting="equal")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(tiny_inputs(model), tiny_targets(model), batch_size=BATCH, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_bfloat16_training_runs_for_every_kind_of_network_and_tracks_float32():
    """Mixed bfloat16 (the CPU's fast path) on every decoder and head kind: FCN8 with the 2-channel motion scores
    on 2 x 512 concatenated channels, the YOLO head, the U-Net on Lab inputs."""
    from benchmarks.train import fixed_batch

    def losses(key, policy):
        keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            model = build_tiny(key)
            model.compile(optimizer=keras.optimizers.Adam(1e-4), weighting="gls", run_eagerly=True)
            inputs, targets = fixed_batch(model, BATCH)
            return [float(model.train_on_batch(inputs, targets, return_dict=True)["loss"]) for _ in range(2)]
        finally:
            keras.mixed_precision.set_global_policy("float32")

    for key in ("multinet_pp", "detseg", "selfsup"):
        low, full = losses(key, "mixed_bfloat16"), losses(key, "float32")
        assert np.all(np.isfinite(low)), key
        np.testing.assert_allclose(low, full, rtol=0.05, err_msg=key)
