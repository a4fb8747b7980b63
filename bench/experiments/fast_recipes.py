"""How the `fast` recipe was chosen: validation accuracy against training seconds, never the test set.

    python bench/experiments/fast_recipes.py --data-dir ../shared/data/mnist --seeds 0,1,2,3,4

Trains each variant below with each seed, in this one process, on the same 55,000/5,000 split
that `digits train` uses, and prints the validation accuracy after every epoch with the
training seconds so far (validation included). The variants are the current `fast` preset and
the levers it was chosen over: the earlier recipe (dropout 0.4, three epochs at 8e-3, no label
smoothing), dropout put back, a third epoch, and batch 128.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def with_dropout(rate: float):
    """The `small` network with dropout before its softmax, as the earlier `fast` had."""
    import keras

    from digits.model import build_model

    base = build_model("small")
    x = keras.layers.Dropout(rate, name="dropout")(base.get_layer("flatten").output)
    outputs = keras.layers.Dense(10, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(base.input, outputs, name="small_dropout")


def train_once(preset, build, seed: int, policy: str, train: tuple, val_ds) -> list[tuple[float, float]]:
    """One run: (validation accuracy %, training seconds so far) after each epoch."""
    import keras

    from digits.train import _compile, make_dataset

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(seed)
    model = build()
    keras.mixed_precision.set_global_policy("float32")
    x_train, y_train = train
    _compile(model, preset, math.ceil(len(x_train) / preset.batch_size))
    train_ds = make_dataset(x_train, y_train, preset.batch_size, shuffle_seed=seed)
    points: list[tuple[float, float]] = []
    start = time.perf_counter()

    class Log(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs=None) -> None:
            points.append((logs["val_accuracy"] * 100, time.perf_counter() - start))

    model.fit(train_ds, epochs=preset.epochs, validation_data=val_ds, verbose=0, callbacks=[Log()])
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    from digits import data
    from digits.model import build_model
    from digits.train import PRESETS, make_dataset, native_bf16

    warnings.filterwarnings("ignore", message=".*shuffle.*")
    fast = PRESETS["fast"]
    earlier = replace(fast, epochs=3, lr=8e-3, label_smoothing=0.0)
    variants = {
        "fast (2 epochs, no dropout, 1e-2, label smoothing 0.1)": (fast, lambda: build_model("small")),
        "earlier fast (3 epochs, dropout 0.4, 8e-3, no smoothing)": (earlier, lambda: with_dropout(0.4)),
        "fast + dropout 0.4": (fast, lambda: with_dropout(0.4)),
        "fast, 3 epochs": (replace(fast, epochs=3), lambda: build_model("small")),
        "fast at batch 128, 6e-3": (replace(fast, batch_size=128, lr=6e-3), lambda: build_model("small")),
    }
    mnist = data.load_mnist(args.data_dir)
    x_train, y_train, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, fast.val_size)
    val_ds = make_dataset(x_val, y_val, 1024)
    policy = "mixed_bfloat16" if native_bf16() else "float32"
    print(f"precision {policy}; validation accuracy % after each epoch @ training seconds; seeds {seeds}")

    for name, (preset, build) in variants.items():
        finals, seconds = [], []
        for seed in seeds:
            points = train_once(preset, build, seed, policy, (x_train, y_train), val_ds)
            finals.append(points[-1][0])
            seconds.append(points[-1][1])
            shown = ", ".join(f"{acc:.2f} @ {secs:.1f}s" for acc, secs in points)
            print(f"  {name} seed {seed}: {shown}", flush=True)
        print(
            f"{name}: final {statistics.mean(finals):.2f} % ({min(finals):.2f}–{max(finals):.2f}) "
            f"in {statistics.mean(seconds):.1f} s ({min(seconds):.1f}–{max(seconds):.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
