"""Training throughput (images/s) of each architecture, with and without XLA `jit_compile`.

    python bench/throughput.py [--images 6400] [--batch-size 128]

One of the levers the training presets were chosen with: it measures raw speed on random
data (accuracy is not the point here), after one warm-up pass.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6400)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--archs", default="reference,small,medium,large")
    args = parser.parse_args()

    import keras
    import numpy as np

    from digits.model import build_model

    rng = np.random.default_rng(0)
    x = rng.random((args.images, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, args.images), 10)
    print(f"{'arch':<10} {'params':>9} {'jit':>5} {'train img/s':>12}")
    for arch in args.archs.split(","):
        for jit in (False, True):
            model = build_model(arch)
            model.compile("adam", "categorical_crossentropy", jit_compile=jit)
            model.fit(x[: args.batch_size * 4], y[: args.batch_size * 4], batch_size=args.batch_size, verbose=0)
            start = time.perf_counter()
            model.fit(x, y, batch_size=args.batch_size, verbose=0)
            rate = args.images / (time.perf_counter() - start)
            print(f"{arch:<10} {model.count_params():>9,} {jit!s:>5} {rate:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
