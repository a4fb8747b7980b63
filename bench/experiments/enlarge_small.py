"""Would `digits read` read small images better enlarged first?

    python bench/experiments/enlarge_small.py --data-dir ../shared/data/mnist [--scenes 100] [--pixels 307200]
        [--most 2] [--cases "plain paper,squared paper"]

The real numbers of realworld-dev lose most of their captures (``bench/captures.py``) when made small (half and a
quarter of their size, 640 and 320 px), and the localizer learned digits 22–80 px tall. This reads every capture of
``bench/captures.py`` and composed held-out scenes (``bench/reading.py``'s cases, with the failure study's seeds,
8,000,000 on) twice: as they are, and enlarged (bicubic) so that they hold ``--pixels`` pixels (a 640×480 webcam
frame's), by at most ``--most`` times and only where that is at least 1.25 times. It
prints how many each way reads exactly, per capture and per case, and how many the likelier of the two readings
(their calibrated probabilities) reads; the pages with no number are read right when refused.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import captures  # bench/captures.py: the ways a photo is captured
import reading as bench  # bench/reading.py: the composed cases


def enlarged(image: Image.Image, pixels: float, most: float) -> Image.Image | None:
    """``image`` enlarged to about ``pixels`` pixels, by at most ``most``; None when not worth it."""
    factor = min(most, float(np.sqrt(pixels / (image.width * image.height))))
    if factor < 1.25:
        return None
    return image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BICUBIC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--realworld", default="../shared/data/realworld-dev", help="the real images' folder")
    parser.add_argument("--scenes", type=int, default=100, help="scenes per case (default 100)")
    parser.add_argument("--pixels", type=float, default=640 * 480, help="enlarge to this many pixels")
    parser.add_argument("--most", type=float, default=2.0, help="enlarge by at most this factor")
    parser.add_argument("--cases", help="comma-separated case names (default: every case)")
    parser.add_argument("--out", help="JSON file of every image's two readings: right or not, and probability")
    args = parser.parse_args()

    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.reading import Reader

    reader = Reader()

    records: list[dict] = []

    def both(image: Image.Image, want: str, whole: bool, where: str) -> np.ndarray:
        """Whether ``image`` reads ``want`` as it is, enlarged (as it is when not enlarged), and enlarged where
        that reading is the likelier of the two (its calibrated probability); one record kept per image."""
        out, sure = [], []
        bigger = enlarged(image, args.pixels, args.most)
        for picture in (image, bigger):
            if picture is None:
                out.append(out[0])
                sure.append(sure[0])
                continue
            try:
                reading = reader.read(picture)
                out.append((reading.text if whole else reading.digits_text) == want)
                sure.append(reading.probability)
            except DigitsError:
                out.append(want == "")  # a page with no number is read right when refused
                sure.append(-1.0)
        records.append({"where": where, "enlarged": bigger is not None, "right": out, "probability": sure})
        return np.array([out[0], out[1], out[1] if sure[1] > sure[0] else out[0]], dtype=int)

    totals = np.zeros(3, dtype=int)
    real = Path(args.realworld)
    if not (real / "labels.csv").is_file():
        print(f"error: no labels.csv in {real}", file=sys.stderr)
        return 2
    with open(real / "labels.csv", newline="") as f:
        numbers = [r for r in csv.DictReader(f) if r["file"].startswith("numbers/")]
    print(f"| capture ({len(numbers)} real numbers) | as it is | enlarged | the likelier |")
    print("| --- | ---: | ---: | ---: |")
    for name, change in captures.VARIANTS.items():
        count = np.zeros(3, dtype=int)
        for r in numbers:
            count += both(change(load_image(str(real / r["file"]))), r["label"], False, name)
        totals += count
        print(f"| {name} | {count[0]} | {count[1]} | {count[2]} |", flush=True)
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} |")

    mnist = load_mnist(args.data_dir)
    names = args.cases.split(",") if args.cases else list(bench.CASES)
    print(f"\n| composed case ({args.scenes} scenes) | as it is | enlarged | the likelier | enlarged at all |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        seed = bench.case_seed(name, 8_000_000)
        whole = name in ("separator", "every effect mixed")
        count, moved = np.zeros(3, dtype=int), 0
        for scene in bench.scene_case(name, mnist.x_test, mnist.y_test, args.scenes, seed):
            count += both(load_image(scene.encode()[0]), scene.text if whole else scene.digits_text, whole, name)
            moved += records[-1]["enlarged"]
        print(f"| {name} | {count[0]} | {count[1]} | {count[2]} | {moved} |", flush=True)
    if args.out:
        from digits.fsutil import write_json

        write_json(args.out, {"command": "python " + " ".join(sys.argv), "images": records})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
