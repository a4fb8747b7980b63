"""Digits that fill their whole image: how many `digits predict` reads right, gets wrong, or refuses.

    python bench/fill_crop.py --data-dir ../shared/data/mnist --realworld ../shared/data/realworld-dev [--count 600]

1. ``--count`` MNIST *test* digits made into pictures they fill (``tests/test_fill_crop.py``: cropped to the ink
   with 0-2 px to spare, 200-400 px tall; dark on white, white on black, thin pen, marker, photographed grey
   page with a gradient and JPEG, chalk on a board), seeds 16 and 17, half each.
2. Blank photos (``digits.synthetic.paint`` of an empty page, as ``tests/test_preprocess.py`` makes them; 80
   per seed, ``--blank-seeds``): how many are given ink instead of ``no ink found`` by ``to_mnist``, since the
   two-tone fallback must not see a shadow's edge or a gradient as a digit.
3. realworld-dev's 214 single digits, each cropped here to its own ink (found by ``digits.preprocess``'s
   ``ink_map`` and ``ink_blobs``) with 0-2 px to spare and scaled up to 300 px tall when smaller. The crops
   live in a temporary folder only; nothing is trained or tuned on them.

Both go through the real ``digits predict --json`` (the packaged model) and, since a tight crop is also what
``digits read`` is given, through ``digits read --json`` too. 4. ``--shaded`` blank pages in two tones (a
shadow's edge from soft to sharp, or a strong gradient; seed 11) through ``digits read``: how many are read
as a number. 5. ``--numbers`` numbers of two or three MNIST test digits composed on paper and cut out to their
digits (``tests/test_fill_crop.py``'s ``number_crop``, seed 18) through ``digits read``: right, wrong or refused,
and how many are read as one digit (the reader reads a digit that fills its image whole, as ``predict`` does,
and must not read a number that fills it so). Prints the counts per look and writes
``bench/out/fill_crop.json``. Run it with ``PYTHONPATH`` at another checkout's ``src`` to compare two versions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def outcome(entry: dict, label: int) -> str:
    if "error" in entry:
        return "refused: no ink found" if entry["error"].startswith("no ink found") else "refused: other"
    if entry.get("not_a_digit"):
        return "not a digit"
    return "right" if entry["digit"] == label else "wrong"


def tight_crops(realworld: Path, folder: Path, rng: np.random.Generator) -> list[tuple[Path, int]]:
    """Each real single digit cut down to its ink, so that the strokes touch the border."""
    from digits.errors import DigitsError
    from digits.preprocess import ink_blobs, ink_map, load_image

    with open(realworld / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"].startswith("single/")]
    crops = []
    for k, row in enumerate(rows):
        image = load_image(str(realworld / row["file"]))
        try:
            imap = ink_map(image)
            labels, _ = ink_blobs(imap.ink)
        except DigitsError:
            continue
        ys, xs = np.nonzero(labels)
        margin = int(rng.integers(0, 3))
        box = (
            max(int(xs.min() / imap.scale) - margin, 0),
            max(int(ys.min() / imap.scale) - margin, 0),
            min(int(np.ceil((xs.max() + 1) / imap.scale)) + margin, image.width),
            min(int(np.ceil((ys.max() + 1) / imap.scale)) + margin, image.height),
        )
        crop = image.crop(box)
        if crop.height < 300:
            crop = crop.resize((max(8, round(crop.width * 300 / crop.height)), 300), Image.Resampling.BICUBIC)
        path = folder / f"{k:04d}-real-{row['label']}.png"
        crop.save(path)
        crops.append((path, int(row["label"])))
    return crops


def blank_pages_given_ink(seeds: range) -> tuple[int, int]:
    """Blank photos in every style the generator makes, and how many of them ``to_mnist`` finds ink on."""
    from digits import synthetic
    from digits.errors import DigitsError
    from digits.preprocess import load_image, to_mnist

    pages = inked = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for _ in range(80):
            style = synthetic.Style.draw(rng, invert_rate=0.5)
            h, w = int(rng.integers(40, 500)), int(rng.integers(40, 500))
            page = synthetic.paint(np.zeros((h, w), dtype=np.float32), style, rng, digit_height=80)
            pages += 1
            try:
                to_mnist(load_image(synthetic.encode(page, style.jpeg_quality)[0]))
                inked += 1
            except DigitsError:
                pass
    return pages, inked


def read_outcomes(cases: list[tuple[Path, int]]) -> Counter:
    """The same images through the real ``digits read --json``: right, wrong, or refused."""
    out = subprocess.run(
        [sys.executable, "-m", "digits", "read", "--json", *[str(p) for p, _ in cases]], capture_output=True, text=True
    )
    entries = json.loads(out.stdout)
    counts: Counter = Counter()
    for entry, (_, label) in zip(entries, cases, strict=True):
        if "error" in entry:
            counts["refused"] += 1
        else:
            counts["right" if "".join(str(d["digit"]) for d in entry["digits"]) == str(label) else "wrong"] += 1
    return counts


def read_numbers(cases: list[tuple[Path, str]]) -> Counter:
    """Numbers cut out tightly through the real ``digits read --json``: right, wrong or refused, and read as one
    digit."""
    out = subprocess.run(
        [sys.executable, "-m", "digits", "read", "--json", *[str(p) for p, _ in cases]], capture_output=True, text=True
    )
    counts: Counter = Counter()
    for entry, (_, text) in zip(json.loads(out.stdout), cases, strict=True):
        if "error" in entry:
            counts["refused"] += 1
            continue
        read = "".join(str(d["digit"]) for d in entry["digits"])
        counts["right" if read == text else "wrong"] += 1
        counts["read as one digit"] += len(read) == 1
    return counts


def shaded_pages(folder: Path, count: int, seed: int) -> list[Path]:
    """Blank pages in two tones, a shadow's edge from soft to sharp or a strong gradient, saved as PNG."""
    from test_fill_crop import two_tone_page

    rng = np.random.default_rng(seed)
    paths = []
    for k in range(count):
        gray = two_tone_page(rng, shadow=bool(k % 2), varied=True)
        path = folder / f"shaded-{k:03d}.png"
        Image.fromarray(np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--realworld", default="../shared/data/realworld-dev")
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--blank-seeds", default="3-20", help="seeds of the blank photos, FIRST-LAST")
    parser.add_argument("--shaded", type=int, default=200, help="blank pages in two tones for `digits read`")
    parser.add_argument("--numbers", type=int, default=600, help="numbers cut out tightly for `digits read`")
    parser.add_argument("--out", default="bench/out/fill_crop.json")
    args = parser.parse_args()

    from test_fill_crop import predict_json, write_filling_images, write_number_crops

    from digits.data import load_mnist

    load_before = os.getloadavg()
    mnist = load_mnist(args.data_dir)
    report: dict = {"count": args.count}
    with tempfile.TemporaryDirectory() as tmp:
        images = []
        for seed, n in ((16, args.count - args.count // 2), (17, args.count // 2)):
            images += write_filling_images(mnist.x_test, mnist.y_test, n, seed, Path(tmp) / f"mnist-{seed}")
        real = Path(args.realworld)
        crops = tight_crops(real, Path(tmp), np.random.default_rng(0)) if (real / "labels.csv").is_file() else []
        for name, cases in (("mnist_test_filling", images), ("realworld_single_tight", crops)):
            if not cases:
                continue
            entries = predict_json([p for p, _ in cases])
            by_look: dict[str, Counter] = {}
            for entry, (path, label) in zip(entries, cases, strict=True):
                look = path.name.split("-")[1]
                by_look.setdefault(look, Counter())[outcome(entry, label)] += 1
            total = sum(by_look.values(), Counter())
            report[name] = {"images": len(cases), **total, "by_look": {k: dict(v) for k, v in by_look.items()}}
            print(f"{name}: {len(cases)} images: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
            for look, counts in by_look.items():
                print(f"  {look:7s} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            read = read_outcomes(cases)
            report[name]["digits_read"] = dict(read)
            print("  through `digits read`: " + ", ".join(f"{k} {v}" for k, v in sorted(read.items())))
        if args.numbers:
            numbers = write_number_crops(mnist.x_test, mnist.y_test, args.numbers, 18, Path(tmp) / "numbers")
            read = read_numbers(numbers)
            report["numbers_tight"] = {"images": len(numbers), **read, "seed": 18}
            print(
                f"numbers cut out tightly, through `digits read`: {len(numbers)} images: "
                + ", ".join(f"{k} {v}" for k, v in sorted(read.items()))
            )
        if args.shaded:  # `digits read` with no file names is a usage error, not an empty list
            shaded = shaded_pages(Path(tmp), args.shaded, 11)
            read = read_outcomes([(p, -1) for p in shaded])
            report["shaded_pages_read"] = {"pages": len(shaded), "read_as_a_number": read["wrong"], "seed": 11}
            print(f"blank pages in two tones read as a number by `digits read`: {read['wrong']} of {len(shaded)}")
    first, last = (int(v) for v in args.blank_seeds.split("-"))
    pages, inked = blank_pages_given_ink(range(first, last + 1))
    report["blank_pages"] = {"pages": pages, "given_ink": inked, "seeds": args.blank_seeds}
    print(f"blank photos given ink: {inked} of {pages} (seeds {args.blank_seeds})")
    report["load_average_before"] = [round(v, 2) for v in load_before]
    report["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
