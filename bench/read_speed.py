"""How long `digits read` takes on a 12-megapixel phone photo and on a 640×480 webcam frame.

    python bench/read_speed.py --data-dir ../shared/data/mnist [--runs 5]

The photo is a composed scene (``digits.synthetic.render_scene``, MNIST test digits) scaled up to
4000×3000 and saved as a JPEG (quality 90), like a phone's; the whole ``digits read`` process is
timed, start-up included (median of ``--runs``). The webcam frame is a 640×480 JPEG of a scene,
read by a running ``Reader`` (median of 20 after a warm-up). Goals: at most 1.5 s and 150 ms on
2 cores. That frame is an easy one (one row, no digit to cut), so the same running ``Reader`` also reads
``--case-frames`` 640×480 frames of each case of bench/reading.py (its held-out scenes: test digits, the
same seeds), the fastest of three reads each: the median, 90th percentile and slowest of them, and each
case's median. Writes bench/out/read_speed.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
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
    parser.add_argument("--case-frames", type=int, default=2, help="frames of each reading case (default 2; 0: none)")
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
        if args.case_frames > 0:
            results["case_frames"] = case_frames(reader, mnist, args.case_frames)
    results["load_after"] = os.getloadavg()
    write_json(args.out, results)
    print(f"12-megapixel JPEG, whole `digits read` process: {results['photo_12mp']['seconds_median']:.2f} s (median)")
    print(f"640x480 JPEG frame in a running Reader: {results['webcam_640x480']['ms_median']:.0f} ms (median)")
    if "case_frames" in results:
        frames = results["case_frames"]
        print(
            f"{frames['count']} frames of every reading case, running Reader: median {frames['ms_median']:.0f} ms, "
            f"90th percentile {frames['ms_p90']:.0f} ms, slowest {frames['ms_max']:.0f} ms"
        )
        print("  " + ", ".join(f"{name} {ms:.0f}" for name, ms in frames["ms_median_by_case"].items()))
    print(f"load average before/after: {results['load_before']} / {results['load_after']}; wrote {args.out}")
    return 0


def case_frames(reader, mnist, per_case: int) -> dict:
    """The running ``reader``'s time (ms, the fastest of three reads) on ``per_case`` 640×480 JPEG frames of each case
    of bench/reading.py: its held-out scenes (MNIST test digits, its seeds), the pages with no number included."""
    from PIL import Image

    from digits.errors import DigitsError
    from digits.preprocess import load_image

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reading import CASES, SEED, case_seed, scene_case

    by_case: dict[str, float] = {}
    every: list[float] = []
    for name in CASES:
        times = []
        for scene in scene_case(name, mnist.x_test, mnist.y_test, per_case, case_seed(name, SEED)):
            buffer = io.BytesIO()
            scene.image.convert("RGB").resize((640, 480), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=85)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                with contextlib.suppress(DigitsError):  # a page refused (no number) is timed as well
                    reader.read(load_image(buffer.getvalue()))
                best = min(best, time.perf_counter() - start)
            times.append(best * 1000)
        by_case[name] = float(np.median(times))
        every.extend(times)
    return {
        "count": len(every),
        "ms_median": float(np.median(every)),
        "ms_p90": float(np.percentile(every, 90)),
        "ms_max": float(max(every)),
        "ms_median_by_case": by_case,
    }


if __name__ == "__main__":
    raise SystemExit(main())
