"""How long `digits read` takes on a 12-megapixel phone photo and on a 640×480 webcam frame.

    python bench/read_speed.py --data-dir ../shared/data/mnist [--runs 5]

The photo is a composed scene (``digits.synthetic.render_scene``, MNIST test digits) scaled up to
4000×3000 and saved as a JPEG (quality 90), like a phone's; the whole ``digits read`` process is
timed, start-up included (median of ``--runs``). The webcam frame is a 640×480 JPEG of a scene,
read by a running ``Reader`` (median of 20 after a warm-up). Goals: at most 1.5 s and 150 ms on
2 cores. Writes bench/out/read_speed.json.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--runs", type=int, default=5, help="whole-process runs on the photo (default 5)")
    parser.add_argument("--out", default="bench/out/read_speed.json", help="JSON results file")
    args = parser.parse_args()

    from PIL import Image

    from digits.data import load_mnist
    from digits.fsutil import write_json
    from digits.preprocess import load_image
    from digits.reading import Reader
    from digits.synthetic import render_scene

    mnist = load_mnist(args.data_dir)
    rng = np.random.default_rng(5)
    scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=("shadow", "texture"), rows=1, n_digits=6)
    results: dict = {"command": "python " + shlex.join(sys.argv), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        scene.image.resize((4000, 3000), Image.Resampling.BICUBIC).save(photo, quality=90)
        frame = Path(tmp) / "frame.jpg"
        scene.image.resize((640, 480), Image.Resampling.LANCZOS).save(frame, quality=85)
        times = []
        text = ""
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "digits", "read", str(photo)], capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            text = done.stdout.strip() or done.stderr.strip()
        results["photo_12mp"] = {"seconds_median": float(np.median(times)), "seconds": times, "output": text}
        reader = Reader()
        data = frame.read_bytes()
        reader.read(load_image(data))
        frame_times = []
        for _ in range(20):
            start = time.perf_counter()
            reader.read(load_image(data))
            frame_times.append(time.perf_counter() - start)
        results["webcam_640x480"] = {"ms_median": float(np.median(frame_times)) * 1000, "truth": scene.text}
    results["load_after"] = os.getloadavg()
    write_json(args.out, results)
    print(f"12-megapixel JPEG, whole `digits read` process: {results['photo_12mp']['seconds_median']:.2f} s (median)")
    print(f"640x480 JPEG frame in a running Reader: {results['webcam_640x480']['ms_median']:.0f} ms (median)")
    print(f"load average before/after: {results['load_before']} / {results['load_after']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
