"""The training-step profile that the README's speed section quotes."""
import pytest

from benchmarks import profile_step


def test_keras_profile_attributes_kernel_time_to_convolutions_batch_norm_and_the_optimizer():
    result = profile_step.profile_keras("segnet", steps=1, warmup=1, inter_op_threads=0, image_size=(64, 96))
    categories = {name: value["ms"] for name, value in result["categories"].items()}
    assert set(categories) == set(profile_step.CATEGORIES)
    for name in ("convolution forward", "convolution backward", "batch norm", "optimizer"):
        assert categories[name] > 0, name
    assert sum(categories.values()) == pytest.approx(result["kernel_ms_per_step"], abs=0.5)
    kernels = [kernel["kernel"] for kernel in result["top_kernels"]]
    assert any("FusedBatchNorm" in kernel for kernel in kernels), kernels  # the fused kernel, not 20 small ones
    assert "\n| batch norm | " in profile_step.table([result])


def test_kernels_are_attributed_through_their_layer_and_the_optimizer_scope():
    import keras

    classes = {"conv1_conv": keras.layers.Conv2D, "conv1_bn": keras.layers.BatchNormalization,
               "encoder": keras.Model, "segmentation_up_p3": keras.layers.Conv2DTranspose}
    category = profile_step._keras_category
    assert category("segnet_1/encoder_1/conv1_bn_1/moments/Mean", "Mean", classes, "adam") == "batch norm"
    assert category("gradient_tape/segnet_1/encoder_1/conv1_conv_1/convolution/Conv2DBackpropFilter",
                    "_MklNativeConv2DBackpropFilterWithBias", classes, "adam") == "convolution backward"
    assert category("segnet_1/segmentation_up_p3_1/conv_transpose", "_MklNativeConv2DBackpropInput", classes,
                    "adam") == "convolution forward"
    assert category("adam/Sub_12", "Sub", classes, "adam") == "optimizer"
    assert category("masked_cross_entropy/Mean", "Mean", classes, "adam") == "other"


def test_without_pytorch_the_comparison_says_how_to_install_it(monkeypatch, capsys):
    from benchmarks import torch_reference

    monkeypatch.setattr(torch_reference, "torch", None)
    with pytest.raises(SystemExit) as exit_info:
        profile_step.main(["--model", "segnet", "--framework", "both"])
    assert exit_info.value.code == 2
    assert "pip install torch" in capsys.readouterr().err
