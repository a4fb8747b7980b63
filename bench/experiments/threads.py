"""TensorFlow thread settings against training speed, each in a fresh process.

    python bench/experiments/threads.py --data-dir ../shared/data/mnist --preset fast

Thread pools can only be sized before TensorFlow starts, so every setting runs in its own
process: it builds the preset's network and pipeline exactly as `digits train` does, trains
one epoch as a warm-up, then times a second one. "default" leaves TensorFlow to choose (one
intra-op thread per core).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SETTINGS = {
    "default": (0, 0),
    "intra 2, inter 1": (2, 1),
    "intra 2, inter 2": (2, 2),
    "intra 1, inter 1": (1, 1),
    "intra 1, inter 2": (1, 2),
}


def child(data_dir: str, preset_name: str, intra: int, inter: int) -> None:
    """Time one epoch of the preset under the given thread counts; print JSON."""
    import math
    import time

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras

    from digits import data
    from digits.model import build_model
    from digits.train import PRESETS, _compile, make_dataset, native_bf16

    preset = PRESETS[preset_name]
    mnist = data.load_mnist(data_dir)
    x, y, _, _ = data.split_validation(mnist.x_train, mnist.y_train, preset.val_size)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if preset.bf16 and native_bf16() else "float32")
    model = build_model(preset.arch)
    _compile(model, preset, math.ceil(len(x) / preset.batch_size))
    ds = make_dataset(x, y, preset.batch_size, shuffle_seed=0, augment=preset.augment)
    model.fit(ds, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    print(json.dumps({"epoch_seconds": time.perf_counter() - start, "images": len(x)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.data_dir, args.preset, *args.child)
        return

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    print(f"preset {args.preset}: seconds for one epoch after a warm-up epoch ({os.cpu_count()} cores)")
    for name, (intra, inter) in SETTINGS.items():
        cmd = [sys.executable, __file__, "--data-dir", args.data_dir, "--preset", args.preset]
        cmd += ["--child", str(intra), str(inter)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{name}: failed: {proc.stderr.strip().splitlines()[-1:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = result["images"] / result["epoch_seconds"]
        print(f"{name:18} {result['epoch_seconds']:6.2f} s  {rate:8,.0f} images/s", flush=True)


if __name__ == "__main__":
    main()
