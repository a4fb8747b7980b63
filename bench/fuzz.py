"""Fuzz the image paths with many more cases than the test suite: arrays, bytes, damaged files.

    python bench/fuzz.py [--cases 10000]

Uses the same checks and generators as tests/test_fuzz.py: every input must become a valid
28×28 array in [0, 1] (or a well-formed number reading) or be refused with DigitsError.
Prints how many cases each generator tried, how many were accepted or refused, and every
failure (any other exception or an invalid result). Exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def fuzz(strategy, check, n: int, given, settings, health_check) -> tuple[dict[str, int], list[str]]:
    """Run ``check`` on ``n`` generated values, counting outcomes instead of stopping at a failure."""
    counts = {"ok": 0, "refused": 0, "failed": 0}
    failed_examples: list[str] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(health_check))
    @given(strategy)
    def run(value):
        try:
            counts[check(value)] += 1
        except Exception:
            counts["failed"] += 1
            if len(failed_examples) < 5:
                shape = getattr(value, "shape", None) or len(value)
                failed_examples.append(f"{shape}: {traceback.format_exc().strip().splitlines()[-1]}")

    run()
    return counts, failed_examples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000, help="total cases over all generators")
    args = parser.parse_args()

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_fuzz import (
        any_array,
        check_array,
        check_bytes,
        check_read,
        damaged_image_bytes,
        image_like_array,
    )

    from digits.inference import Predictor

    predictor = Predictor()
    share = args.cases // 5
    plans = [
        ("arbitrary arrays -> to_mnist", any_array(), check_array, share),
        ("image-like arrays -> to_mnist", image_like_array(), check_array, share),
        ("random bytes -> load_image", st.binary(max_size=4096), check_bytes, share),
        ("damaged PNG/JPEG/GIF/BMP/TIFF/WebP files", damaged_image_bytes(), check_bytes, share),
        ("image-like arrays -> read_number", image_like_array(), lambda a: check_read(a, predictor),
         args.cases - 4 * share),
    ]  # fmt: skip
    total = failures = 0
    start = time.perf_counter()
    print(f"{'generator':<44} {'cases':>7} {'accepted':>9} {'refused':>8} {'failed':>7}")
    for name, strategy, check, n in plans:
        counts, failed_examples = fuzz(strategy, check, n, given, settings, HealthCheck)
        cases = sum(counts.values())
        total += cases
        failures += counts["failed"]
        print(f"{name:<44} {cases:>7} {counts['ok']:>9} {counts['refused']:>8} {counts['failed']:>7}", flush=True)
        for example in failed_examples:
            print(f"    failure: {example}")
    seconds = time.perf_counter() - start
    print(f"{total} cases in {seconds:.0f} s, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
