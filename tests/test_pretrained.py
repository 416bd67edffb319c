"""ImageNet initialisation: keras.applications' ResNet-50 file and keras-hub's ResNet-18 preset mapped onto our encoder.

Nothing here downloads: every test runs with the network cut (sockets refuse to connect) and an empty Keras and
kagglehub cache, so the mapping is checked on keras-hub backbones with random weights and the fetches on their
offline failures.
"""
import socket
import urllib.error

import keras
import keras_hub
import numpy as np
import pytest

import models
from models import pretrained
from models.encoders import (KERAS_HUB_RESNET18_PRESET, RESNET18_IMAGENET_FILE, RESNET50_IMAGENET_FILE,
                             RESNET50_IMAGENET_MD5, RESNET50_IMAGENET_URL, imagenet_cache_path, resolve_weights)
from models.layers import ImageNormalization

TINY = (64, 96, 3)
BATCH = 2
BLOCKS = {"resnet18": [2, 2, 2, 2], "resnet10": [1, 1, 1, 1]}
# timm's ImageNet mean and std (resnet18.a1_in1k's pretrained_cfg), from which keras-hub's timm loader builds the
# preset's image converter: scale 1 / (255 std), offset -mean / std (keras_hub/src/utils/timm/preset_loader.py).
TIMM_MEAN = np.array([0.485, 0.456, 0.406])
TIMM_STD = np.array([0.229, 0.224, 0.225])
# keras-hub's own record of the preset (resnet_presets.py metadata "params").
RESNET_18_IMAGENET_PARAMS = 11186112


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No test may reach the network, nor find a file a previous run left in a real cache."""
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in tests/test_pretrained.py")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # name lookups too
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    return tmp_path / "keras_home" / "models"


def hub_resnet(backbone="resnet18", seed=0, **overrides):
    """A keras-hub ResNetBackbone in the preset's configuration with random weights and batch-norm statistics.

    Random statistics (not 0 / 1) make the test see the mean, the variance and the epsilon: variances down to 1e-4,
    where torch's epsilon and ours differ by 2.5e-5 relative per layer; gammas scaled so features stay near 1.
    """
    config = {**pretrained._KERAS_HUB_BASIC_RESNET, "stackwise_num_blocks": BLOCKS[backbone], **overrides}
    keras.utils.set_random_seed(seed)
    hub = keras_hub.models.ResNetBackbone(**config, image_shape=(None, None, 3))
    rng = np.random.default_rng(seed)
    for layer in hub.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            variance = np.exp(rng.uniform(np.log(1e-4), 0.0, channels))
            layer.gamma.assign(np.sqrt(variance) * rng.uniform(0.4, 0.9, channels))
            layer.beta.assign(rng.normal(0.0, 0.1, channels))
            layer.moving_mean.assign(rng.normal(0.0, 0.1, channels))
            layer.moving_variance.assign(variance)
    return hub


def preset_preprocessing():
    return keras_hub.layers.ResNetImageConverter(scale=list(1.0 / (255.0 * TIMM_STD)),
                                                 offset=list(-TIMM_MEAN / TIMM_STD))


def hub_features(hub, raw_images):
    """keras-hub's P1..P5 on raw [0, 255] images, preprocessed as the preset's preprocessor does."""
    pyramid = keras.Model(hub.inputs, {**hub.pyramid_outputs, "P1": hub.get_layer("conv1_relu").output})
    features = pyramid(preset_preprocessing()(raw_images))
    return {level: keras.ops.convert_to_numpy(value) for level, value in features.items()}


def images(seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (BATCH,) + TINY).astype("float32")


def assert_same_features(ours, theirs, relative=5e-6):
    assert sorted(ours) == sorted(theirs) == ["P1", "P2", "P3", "P4", "P5"]
    for level in ours:
        scale = np.abs(theirs[level]).max()
        np.testing.assert_allclose(ours[level], theirs[level], rtol=0, atol=relative * scale, err_msg=level)


def test_the_preset_configuration_is_keras_hubs_resnet18():
    # keras-hub builds the preset through its timm converter; our expectations must be that configuration, and the
    # backbone it gives must have the preset's recorded parameter count, as must our encoder.
    from keras_hub.src.utils.timm.convert_resnet import convert_backbone_config

    assert convert_backbone_config({"architecture": "resnet18"}) == {
        **pretrained._KERAS_HUB_BASIC_RESNET, "stackwise_num_blocks": BLOCKS["resnet18"]}
    hub = hub_resnet()
    assert hub.count_params() == RESNET_18_IMAGENET_PARAMS
    assert models.build_encoder("resnet18", TINY).count_params() == RESNET_18_IMAGENET_PARAMS


def test_the_preset_preprocessing_is_our_torch_normalization():
    raw = images()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ImageNormalization("torch")(raw)),
                               keras.ops.convert_to_numpy(preset_preprocessing()(raw)), rtol=0, atol=2e-6)
    assert models.encoders.DEFAULT_NORMALIZATION["resnet18"] == "torch"


@pytest.mark.parametrize("backbone", ["resnet18", "resnet10"])
def test_mapped_weights_give_keras_hubs_features(backbone):
    hub = hub_resnet(backbone)
    encoder = pretrained.encoder_from_keras_hub(hub, input_shape=TINY)
    assert encoder.count_params() == hub.count_params()
    raw = images()
    ours = {level: keras.ops.convert_to_numpy(value) for level, value in encoder(raw).items()}
    assert_same_features(ours, hub_features(hub, raw))


def test_the_epsilon_rescaling_is_what_makes_the_features_equal():
    # Copying the four batch-norm vectors as they are would leave torch's epsilon (1e-5) against ours (1.001e-5):
    # visible on this backbone, so the tolerance above does test the rescaling.
    hub = hub_resnet()
    naive = models.build_encoder("resnet18", TINY)
    for ours, theirs in pretrained.keras_hub_layer_names(hub).items():
        naive.get_layer(ours).set_weights(hub.get_layer(theirs).get_weights())
    raw = images()
    with pytest.raises(AssertionError):
        assert_same_features({k: keras.ops.convert_to_numpy(v) for k, v in naive(raw).items()}, hub_features(hub, raw))


def test_every_layer_is_matched_and_other_layouts_are_refused():
    hub = hub_resnet()
    names = pretrained.keras_hub_layer_names(hub)
    encoder = models.build_encoder("resnet18", TINY)
    assert set(names) == {layer.name for layer in encoder.layers if layer.weights}
    assert names["conv3_block1_0_conv"] == "stack1_block0_0_conv" and "conv2_block1_0_conv" not in names
    with pytest.raises(ValueError, match="use_pre_activation"):
        pretrained.encoder_from_keras_hub(hub_resnet(use_pre_activation=True), input_shape=TINY)
    with pytest.raises(ValueError, match="stackwise_num_blocks"):
        pretrained.encoder_from_keras_hub(hub_resnet(stackwise_num_blocks=[2, 1, 1, 1]), input_shape=TINY)


def test_the_saved_file_loads_into_the_encoder_and_a_full_builder(tmp_path):
    hub = hub_resnet()
    expected = pretrained.encoder_from_keras_hub(hub, input_shape=TINY)
    path = pretrained.save_encoder_weights_from_keras_hub(hub, tmp_path / "resnet18_hub.weights.h5")
    encoder = models.build_encoder("resnet18", TINY, weights=path)
    for saved, loaded in zip(expected.weights, encoder.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(loaded))
    model = models.build_selfsup(input_shape=TINY, weights=path)
    for saved, loaded in zip(expected.weights, model.get_layer("encoder").weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), keras.ops.convert_to_numpy(loaded))
    assert not list(tmp_path.glob(".*tmp*")), "the temporary file was left behind"
    pretrained.check_same_features(hub, expected)
    wrong = models.build_encoder("resnet18", TINY)  # random weights of its own
    with pytest.raises(ValueError, match="differs from keras-hub's"):
        pretrained.check_same_features(hub, wrong)
    with pytest.raises(ValueError, match="path="):
        pretrained.save_encoder_weights_from_keras_hub(hub)  # random weights never take the ImageNet name


def test_a_mapping_that_does_not_reproduce_keras_hub_is_not_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "copy_keras_hub_weights", lambda hub, encoder: encoder)  # a broken mapping
    with pytest.raises(ValueError, match="differs from keras-hub's"):
        pretrained.save_encoder_weights_from_keras_hub(hub_resnet(), tmp_path / "out" / "broken.weights.h5")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_imagenet_finds_the_cached_files_in_keras_home(offline, monkeypatch):
    for backbone, source in (("resnet50", RESNET50_IMAGENET_URL), ("resnet18", KERAS_HUB_RESNET18_PRESET)):
        with pytest.raises(FileNotFoundError) as info:
            resolve_weights(backbone, "imagenet")
        message = str(info.value)
        assert imagenet_cache_path(backbone).name in message and str(offline) in message and source in message
        assert f"python -m models.pretrained {backbone}" in message

    offline.mkdir(parents=True)
    (offline / RESNET50_IMAGENET_FILE).write_bytes(b"placeholder")
    assert resolve_weights("resnet50", "imagenet") == str(offline / RESNET50_IMAGENET_FILE)
    hub_weights = pretrained.save_encoder_weights_from_keras_hub(hub_resnet(), offline / RESNET18_IMAGENET_FILE)
    assert resolve_weights("resnet18", "imagenet") == hub_weights == str(imagenet_cache_path("resnet18"))
    model = models.build_selfsup(input_shape=TINY, tasks=("segmentation",), weights="imagenet")
    reference = models.build_encoder("resnet18", TINY, weights=hub_weights)
    for cached, loaded in zip(reference.weights, model.get_layer("encoder").weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(cached), keras.ops.convert_to_numpy(loaded))

    # A cached ResNet-18 file is used as it is: fetching it again touches neither keras-hub nor the network.
    monkeypatch.setattr(pretrained, "_keras_hub_backbone", lambda source: pytest.fail("fetched a cached file"))
    assert pretrained.fetch_imagenet("resnet18") == hub_weights


def test_resnet10_says_none_is_public_and_how_to_pass_a_file():
    for call in (lambda: resolve_weights("resnet10", "imagenet"), lambda: pretrained.fetch_imagenet("resnet10")):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "no public ImageNet ResNet-10" in message and "resnet10t" in message
        assert "--pretrained resnet10=FILE" in message and ".weights.h5" in message
    assert pretrained.main(["resnet10"]) == 1


def test_resnet50_is_fetched_as_keras_applications_fetches_it(offline, monkeypatch):
    from keras.src.applications import resnet as keras_resnet

    assert RESNET50_IMAGENET_URL == keras_resnet.BASE_WEIGHTS_PATH + RESNET50_IMAGENET_FILE
    assert RESNET50_IMAGENET_MD5 == keras_resnet.WEIGHTS_HASHES["resnet50"][1]
    calls = []

    def get_file(fname, origin, **options):
        calls.append((fname, origin, options))
        return str(offline / fname)

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    assert pretrained.fetch_imagenet("resnet50") == str(offline / RESNET50_IMAGENET_FILE)
    assert calls == [(RESNET50_IMAGENET_FILE, RESNET50_IMAGENET_URL,
                      {"cache_subdir": "models", "file_hash": RESNET50_IMAGENET_MD5,
                       "cache_dir": str(offline.parent)})]


def test_resnet50_offline_names_the_file_the_url_and_the_folder(offline, monkeypatch):
    # keras.utils.get_file itself runs; only its download is cut, as an offline machine cuts it.
    def urlretrieve(url, *args, **kwargs):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", urlretrieve)
    with pytest.raises(pretrained.PretrainedWeightsUnavailable) as info:
        pretrained.fetch_imagenet("resnet50")
    message = str(info.value)
    assert RESNET50_IMAGENET_FILE in message and RESNET50_IMAGENET_URL in message and str(offline) in message
    assert isinstance(info.value, FileNotFoundError)  # what reproduce's planning already treats as "no ImageNet"
    assert not (offline / RESNET50_IMAGENET_FILE).exists()


def test_resnet18_offline_names_the_preset_the_file_and_the_folder(offline, monkeypatch):
    import kagglehub

    def model_download(handle, *args, **kwargs):
        raise ConnectionError(f"offline (test): {handle}")

    monkeypatch.setattr(kagglehub, "model_download", model_download)
    with pytest.raises(pretrained.PretrainedWeightsUnavailable) as info:
        pretrained.fetch_imagenet("resnet18")
    message = str(info.value)
    assert KERAS_HUB_RESNET18_PRESET in message and RESNET18_IMAGENET_FILE in message and str(offline) in message
    assert "python -m models.pretrained resnet18" in message
    assert not (offline / RESNET18_IMAGENET_FILE).exists()


def test_resnet18_without_keras_hub_says_what_to_install(offline, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "keras_hub", None)  # import keras_hub now raises ImportError
    with pytest.raises(pretrained.PretrainedWeightsUnavailable) as info:
        pretrained.fetch_imagenet("resnet18")
    message = str(info.value)
    assert f"pip install {pretrained.KERAS_HUB_REQUIREMENT}" in message and RESNET18_IMAGENET_FILE in message
    assert str(offline) in message


def test_a_local_preset_folder_goes_through_from_preset_offline(tmp_path):
    # What a user without network does with a preset folder downloaded elsewhere: the same loader as the preset
    # name, minus the download.
    hub = hub_resnet()
    hub.save_to_preset(str(tmp_path / "preset"))
    path = pretrained.save_encoder_weights_from_keras_hub(tmp_path / "preset", tmp_path / "resnet18.weights.h5")
    encoder = models.build_encoder("resnet18", TINY, weights=path)
    raw = images()
    assert_same_features({k: keras.ops.convert_to_numpy(v) for k, v in encoder(raw).items()}, hub_features(hub, raw))
