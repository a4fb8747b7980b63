"""Why the training pipeline turns tf.data's autotuner off: epoch times with and without it.

    python bench/experiments/epoch_stalls.py --data-dir ../shared/data/mnist [--archs small,reference] [--epochs 5]

With autotuning on, tearing down a ``tf.data`` iterator waits for the autotuner's background
thread, which sleeps in ever-longer intervals. Keras makes a new iterator every epoch, so
on this CPU the first step of some epochs stalled for seconds, and ``fit`` itself returned
long after the last epoch. This trains each network on the real training pipeline both
ways and prints each epoch's seconds, the slowest first step of an epoch, and the time
``fit`` took to return after its last epoch.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--archs", default="small,reference")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from digits import data
    from digits.model import build_model
    from digits.train import make_dataset

    mnist = data.load_mnist(args.data_dir)
    x, y, _, _ = data.split_validation(mnist.x_train, mnist.y_train, 5000)

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[float] = []
            self.first: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.ticks = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.ticks.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(self.ticks[-1] - self.ticks[0])
            self.first.append(self.ticks[1] - self.ticks[0])
            self.last_end = time.perf_counter()

    print(f"{'arch':<10} {'autotune':<9} {'epoch seconds':<40} {'slowest 1st step':>16} {'fit returns after':>17}")
    for arch in args.archs.split(","):
        for autotune in (True, False):
            keras.utils.set_random_seed(0)
            ds = make_dataset(x, y, args.batch_size, shuffle_seed=0)
            if autotune:
                options = tf.data.Options()
                options.autotune.enabled = True
                ds = ds.with_options(options)
            model = build_model(arch)
            model.compile("adam", "categorical_crossentropy")
            timer = Timer()
            model.fit(ds, epochs=args.epochs, verbose=0, callbacks=[timer], shuffle=False)
            tail = time.perf_counter() - timer.last_end
            times = " ".join(f"{t:5.2f}" for t in timer.epochs)
            stall = max(timer.first[1:])
            label = "on" if autotune else "off"
            print(f"{arch:<10} {label:<9} {times:<40} {stall:>15.2f}s {tail:>16.2f}s", flush=True)


if __name__ == "__main__":
    main()
