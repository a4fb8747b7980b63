"""Digits as MNIST lays them out (20 px tall, centred in 28×28): how many `digits read` reads, gets wrong, refuses.

    python bench/mnist_layout.py --data-dir ../shared/data/mnist [--count 1000]

The first ``--count`` MNIST *test* images, each given to the reader as the 28×28 image it is (white on black)
and inverted (dark on white, as a paint program saves a digit drawn at that size), read by the same code as
``digits read``. "right": the reading is that one digit and nothing else. `digits predict` is the verb for such
images; this measures what a user who reaches for `read` gets. Prints the counts per look and writes
bench/out/mnist_layout.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--count", type=int, default=1000, help="MNIST test images (default 1000)")
    parser.add_argument("--out", default="bench/out/mnist_layout.json", help="JSON results file")
    args = parser.parse_args()

    from PIL import Image

    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.fsutil import write_json
    from digits.reading import Reader

    mnist = load_mnist(args.data_dir)
    reader = Reader()
    results: dict = {"command": "python " + shlex.join(sys.argv), "count": args.count, "looks": {}}
    for look in ("white on black", "dark on white"):
        counts: Counter = Counter()
        wrong = []
        for i in range(args.count):
            pixels = mnist.x_test[i]
            image = Image.fromarray(pixels if look == "white on black" else (255 - pixels).astype(np.uint8))
            try:
                got = reader.read(image).text
            except DigitsError:
                counts["refused"] += 1
                continue
            if got == str(int(mnist.y_test[i])):
                counts["right"] += 1
            else:
                counts["wrong"] += 1
                wrong.append({"index": i, "label": int(mnist.y_test[i]), "read": got})
        results["looks"][look] = {**{k: counts[k] for k in ("right", "wrong", "refused")}, "wrong_readings": wrong}
        print(f"{look}: {counts['right']} right, {counts['wrong']} wrong, {counts['refused']} refused of {args.count}")
    write_json(args.out, results)
    print(f"wrote {args.out}; reproduce: {results['command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
