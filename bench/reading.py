"""How well `digits read` reads numbers: real photos, and composed scenes of every kind, held out.

    python bench/reading.py --data-dir ../shared/data/mnist [--scenes 100] [--realworld ../shared/data/realworld-dev]

Real numbers: every image in ``realworld-dev/numbers`` read by the same code as ``digits read``;
"exact" means the digits alone (separators and spaces left out), in order, equal the label. Real single
digits: every image in ``realworld-dev/single`` read the same way, as a user who does not know that
``digits predict`` is for one digit would read it ("exact": the one digit and nothing else). For both, it
counts the readings not flagged unsure, right and wrong.

Composed scenes (``digits.synthetic.render_scene``) from MNIST *test* digits with seeds never used
in training, one case per effect: 4-digit numbers on ruled paper, squared paper, inside a frame,
in a form's row of boxes (one per digit), under a shadow, in faint pencil; two or three rows; a
touching pair; a separator (``.``, ``-``, ``/``, a gap: here the whole text must match, separator
included); letters, doodles and smudges on the page beside the number (to be left out); plain paper; and a
random mix of every effect. Prints a table and writes
bench/out/reading.json. "Wrong, sure" counts the scenes read wrong and not flagged unsure: the readings a
user would act on and be misled by; "right, unsure" the scenes read right but flagged unsure, which a user
would check for nothing. The last case, "no number", is pages with no digit on
them (each effect on a page in 2.5: letters, doodles, frames, a page's edge…): "read exactly" is the share
refused as holding no digits, and "wrong, sure" the pages read as a number not flagged unsure. For the cases
whose scenes have several rows (each row a 4-digit number), it also counts the rows read exactly: row by row
where the reading found as many rows as the scene has, every row wrong where it did not.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from pathlib import Path

import numpy as np

#: Seeds of the held-out scenes: far from the training seeds (0 …) and the localizer's validation seeds.
SEED = 7_000_000

CASES: dict[str, dict] = {
    "plain paper": {"effects": ()},
    "ruled paper": {"effects": ("ruled",)},
    "squared paper": {"effects": ("squared",)},
    "frame": {"effects": ("frame",)},
    # A form's row of boxes, one per digit (a frame is drawn so in a third of the "frame" scenes): seeds of its
    # own, between the first two cases', so that every other case keeps its seeds.
    "form": {"effects": ("frame",), "form": True, "offset": 50_000},
    "shadow": {"effects": ("shadow",)},
    "faint pencil": {"effects": ("pencil",)},
    "two or three rows": {"effects": (), "rows": None},
    "touching pair": {"effects": (), "touching": True},
    "separator": {"effects": (), "separators": True},
    # Letters, doodles and smudges on the page beside the number, to be left out: seeds of their own (between
    # the second and third cases', like the form's), so that every other case keeps its seeds.
    "letters and doodles": {"effects": ("distractors",), "offset": 150_000},
    "every effect mixed": {"effects": None, "rows": None, "touching": None, "separators": None},
    "no number": {"no_number": True},
}


def case_seed(name: str, first: int) -> int:
    """The seed of a case's first scene: ``first`` (the benchmark's :data:`SEED`, or an experiment's seeds of its
    own) plus the case's offset: its own, or 100,000 per case in :data:`CASES`' order among those without one."""
    if "offset" in CASES[name]:
        return first + CASES[name]["offset"]
    numbered = [n for n, spec in CASES.items() if "offset" not in spec]
    return first + 100_000 * numbered.index(name)


def scene_case(name: str, x: np.ndarray, y: np.ndarray, count: int, seed: int) -> list:
    from digits.synthetic import EFFECTS, render_scene

    spec = CASES[name]
    out = []
    for k in range(count):
        rng = np.random.default_rng(seed + k)
        if spec.get("no_number"):  # every effect on a page in 2.5, doodles and letters among them; no digit
            effects = tuple(e for e in EFFECTS if rng.random() < 0.4) or ("frame",)
            out.append(render_scene(x, y, rng, effects=effects, n_digits=0))
            continue
        rows = spec.get("rows", 1)
        if rows is None and "effects" in spec and spec["effects"] == ():
            rows = int(rng.integers(2, 4))
        kwargs = {
            "effects": spec["effects"],
            "rows": rows,
            "n_digits": 4,
            "touching": spec.get("touching", False),
            "separators": spec.get("separators", False),
        }
        if spec.get("form"):
            kwargs["form_rate"] = 1.0
        out.append(render_scene(x, y, rng, **kwargs))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding the MNIST .gz files")
    parser.add_argument("--realworld", default="../shared/data/realworld-dev", help="the real images' folder")
    parser.add_argument("--scenes", type=int, default=100, help="scenes per case (default 100)")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--out", default="bench/out/reading.json", help="JSON results file")
    parser.add_argument("--failures", help="folder to save the annotated failures in")
    args = parser.parse_args()

    from digits.data import load_mnist
    from digits.errors import DigitsError
    from digits.fsutil import write_json
    from digits.preprocess import load_image
    from digits.reading import Reader
    from digits.segment import annotate

    reader = Reader()
    results: dict = {"command": "python " + shlex.join(sys.argv), "cases": {}}
    fail_dir = Path(args.failures) if args.failures else None
    if fail_dir:
        fail_dir.mkdir(parents=True, exist_ok=True)

    def read(image):
        try:
            return reader.read(image)
        except DigitsError:
            return None

    real = Path(args.realworld)
    if (real / "labels.csv").is_file():
        with open(real / "labels.csv", newline="") as f:
            labelled = list(csv.DictReader(f))
        singles = [r for r in labelled if r["file"].startswith("single/")]
        right, missed, flags = 0, [], [0, 0]  # flags: right and not flagged unsure, wrong and not flagged
        for r in singles:
            reading = read(load_image(str(real / r["file"])))
            got = reading.digits_text if reading else None
            right += got == r["label"]
            flags[got != r["label"]] += bool(reading and not reading.unsure)
            if got != r["label"]:
                missed.append({"file": r["file"], "label": r["label"], "read": got})
        results["realworld_single_read"] = {
            "images": len(singles),
            "exact": right,
            "right_unflagged": flags[0],
            "wrong_unflagged": flags[1],
            "wrong": missed,
        }
        print(
            f"real single digits ({real}/single) read as numbers: {right} of {len(singles)} exactly; not flagged "
            f"unsure: {flags[0]} right, {flags[1]} wrong"
        )
        for w in missed:
            print(f"  {w['file']}: {w['label']} read as {w['read']}")
        rows = [r for r in labelled if r["file"].startswith("numbers/")]
        exact, wrong, flags, start = 0, [], [0, 0], time.perf_counter()
        for r in rows:
            image = load_image(str(real / r["file"]))
            reading = read(image)
            got = reading.digits_text if reading else None
            flags[got != r["label"]] += bool(reading and not reading.unsure)
            if got == r["label"]:
                exact += 1
            else:
                wrong.append({"file": r["file"], "label": r["label"], "read": got})
                if fail_dir and reading:
                    annotate(image, reading).save(fail_dir / (Path(r["file"]).stem + ".png"))
        results["realworld_numbers"] = {
            "images": len(rows),
            "exact": exact,
            "right_unflagged": flags[0],
            "wrong_unflagged": flags[1],
            "wrong": wrong,
        }
        print(
            f"real numbers ({real}/numbers): {exact} of {len(rows)} read exactly "
            f"({(time.perf_counter() - start) / max(len(rows), 1) * 1000:.0f} ms each); not flagged unsure: "
            f"{flags[0]} right, {flags[1]} wrong"
        )
        for w in wrong:
            print(f"  {w['file']}: {w['label']} read as {w['read']}")

    mnist = load_mnist(args.data_dir)
    names = args.cases.split(",") if args.cases else list(CASES)
    print("\n| composed scenes, 4 digits, MNIST test digits | scenes | read exactly | wrong, sure | right, unsure |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:  # each case's seeds are its own, whichever cases are run
        scenes = scene_case(name, mnist.x_test, mnist.y_test, args.scenes, case_seed(name, SEED))
        exact = sure_wrong = unsure_right = 0
        rows_right = rows_total = 0  # scenes of several rows: each of their rows, a 4-digit number of its own
        for k, s in enumerate(scenes):
            image = load_image(s.encode()[0])
            reading = read(image)
            whole = name in ("separator", "every effect mixed")
            got = (reading.text if whole else reading.digits_text) if reading else None
            want = None if not s.labels else s.text if whole else s.digits_text
            if want is not None and "\n" in s.text:
                truth = [r if whole else "".join(c for c in r if c.isdigit()) for r in s.text.split("\n")]
                read_rows = [r.text if whole else r.digits_text for r in reading.rows] if reading else []
                rows_total += len(truth)
                # Row by row when the reading found as many rows; otherwise every row of the scene counts as wrong.
                if len(read_rows) == len(truth):
                    rows_right += sum(a == b for a, b in zip(read_rows, truth, strict=True))
            if got == want:
                exact += 1
                unsure_right += bool(reading and reading.unsure)
                continue
            sure_wrong += bool(reading and reading.digits and not reading.unsure)
            if fail_dir:
                shown = annotate(image, reading) if reading else image
                shown.save(fail_dir / f"{name.replace(' ', '_')}-{k}.png")
        rate = exact / max(len(scenes), 1)
        results["cases"][name] = {
            "scenes": len(scenes),
            "exact": exact,
            "rate": rate,
            "wrong_sure": sure_wrong,
            "right_unsure": unsure_right,
        }
        if rows_total:
            results["cases"][name]["rows"] = rows_total
            results["cases"][name]["rows_exact"] = rows_right
        print(f"| {name} | {len(scenes)} | {rate * 100:.1f} % | {sure_wrong} | {unsure_right} |", flush=True)
    for name, case in results["cases"].items():
        if case.get("rows"):
            print(
                f"{name}: {case['rows_exact']} of {case['rows']} rows read exactly "
                f"({case['rows_exact'] / case['rows'] * 100:.1f} %) in its scenes of several rows"
            )
    write_json(args.out, results)
    print(f"\nwrote {args.out}; reproduce: {results['command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
