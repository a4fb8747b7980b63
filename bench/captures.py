"""The same real numbers captured differently: how many `digits read` still reads exactly.

    python bench/captures.py [--realworld ../shared/data/realworld-dev] [--variants "turned +15°,half size"]
        [--no-level]

Every number in ``realworld-dev/numbers`` (people's own photos and drawings) is changed the way another
phone, hand or webcam would have taken it, then read by the same code as ``digits read``; "exact" means
the digits alone, in order, equal the label:

* ``as taken``: the file itself;
* ``turned +7°`` / ``turned -7°`` / ``turned +15°`` / ``turned -15°``: the photo turned (the corners it
  uncovers filled with the photo's median colour), as a phone not held level;
* ``half size``, ``quarter size``, ``640 px``, ``320 px`` (the longer side; a webcam frame, a thumbnail),
  ``twice the size``: Lanczos resampling;
* ``JPEG q20``: saved again as a low-quality JPEG;
* ``blurred``: a Gaussian blur of 1.5 px per 640 px of the longer side (out of focus);
* ``low contrast`` (contrast × 0.4) and ``dark`` (brightness × 0.5): a dim room.

``--no-level`` reads them without levelling photos taken turned (``digits.level``), to see what it gives.
The images are changed in memory only. Prints a table and writes bench/out/captures.json; run it with
``PYTHONPATH`` at another checkout's ``src`` to compare two versions on the same machine.
"""

from __future__ import annotations

import argparse
import csv
import io
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def _resize(factor: float) -> Callable[[Image.Image], Image.Image]:
    def change(image: Image.Image) -> Image.Image:
        size = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return change


def _longer_side(pixels: int) -> Callable[[Image.Image], Image.Image]:
    return lambda image: _resize(pixels / max(image.size))(image)


def _turn(degrees: float) -> Callable[[Image.Image], Image.Image]:
    def change(image: Image.Image) -> Image.Image:
        rgb = image.convert("RGB")
        fill = tuple(int(v) for v in np.median(np.asarray(rgb).reshape(-1, 3), axis=0))
        return rgb.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)

    return change


def _jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def change(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue()))

    return change


def _blur(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(1.5 * max(image.size) / 640))


VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "as taken": lambda image: image,
    "turned +7°": _turn(7),
    "turned -7°": _turn(-7),
    "turned +15°": _turn(15),
    "turned -15°": _turn(-15),
    "half size": _resize(0.5),
    "quarter size": _resize(0.25),
    "640 px": _longer_side(640),
    "320 px": _longer_side(320),
    "twice the size": _resize(2.0),
    "JPEG q20": _jpeg(20),
    "blurred": _blur,
    "low contrast": lambda image: ImageEnhance.Contrast(image.convert("RGB")).enhance(0.4),
    "dark": lambda image: ImageEnhance.Brightness(image.convert("RGB")).enhance(0.5),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realworld", default="../shared/data/realworld-dev", help="the real images' folder")
    parser.add_argument("--variants", help="comma-separated variant names (default: all)")
    parser.add_argument("--out", default="bench/out/captures.json", help="JSON results file")
    parser.add_argument(
        "--no-level", action="store_true", help="read without levelling turned photos (Reader(level=False)), to compare"
    )
    args = parser.parse_args()

    from digits.errors import DigitsError
    from digits.fsutil import write_json
    from digits.preprocess import load_image
    from digits.reading import Reader

    real = Path(args.realworld)
    if not (real / "labels.csv").is_file():
        print(f"error: no labels.csv in {real}", file=sys.stderr)
        return 2
    with open(real / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"].startswith("numbers/")]
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"error: unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    images = [load_image(str(real / r["file"])) for r in rows]  # EXIF orientation applied, as digits read does
    reader = Reader(level=not args.no_level)
    results: dict = {"command": "python " + shlex.join(sys.argv), "images": len(rows), "variants": {}}
    print(f"| {len(rows)} real numbers ({real}/numbers), captured | read exactly | wrong |")
    print("| --- | ---: | --- |")
    for name in names:
        exact, wrong, start = 0, [], time.perf_counter()
        for r, image in zip(rows, images, strict=True):
            try:
                got = reader.read(VARIANTS[name](image)).digits_text
            except DigitsError:
                got = None
            if got == r["label"]:
                exact += 1
            else:
                wrong.append({"file": r["file"], "label": r["label"], "read": got})
        seconds = time.perf_counter() - start
        results["variants"][name] = {"exact": exact, "wrong": wrong, "seconds": round(seconds, 1)}
        shown = ", ".join(f"{Path(w['file']).stem} as {w['read']}" for w in wrong)
        print(f"| {name} | {exact} of {len(rows)} | {shown} |", flush=True)
    write_json(args.out, results)
    print(f"\nwrote {args.out}; reproduce: {results['command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
