"""How well digits are recognized and numbers read in realistic images made from real MNIST test digits.

    python bench/images.py --data-dir ../shared/data/mnist [--singles 3000] [--numbers 200] [--seed 0]

Single digits: real test digits rendered by ``digits.synthetic`` as photos and scans (random
canvas, size and place; dark ink on coloured paper or light chalk on a dark board; brightness
gradient, paper texture, noise, blur, JPEG; thick or thin pen), decoded from their file bytes
and classified through ``Predictor.predict_image``'s path (``load_image`` + ``to_mnist``); and
the same digits drawn with a thin ballpoint-like pen. The accuracy of the model on the same
digits as plain MNIST arrays is printed beside, as the ceiling.

Numbers: 2 to 6 real test digits side by side (random spacing, size, vertical jitter), with no
digits touching and with one touching pair (two for 5 or more digits), read by ``read_number``.
The rate is the share read *exactly* right (every digit, nothing missing or extra).

Prints a table and the command to reproduce it, and writes the figures to bench/out/images.json.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--model", help="model file (default: the packaged model)")
    parser.add_argument("--singles", type=int, default=3000, help="rendered single digits (default 3000)")
    parser.add_argument("--thin", type=int, default=1000, help="single digits drawn with a thin pen (default 1000)")
    parser.add_argument("--numbers", type=int, default=200, help="numbers per count and kind (default 200; 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated set (default 0)")
    parser.add_argument("--out", default="bench/out/images.json", help="JSON results file")
    args = parser.parse_args()
    if min(args.singles, args.thin, args.numbers) < 0:
        parser.error("--singles, --thin and --numbers take 0 or more")

    from digits import synthetic
    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.fsutil import write_json
    from digits.inference import Predictor
    from digits.preprocess import load_image, to_mnist
    from digits.reading import read_number

    mnist = load_mnist(args.data_dir)
    x, y = mnist.x_test, mnist.y_test
    predictor = Predictor(args.model)
    results: dict = {"model": str(predictor.path), "engine": predictor.engine_name, "seed": args.seed}
    rng = np.random.default_rng(args.seed)

    def singles(count: int, thin_rate: float, seed: int) -> dict | None:
        if count <= 0:
            return None
        order = np.random.default_rng(seed).permutation(len(x))[:count]  # spread over the whole test set
        samples = synthetic.digit_set(x[order], y[order], count, seed=seed, thin_rate=thin_rate)
        prepared, refused = [], 0
        start = time.perf_counter()
        for s in samples:
            try:
                prepared.append(to_mnist(load_image(s.encode()[0])))
            except DigitsError:
                refused += 1
                prepared.append(np.zeros((28, 28), dtype=np.float32))  # counts as wrong
        seconds = time.perf_counter() - start
        predicted = predictor.probabilities(np.stack(prepared)).argmax(axis=1)
        right = predicted == y[order]
        raw = predictor.probabilities(x[order]).argmax(axis=1) == y[order]
        kinds = {
            "dark ink on light paper": [s.style.dark_ink for s in samples],
            "light ink on dark board": [not s.style.dark_ink for s in samples],
            "JPEG": [s.style.jpeg_quality is not None for s in samples],
            "PNG": [s.style.jpeg_quality is None for s in samples],
        }
        return {
            "count": count,
            "accuracy": float(right.mean()),
            "raw_mnist_accuracy": float(raw.mean()),
            "refused_as_blank": refused,
            "by_kind": {k: float(right[np.array(v)].mean()) for k, v in kinds.items() if any(v)},
            "decode_and_preprocess_ms": round(1000 * seconds / count, 2),
        }

    print(f"rendering and classifying {args.singles} single digits ...", file=sys.stderr)
    results["singles"] = singles(args.singles, 0.0, args.seed + 1)
    print(f"... and {args.thin} drawn with a thin pen ...", file=sys.stderr)
    results["singles_thin_pen"] = singles(args.thin, 1.0, args.seed + 2)

    results["numbers"] = {}
    for touching in (False, True) if args.numbers > 0 else ():
        kind = "touching" if touching else "not touching"
        results["numbers"][kind] = {}
        for n_digits in range(2, 7):
            print(f"reading {args.numbers} {n_digits}-digit numbers, {kind} ...", file=sys.stderr)
            seed = int(rng.integers(1 << 31))
            samples = synthetic.number_set(x, y, args.numbers, n_digits, touching=touching, seed=seed)
            exact = count_right = digits_right = 0
            start = time.perf_counter()
            for s in samples:
                try:
                    text = read_number(load_image(s.encode()[0]), predictor).text
                except DigitsError:
                    text = ""
                exact += text == s.text
                count_right += len(text) == len(s.text)
                if len(text) == len(s.text):
                    digits_right += sum(a == b for a, b in zip(text, s.text, strict=True))
            seconds = time.perf_counter() - start
            results["numbers"][kind][n_digits] = {
                "count": args.numbers,
                "exact": exact / args.numbers,
                "digit_count_right": count_right / args.numbers,
                "digits_right_when_count_right": digits_right / max(1, count_right * n_digits),
                "read_ms": round(1000 * seconds / args.numbers, 1),
            }

    command = "python bench/images.py " + shlex.join(sys.argv[1:])
    results["command"] = command
    write_json(args.out, results)
    print(report(results))
    print(f"\nreproduce: {command}\nwrote {Path(args.out)}")
    return 0


def share(value: float, places: int) -> str:
    """A fraction as a percentage cut (never rounded up) to ``places`` decimals: 0.99466 is 99.46 %."""
    scale = 10**places
    return f"{math.floor(value * 100 * scale + 1e-9) / scale:.{places}f} %"


def report(r: dict) -> str:
    lines = [f"model {Path(r['model']).name} ({r['engine']}), generated set seed {r['seed']}"]
    s, t = r["singles"], r["singles_thin_pen"]
    if s or t:
        lines += [
            "",
            "| single digits (real MNIST test digits, rendered) | images | accuracy | same digits as MNIST arrays |",
            "| --- | ---: | ---: | ---: |",
        ]
    if s:
        lines.append(
            f"| photos and scans, all styles | {s['count']} | {share(s['accuracy'], 2)} | "
            f"{share(s['raw_mnist_accuracy'], 2)} |"
        )
        for kind, acc in s["by_kind"].items():
            lines.append(f"| … {kind} | | {share(acc, 2)} | |")
    if t:
        lines.append(
            f"| thin pen (lines 1.5–4 % of the height) | {t['count']} | {share(t['accuracy'], 2)} | "
            f"{share(t['raw_mnist_accuracy'], 2)} |"
        )
    if r["numbers"]:
        lines += [
            "",
            "| numbers (real MNIST test digits) | digits | numbers | read exactly | digit count right | ms each |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
    for kind, per in r["numbers"].items():
        for n, v in per.items():
            lines.append(
                f"| {kind} | {n} | {v['count']} | {share(v['exact'], 1)} | {share(v['digit_count_right'], 1)} | "
                f"{v['read_ms']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
