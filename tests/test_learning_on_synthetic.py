"""End to end: synthetic KITTI tree -> kitti reader -> tf.data -> SegNet -> segmentation scores.

A SegNet-shaped network (FCN8 on a ResNet-10 encoder, to keep CPU time small) trained for a few epochs on a
handful of synthetic scenes must beat the best constant prediction (the majority class) clearly on held-out scenes.
"""
import numpy as np
import keras

import data
import models
from metrics import segmentation_scores

SIZE = (96, 320)


def test_segnet_trained_briefly_on_synthetic_scenes_beats_chance(tmp_path):
    keras.utils.set_random_seed(0)
    common = dict(layout="kitti", num=24, seed=3, cache_dir=str(tmp_path), val_fraction=0.25, image_size=SIZE)
    train = data.load("synthetic", None, "train", ["segmentation"], batch_size=3, shuffle=True, **common)
    val = data.load("synthetic", None, "val", ["segmentation"], batch_size=6, **common)
    model = models.build_segnet(19, input_shape=SIZE + (3,), backbone="resnet10")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting="equal")
    model.fit(train, epochs=12, verbose=0)

    labels = np.concatenate([y["segmentation"].numpy() for _, y in val])
    predictions = np.concatenate([model.predict_on_batch(x)["segmentation"].argmax(-1) for x, _ in val])
    valid = labels != 255
    majority = np.bincount(labels[valid], minlength=19).argmax()
    constant = segmentation_scores(labels, np.full_like(labels, majority), 19)
    learned = segmentation_scores(labels, predictions, 19)
    assert learned["pixel_accuracy"] > constant["pixel_accuracy"] + 0.15
    assert learned["miou"] > 2 * constant["miou"]
