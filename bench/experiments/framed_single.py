"""Single digits with a frame drawn round them: how many `digits read` reads, with and without one reader rule.

    python bench/experiments/framed_single.py --data-dir ../shared/data/mnist [--count 40]

Composes ``--count`` one-digit scenes of MNIST *test* digits for each of plain, ruled and squared paper, each with
a frame (``digits.synthetic.render_scene``, seeds 8,950,000 on: not the benchmark's), and reads them with the
packaged reader as it is, then with ``digits.reading._broken_digit`` switched off (its share ``BROKEN_SEEN`` set
out of reach). The rule takes the contrast ink's one digit over the localizer's pieces of it; a frame round a
digit is one digit to the contrast ink (a box is a 0), so the rule must leave such scenes alone. The benchmark's
frames hold four digits, which this case does not show. Prints both counts and the scenes misread.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--count", type=int, default=40, help="scenes per paper (default 40)")
    args = parser.parse_args()

    import digits.reading as reading
    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.preprocess import load_image
    from digits.synthetic import render_scene

    mnist = load_mnist(args.data_dir)
    reader = reading.Reader()
    papers = (("frame",), ("frame", "ruled"), ("frame", "squared"))
    scenes = [
        (
            k,
            effects,
            render_scene(
                mnist.x_test, mnist.y_test, np.random.default_rng(8_950_000 + k), effects=effects, rows=1, n_digits=1
            ),
        )
        for k in range(args.count)
        for effects in papers
    ]
    shipped = reading.BROKEN_SEEN
    for label, seen in (("with the rule", shipped), ("without it", 2.0)):
        reading.BROKEN_SEEN = seen
        right, wrong = 0, []
        for k, effects, scene in scenes:
            try:
                got = reader.read(load_image(scene.encode()[0])).digits_text
            except DigitsError:
                got = None
            right += got == scene.digits_text
            if got != scene.digits_text:
                wrong.append(f"{8_950_000 + k} {'+'.join(effects)}: {scene.digits_text} read {got}")
        print(f"{label}: {right} of {len(scenes)} read exactly")
        for line in wrong:
            print(f"  {line}")
    reading.BROKEN_SEEN = shipped
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
