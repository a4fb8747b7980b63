"""Does stochastic weight averaging (SWA) help trained members? Measured on the validation split only.

    python bench/experiments/swa.py --data-dir ../shared/data/mnist --out /tmp/swa RUN/member-{1..5}/model.keras

SWA (Izmailov et al., 2018) keeps training a finished network at a constant learning rate,
so that it wanders around the bottom of the loss valley, and averages the weights it visits;
the average tends to sit nearer the valley's centre, where it generalises better. This script
continues each given member (trained by `digits train --preset best`, on the 55,000 images
the validation split leaves) for ``--epochs`` epochs at learning rate ``--lr`` with `best`'s
optimizer, loss and augmentation, averages the weights at the end of every epoch, and then
recomputes the batch-norm statistics for the averaged weights with one pass over the augmented
training images (the average was never trained with them).

It reports validation errors (5,000 images, never the test set) before, after the extra
epochs without averaging (the control: the extra training alone), and with averaging, for
each member and for the members' average, and saves the averaged members and their
ensemble under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def recompute_batch_norm(model, dataset) -> None:
    """Set every batch-norm layer's moving statistics to their mean over one pass of ``dataset``.

    A momentum of (i - 1) / i at the i-th batch turns Keras' running average into a plain one.
    """
    import keras

    # Keras has no public walk over nested layers; _flatten_layers also finds those inside an ensemble's members.
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    kept = [layer.momentum for layer in norms]
    try:
        for i, (images, _) in enumerate(dataset, start=1):
            for layer in norms:
                layer.momentum = (i - 1) / i
            model(images, training=True)
    finally:
        for layer, momentum in zip(norms, kept, strict=True):
            layer.momentum = momentum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True, help="folder for the averaged members and their ensemble")
    parser.add_argument("--epochs", type=int, default=5, help="extra epochs, one weight snapshot after each")
    parser.add_argument("--lr", type=float, default=2e-4, help="the constant learning rate of the extra epochs")
    parser.add_argument("--seed", type=int, default=100, help="seed of the extra epochs, plus the member's index")
    parser.add_argument("members", nargs="+", help="trained members (.keras)")
    args = parser.parse_args()

    import keras

    from digits import data
    from digits.evaluate import predict_proba
    from digits.fsutil import atomic_path, ensure_dir
    from digits.model import ensemble, load_model
    from digits.train import PRESETS, make_dataset

    warnings.filterwarnings("ignore", message=".*shuffle.*")
    preset = PRESETS["best"]  # its split, batch size, augmentation, weight decay and label smoothing
    mnist = data.load_mnist(args.data_dir)
    x_train, y_train, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, preset.val_size)
    out = ensure_dir(args.out)

    def errors(p: np.ndarray) -> int:
        return int((p.argmax(axis=1) != y_val).sum())

    before, control, averaged, paths = [], [], [], []
    for index, path in enumerate(args.members):
        seed = args.seed + index
        keras.utils.set_random_seed(seed)
        model = load_model(path)
        before.append(predict_proba(model, x_val))
        # `best`'s optimizer, regulariser and loss, at a constant rate.
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=args.lr, weight_decay=preset.weight_decay),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=preset.label_smoothing),
        )
        train_ds = make_dataset(x_train, y_train, preset.batch_size, shuffle_seed=seed, augment=preset.augment)
        weights = model.trainable_weights
        total = [np.zeros(w.shape, np.float64) for w in weights]
        start = time.perf_counter()
        for _ in range(args.epochs):
            model.fit(train_ds, epochs=1, verbose=0)
            for t, w in zip(total, weights, strict=True):
                t += keras.ops.convert_to_numpy(w)
        control.append(predict_proba(model, x_val))
        for t, w in zip(total, weights, strict=True):
            w.assign((t / args.epochs).astype(np.float32))
        recompute_batch_norm(model, make_dataset(x_train, y_train, 500, shuffle_seed=seed, augment=preset.augment))
        seconds = time.perf_counter() - start
        averaged.append(predict_proba(model, x_val))
        paths.append(out / f"swa-{index + 1}.keras")
        with atomic_path(paths[-1]) as tmp:
            model.save(tmp)
        print(
            f"{path}: {errors(before[-1])} before, {errors(control[-1])} after {args.epochs} more epochs, "
            f"{errors(averaged[-1])} averaged ({seconds:.0f} s)",
            flush=True,
        )

    combined = ensemble([load_model(p) for p in paths])
    with atomic_path(out / "ensemble.keras") as tmp:
        combined.save(tmp)
    print(f"validation errors out of {len(y_val):,}, lr {args.lr:g}, {args.epochs} epochs averaged")
    for name, probs in (("before", before), ("control", control), ("averaged", averaged)):
        each = [errors(p) for p in probs]
        mean = errors(np.mean(probs, axis=0))
        print(f"{name}: members {', '.join(map(str, each))} (mean {np.mean(each):.1f}); their average {mean}")
    print(f"saved {', '.join(str(p) for p in paths)} and {out / 'ensemble.keras'}")


if __name__ == "__main__":
    main()
