"""Would a differently made member help an ensemble? Measured on the validation split only.

    python bench/experiments/diverse_member.py --data-dir ../shared/data/mnist --member strided RUN/member-*/model.keras

Trains one candidate member with the `default` recipe (12 epochs, its augmentation), or with
`best`'s (``--recipe best``: 20 epochs; ``medium``, ``elastic`` and ``deskew`` then use its
``large`` network), keeps its last epoch (``--save`` writes it out), then reports on the
5,000 validation images that every run holds out: the candidate's errors, how many of the
images that all the given members get wrong it gets right, and the errors of the members'
average with it added. Candidates (``--member``):

- ``strided``: a network unlike our presets' (no pooling: strided 5×5 convolutions, stages of
  32, 64 and 128 filters with batch norm and dropout 0.4); about 9 minutes on 2 cores;
- ``elastic``: the `default` preset's `medium` network, trained with elastic distortion
  (a smoothed random displacement field, Simard et al. 2003) on top of the usual affine
  augmentation; about 4 minutes;
- ``elastic-once``: the same field folded into the affine warp, so each image is resampled
  once rather than twice (``elastic`` interpolates the already-warped image a second time);
- ``medium``: the same without elastic distortion, the control for all three;
- ``deskew``: ``medium`` trained and validated on deskewed images (each image sheared so that
  its ink has no slant: the second-moment deskewing of LeCun et al. 1998), a different view of
  the same digits, as the multi-column networks of Ciresan et al. 2012 used width-normalised ones;
- ``deep``: ten unpadded 3×3 convolutions widening from 32 to 176 filters, with batch norm
  and no pooling at all (28×28 shrinks to 8×8), then a softmax: a network much deeper and
  about eight times `large`'s multiply-adds per image; about 35 minutes on 2 cores.

``--alpha`` and ``--sigma`` set the field's strength and smoothness.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def strided():
    """A pooling-free CNN: downsampling by strided 5×5 convolutions."""
    import keras
    from keras import layers

    from digits.model import BN_MOMENTUM

    def unit(x, filters: int, kernel: int, strides: int = 1, padding: str = "same"):
        x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        return layers.ReLU()(x)

    inputs = keras.Input((28, 28, 1))
    x = inputs
    for filters in (32, 64):
        x = unit(x, filters, 3)
        x = unit(x, filters, 3)
        x = unit(x, filters, 5, strides=2)
        x = layers.Dropout(0.4)(x)
    x = unit(x, 128, 4, padding="valid")
    x = layers.Dropout(0.4)(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="strided")


def deep():
    """A pooling-free stack of ten unpadded 3×3 convolutions (32, 48, ... 176 filters)."""
    import keras
    from keras import layers

    from digits.model import BN_MOMENTUM

    inputs = keras.Input((28, 28, 1))
    x = inputs
    for filters in range(32, 177, 16):
        x = layers.Conv2D(filters, 3, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.ReLU()(x)
    x = layers.Dropout(0.4)(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="deep")


def displacement_field(n, size: int, seed, alpha: float, sigma: float):
    """A random displacement per pixel, Gaussian-smoothed: shape (n, size, size, [rows, cols])."""
    import tensorflow as tf

    field = tf.random.stateless_uniform([n, size, size, 2], seed, -1.0, 1.0)
    radius = int(2 * sigma)
    taps = tf.exp(-(tf.range(-radius, radius + 1, dtype=tf.float32) ** 2) / (2 * sigma**2))
    taps /= tf.reduce_sum(taps)
    kernel = tf.tile(taps[:, None, None, None], [1, 1, 2, 1])  # separable: rows, then columns
    field = tf.nn.depthwise_conv2d(field, kernel, [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(field, tf.transpose(kernel, [1, 0, 2, 3]), [1, 1, 1, 1], "SAME") * alpha


def elastic_distortion(images, seed, alpha: float = 34.0, sigma: float = 4.0):
    """Move every pixel by a random, Gaussian-smoothed displacement field (bilinear resampling)."""
    import tensorflow as tf

    n, size = tf.shape(images)[0], images.shape[1]
    field = displacement_field(n, size, seed, alpha, sigma)
    grid = tf.cast(tf.stack(tf.meshgrid(tf.range(size), tf.range(size), indexing="ij"), axis=-1), tf.float32)
    where = tf.clip_by_value(grid[None] + field, 0.0, size - 1.0)  # (n, y, x, [row, col])
    low = tf.floor(where)
    frac = where - low
    low = tf.cast(low, tf.int32)
    high = tf.minimum(low + 1, size - 1)
    batch = tf.broadcast_to(tf.range(n)[:, None, None], tf.shape(low)[:3])

    def pixel(rows, cols):
        return tf.gather_nd(images[..., 0], tf.stack([batch, rows, cols], axis=-1))

    fy, fx = frac[..., 0], frac[..., 1]
    top = pixel(low[..., 0], low[..., 1]) * (1 - fx) + pixel(low[..., 0], high[..., 1]) * fx
    bottom = pixel(high[..., 0], low[..., 1]) * (1 - fx) + pixel(high[..., 0], high[..., 1]) * fx
    return (top * (1 - fy) + bottom * fy)[..., None]


def affine_elastic_once(images, seed, alpha: float, sigma: float):
    """The training augmentation with an elastic field folded into its affine warp.

    Each output pixel is displaced by the field, then mapped through the same random affine
    warp as training's, and the source image is sampled there once (bilinear, zeros outside),
    so the strokes are interpolated once, as in training without the field. Then the usual
    pen-width change.
    """
    import tensorflow as tf

    from digits.train import Augment, _affine_transforms, _batch_uniform, _pen_width

    aug = Augment()
    n, size = tf.shape(images)[0], images.shape[1]
    keys = tf.random.experimental.stateless_split(seed, num=2)
    uni = _batch_uniform(n, keys[0], num=10)
    t = _affine_transforms(aug, uni)
    grid = tf.cast(tf.stack(tf.meshgrid(tf.range(size), tf.range(size), indexing="ij"), axis=-1), tf.float32)
    moved = grid[None] + displacement_field(n, size, keys[1], alpha, sigma)
    y, x = moved[..., 0], moved[..., 1]

    def coef(i: int):
        return t[:, i, None, None]

    src_x = coef(0) * x + coef(1) * y + coef(2)
    src_y = coef(3) * x + coef(4) * y + coef(5)
    # Pad by one zero pixel so that samples off the image fade to the background.
    padded = tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]])
    src_y = tf.clip_by_value(src_y + 1.0, 0.0, size + 1.0)
    src_x = tf.clip_by_value(src_x + 1.0, 0.0, size + 1.0)
    low_y, low_x = tf.floor(src_y), tf.floor(src_x)
    fy, fx = src_y - low_y, src_x - low_x
    low_y, low_x = tf.cast(low_y, tf.int32), tf.cast(low_x, tf.int32)
    high_y, high_x = tf.minimum(low_y + 1, size + 1), tf.minimum(low_x + 1, size + 1)
    batch = tf.broadcast_to(tf.range(n)[:, None, None], tf.shape(low_y))

    def pixel(rows, cols):
        return tf.gather_nd(padded, tf.stack([batch, rows, cols], axis=-1))

    top = pixel(low_y, low_x) * (1 - fx) + pixel(low_y, high_x) * fx
    bottom = pixel(high_y, low_x) * (1 - fx) + pixel(high_y, high_x) * fx
    return _pen_width((top * (1 - fy) + bottom * fy)[..., None], aug, uni)


def deskew(images: np.ndarray) -> np.ndarray:
    """Each image sheared horizontally about its centre of ink so that the ink's slant is zero."""
    from scipy import ndimage

    rows, cols = np.mgrid[: images.shape[1], : images.shape[2]].astype(np.float64)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        ink = image.astype(np.float64)
        total = ink.sum()
        if total == 0:
            out[i] = image
            continue
        cy, cx = (ink * rows).sum() / total, (ink * cols).sum() / total
        slant = (ink * (rows - cy) * (cols - cx)).sum() / (ink * (rows - cy) ** 2).sum()
        # Output (r, c) samples the input at (r, c + slant * (r - cy)).
        matrix = np.array([[1.0, 0.0], [slant, 1.0]])
        warped = ndimage.affine_transform(ink, matrix, offset=(0.0, -slant * cy), order=1, cval=0.0)
        out[i] = np.clip(np.rint(warped), 0, 255).astype(images.dtype)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--recipe", choices=["default", "best"], default="default", help="preset to train with")
    parser.add_argument("--epochs", type=int, help="default: the recipe's (12 for default, 20 for best)")
    parser.add_argument("--seed", type=int, default=0)
    candidates = ["strided", "deep", "elastic", "elastic-once", "medium", "deskew"]
    parser.add_argument("--member", choices=candidates, default="strided")
    parser.add_argument("--alpha", type=float, default=34.0, help="elastic: displacement scale (pixels)")
    parser.add_argument("--sigma", type=float, default=4.0, help="elastic: smoothing of the field (pixels)")
    parser.add_argument("--save", metavar="PATH", help="save the trained candidate here (.keras)")
    parser.add_argument("members", nargs="+", help="the ensemble's members (.keras)")
    args = parser.parse_args()

    import keras

    from digits import data
    from digits.evaluate import predict_proba
    from digits.model import build_model, load_model
    from digits.train import PRESETS, _compile, make_dataset

    warnings.filterwarnings("ignore", message=".*shuffle.*")
    preset = PRESETS[args.recipe]
    if args.epochs is not None:
        preset = replace(preset, epochs=args.epochs)
    mnist = data.load_mnist(args.data_dir)
    x_train, y_train, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, preset.val_size)
    members = np.array([predict_proba(load_model(path), x_val) for path in args.members])
    all_wrong = np.all(members.argmax(axis=2) != y_val, axis=0)
    if args.member == "deskew":  # after the members' predictions: they see the images as they are
        x_train, x_val = deskew(x_train), deskew(x_val)

    keras.utils.set_random_seed(args.seed)
    model = {"strided": strided, "deep": deep}.get(args.member, lambda: build_model(preset.arch))()
    _compile(model, preset, math.ceil(len(x_train) / preset.batch_size))
    train_ds = make_dataset(x_train, y_train, preset.batch_size, shuffle_seed=args.seed, augment=preset.augment)
    if args.member == "elastic":
        import tensorflow as tf

        keys = tf.data.Dataset.random(seed=args.seed + 2, rerandomize_each_iteration=True).batch(2)
        train_ds = tf.data.Dataset.zip(train_ds, keys).map(
            lambda batch, key: (elastic_distortion(batch[0], key, args.alpha, args.sigma), batch[1]),
            num_parallel_calls=2,
        )
    elif args.member == "elastic-once":
        # The same pipeline without its augmentation; the warp with the field replaces it.
        import tensorflow as tf

        plain = make_dataset(x_train, y_train, preset.batch_size, shuffle_seed=args.seed, augment=None)
        keys = tf.data.Dataset.random(seed=args.seed + 2, rerandomize_each_iteration=True).batch(2)
        train_ds = (
            tf.data.Dataset.zip(plain, keys)
            .map(
                lambda batch, key: (affine_elastic_once(batch[0], key, args.alpha, args.sigma), batch[1]),
                num_parallel_calls=2,
            )
            .prefetch(2)
        )
    start = time.perf_counter()
    model.fit(train_ds, epochs=preset.epochs, verbose=2)
    seconds = time.perf_counter() - start
    if args.save:
        from digits.fsutil import atomic_path

        with atomic_path(args.save) as tmp:
            model.save(tmp)
    probs = predict_proba(model, x_val)
    wrong = probs.argmax(axis=1) != y_val

    def errors(p: np.ndarray) -> int:
        return int((p.argmax(axis=1) != y_val).sum())

    name = args.member
    print(f"validation errors out of {len(y_val):,}")
    print(f"members: {', '.join(str(errors(p)) for p in members)}; their average: {errors(members.mean(axis=0))}")
    print(f"{name} ({model.count_params():,} parameters, {preset.epochs} epochs, {seconds:.0f} s): {int(wrong.sum())}")
    print(
        f"images every member gets wrong: {int(all_wrong.sum())}; of those, {name} gets right: "
        f"{int((all_wrong & ~wrong).sum())}"
    )
    print(f"average of the members and {name}: {errors((members.sum(axis=0) + probs) / (len(members) + 1))}")


if __name__ == "__main__":
    main()
