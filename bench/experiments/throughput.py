"""Training throughput (images/s) of each architecture: float32, XLA `jit_compile`, bfloat16.

    python bench/experiments/throughput.py [--images 25600] [--batch-size 128] [--archs reference,small]

One of the levers the training presets were chosen with: it measures raw speed on random
data (accuracy is not the point here), after one warm-up pass. "bf16" is Keras' mixed
precision (``mixed_bfloat16``: bfloat16 compute, float32 weights); it only pays on CPUs
with native bfloat16 (AVX512-BF16 or AMX), which the script reports.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=25600)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--archs", default="reference,small,medium,large")
    args = parser.parse_args()

    import keras
    import numpy as np

    from digits.model import build_model
    from digits.train import make_dataset

    # Random images through the real training pipeline (Keras' own NumPy adapter runs
    # tf.data with the autotuner on, whose stalls made short timings swing by 2x).
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, args.images)
    data = make_dataset(x, y, args.batch_size, shuffle_seed=0)
    warm = make_dataset(x[: args.batch_size * 8], y[: args.batch_size * 8], args.batch_size)
    from digits.train import native_bf16

    print(f"native bfloat16 on this CPU: {native_bf16()}")
    print(f"{'arch':<10} {'params':>9} {'mode':>6} {'train img/s':>12}")
    for arch in args.archs.split(","):
        for mode in ("fp32", "jit", "bf16"):
            keras.mixed_precision.set_global_policy("mixed_bfloat16" if mode == "bf16" else "float32")
            model = build_model(arch)
            keras.mixed_precision.set_global_policy("float32")
            model.compile("adam", "categorical_crossentropy", jit_compile=mode == "jit")
            model.fit(warm, verbose=0)
            start = time.perf_counter()
            model.fit(data, verbose=0)
            rate = args.images / (time.perf_counter() - start)
            print(f"{arch:<10} {model.count_params():>9,} {mode:>6} {rate:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
