"""Task decoders that read an encoder's named pyramid levels.

FCN8 (Long et al.), as the papers' parameter counts fix it: a 1x1 score convolution with bias on each of P3, P4,
P5; Conv2DTranspose C->C with kernel 4 / stride 2 (P5->P4 and P4->P3) and kernel 16 / stride 8 (P3->input), with
bias; skip additions. The output layer is named after the task so the model's output dict is keyed by task.

Taps: P3, P4, P5 are the outputs of ResNet-50's stages 3, 4 and 5 (conv3_block4_out, conv4_block6_out,
conv5_block3_out), FCN8's pool3 / pool4 / pool5. MultiNet++ names its taps "ReLU at layers 23, 39 and 46", which we
could not reconcile with any counting: the papers' parameter counts fix the taps' widths at 512, 1024 and 2048
channels (a score layer on them has 3,584 C + 3 C weights), which only stage outputs have (a bottleneck's inner
ReLUs have a quarter of them), and counting Keras 2's ResNet-50 activations from 0, layer 39 is conv4_block6_out
but 23 and 46 are inner ReLUs (conv4_block1_2_relu, 256 channels; conv5_block3_1_relu, 512); from 1 none fits.

U-Net (Ronneberger et al., as Novosel et al. 4.1): from P5 up to full resolution; at each level the upsampled
decoder features are concatenated with the encoder output of that level; every convolution is followed by batch
norm and ReLU except the last, which has the task's activation.
"""
from keras import layers

from models.batch_norm import BatchNormalization

FCN8_LEVELS = ("P3", "P4", "P5")
UNET_FILTERS = (256, 128, 64, 32, 16)


def fcn8_decoder(pyramid, channels, activation, name):
    """FCN8 on pyramid["P3"], ["P4"], ["P5"] -> (B, H, W, channels) after `activation`, layer named `name`.

    The whole decoder computes in float32 under a mixed-precision policy: its layers have only `channels` outputs
    (2 for motion from 4096 concatenated channels), which is where low precision costs accuracy and where bfloat16
    training crashed (heap corruption in the oneDNN 1x1 convolution to 2 channels); the usual mixed-precision practice
    of keeping the small final layers in float32. Under a float32 policy nothing changes.
    """
    exact = {"dtype": "float32"}
    score = {level: layers.Conv2D(channels, 1, name=f"{name}_score_{level.lower()}", **exact)(pyramid[level])
             for level in FCN8_LEVELS}
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name=f"{name}_up_p5", **exact)(score["P5"])
    x = layers.Add(name=f"{name}_fuse_p4", **exact)([x, score["P4"]])
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name=f"{name}_up_p4", **exact)(x)
    x = layers.Add(name=f"{name}_fuse_p3", **exact)([x, score["P3"]])
    x = layers.Conv2DTranspose(channels, 16, strides=8, padding="same", name=f"{name}_up_p3", **exact)(x)
    return layers.Activation(activation, name=name, **exact)(x)


def unet_decoder(pyramid, channels, activation, name, filters=UNET_FILTERS):
    """U-Net from P5 through P4..P1 to the input resolution (5 upsamplings by 2)."""
    if len(filters) != 5:
        raise ValueError(f"unet filters must give 5 widths (P4, P3, P2, P1, input), got {filters!r}.")
    x = pyramid["P5"]
    skips = ("P4", "P3", "P2", "P1", None)
    for width, skip in zip(filters, skips):
        tag = skip.lower() if skip else "full"
        x = layers.UpSampling2D(2, name=f"{name}_up_{tag}")(x)
        if skip is not None:
            x = layers.Concatenate(name=f"{name}_concat_{tag}")([x, pyramid[skip]])
        for index in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_{tag}_conv{index}")(x)
            x = BatchNormalization(name=f"{name}_{tag}_bn{index}")(x)
            x = layers.Activation("relu", name=f"{name}_{tag}_relu{index}")(x)
    x = layers.Conv2D(channels, 3, padding="same", name=f"{name}_logits", dtype="float32")(x)  # as FCN8's scores
    return layers.Activation(activation, name=name, dtype="float32")(x)
