"""Make the example images in this folder from real MNIST *test* digits with ``digits.synthetic``.

    python examples/make_examples.py --data-dir ../shared/data/mnist

Every image is drawn from a fixed seed, so the command makes the same files every time. The
digits are the first test digits of the classes needed (MNIST's test set, never its training set,
so the packaged model has not seen them). Only the test files are read; nothing is downloaded
when ``--data-dir`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from digits import synthetic
from digits.data import load_test_set
from digits.fsutil import write_bytes

HERE = Path(__file__).resolve().parent


def first_of(labels: np.ndarray, digit: int, skip: int = 0) -> int:
    """The index of the ``skip``-th (0-based) test image of ``digit``."""
    return int(np.flatnonzero(labels == digit)[skip])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with the MNIST test files (default: $DIGITS_DATA_DIR or the cache)")
    parser.add_argument("--out", default=str(HERE), help="where to write the images (default: this folder)")
    args = parser.parse_args()
    x, y = load_test_set(args.data_dir)
    out = Path(args.out)

    # A photo of one digit: dark ink on light paper, under uneven light, saved as JPEG.
    rng = np.random.default_rng(7)
    style = synthetic.Style.draw(rng, invert_rate=0.0)
    style.jpeg_quality = 80
    i = first_of(y, 7)
    photo = synthetic.render_digit(x[i], int(y[i]), rng, max_side=240, style=style)
    write_bytes(out / "seven.jpg", photo.encode()[0])

    # Chalk on a board: light ink on dark, PNG.
    rng = np.random.default_rng(3)
    style = synthetic.Style.draw(rng, invert_rate=1.0)
    style.jpeg_quality = None
    i = first_of(y, 3, skip=1)
    chalk = synthetic.render_digit(x[i], int(y[i]), rng, max_side=200, style=style)
    write_bytes(out / "chalk-three.png", chalk.encode()[0])

    # A handwritten number: four digits side by side, not touching.
    rng = np.random.default_rng(2026)
    style = synthetic.Style.draw(rng, invert_rate=0.0)
    style.jpeg_quality = None
    wanted = [2, 0, 2, 6]
    picks = [first_of(y, d, skip=k) for k, d in enumerate(wanted)]
    number = synthetic.render_number([x[i] for i in picks], wanted, rng, max_height=90, style=style)
    write_bytes(out / "number.png", number.encode()[0])

    # A number on two rows, and a number on ruled paper under a shadow: whole photographed pages, composed
    # by the same scene renderer that trains and tests the reader (digits.synthetic.render_scene).
    rows = synthetic.render_scene(
        x,
        y,
        np.random.default_rng(13),
        effects=(),
        rows=2,
        n_digits=4,
        touching=False,
        separators=False,
        thin_rate=0.0,
        max_side=640,
    )
    write_bytes(out / "two-rows.png", rows.encode()[0])
    ruled = synthetic.render_scene(
        x,
        y,
        np.random.default_rng(31),
        effects=("ruled", "shadow"),
        rows=1,
        n_digits=5,
        touching=False,
        separators=False,
        thin_rate=0.0,
        max_side=640,
    )
    ruled.jpeg_quality = 85
    write_bytes(out / "ruled-paper.jpg", ruled.encode()[0])

    for name in ("seven.jpg", "chalk-three.png", "number.png", "two-rows.png", "ruled-paper.jpg"):
        print(f"wrote {out / name} ({(out / name).stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
