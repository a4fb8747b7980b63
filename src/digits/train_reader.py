"""Train the reader's learned parts on composed data: ``digits train --task localizer`` and ``--task line``.

MNIST is the only handwriting we train on. The localizer learns where digit ink is from scenes made
of MNIST *training* digits (:func:`digits.synthetic.render_scene`: ruled and squared paper, frames,
page edges, shadows, stains, glare, show-through, colour casts, faint pencil, letters and doodles),
whose truth is known because we composed them. The line recognizer learns to read a row of digit ink
whole, with CTC, from rows of MNIST training digits (:func:`digits.synthetic.render_row`). Validation
uses MNIST *test* digits and seeds never used for training. Each run writes ``NAME.keras``,
``NAME.onnx`` (what the package runs) and ``metrics.json`` with the exact command, like ``digits train``
does for the classifier.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digits.data import load_mnist
from digits.errors import DigitsError
from digits.fsutil import write_json
from digits.localize import MULTIPLE, network_input, resize
from digits.preprocess import as_gray_array, load_image

#: Seeds of the scenes: training scenes from this seed on, validation scenes from VAL_SEED on.
VAL_SEED = 1_000_003


@dataclass(frozen=True)
class LocalizerOptions:
    """A localizer run's options (saved in ``metrics.json``)."""

    scenes: int = 3500  # training scenes; each gives ``crops`` patches
    crops: int = 3
    side: int = 160  # patch side, a multiple of 16
    epochs: int = 6
    batch_size: int = 16
    width: int = 16  # the network's base width (see digits.model.localizer)
    learning_rate: float = 3e-3
    val_scenes: int = 300
    seed: int = 0
    workers: int = 2  # processes that compose scenes
    out: str | None = None
    data_dir: str | None = None

    def check(self) -> None:
        if self.side % MULTIPLE or self.side < 64:
            raise DigitsError(f"--side must be a multiple of {MULTIPLE}, at least 64, got {self.side}")
        for name in ("scenes", "crops", "epochs", "batch_size", "width", "val_scenes", "workers"):
            if getattr(self, name) < 1:
                raise DigitsError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


_DIGITS: tuple[np.ndarray, np.ndarray] | None = None  # the digits scenes are made of, set once per worker


def _set_digits(images: np.ndarray, labels: np.ndarray) -> None:
    global _DIGITS
    _DIGITS = (images, labels)


def _patches(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Patches (network input, target ink) cut from ``count`` scenes seeded ``seed``…: run in a worker."""
    from digits.synthetic import render_scene

    assert _DIGITS is not None
    images, labels = _DIGITS
    seed, count, crops, side = args
    xs, ys = [], []
    for k in range(count):
        rng = np.random.default_rng(seed + k)
        scene = render_scene(images, labels, rng)
        data, _ = scene.encode()  # through the file format, JPEG artefacts included
        gray = as_gray_array(load_image(data))
        ink = scene.ink
        # The localizer sees photos scaled so that digits are about 40 px tall (see digits.localize); train
        # on 12 to 110 px, so that a first guess of the scale that is off by a factor of 2.5 still works.
        digit_h = np.median([b[3] - b[1] for b in scene.boxes]) if scene.boxes else 40.0
        target_h = float(np.exp(rng.uniform(np.log(12), np.log(110))))
        factor = float(np.clip(target_h / max(digit_h, 1.0), 0.2, 1.5))
        size = (max(8, round(gray.shape[1] * factor)), max(8, round(gray.shape[0] * factor)))
        gray, ink = resize(gray, size), resize(ink, size)
        h, w = gray.shape
        ph, pw = max(0, side - h), max(0, side - w)
        if ph or pw:  # a small photo: pad with its own edge (what the localizer does at inference)
            pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
            gray, ink = np.pad(gray, pads, mode="edge"), np.pad(ink, pads)
            h, w = gray.shape
        x_all = network_input(gray, shrink=1)  # the exact blur, as the shipped localizer learned it
        ys_ink, xs_ink = np.nonzero(ink > 0.5)
        for c in range(crops):
            if c < crops - 1 and ys_ink.size:  # most patches on the number, one anywhere
                i = int(rng.integers(0, ys_ink.size))
                cy, cx = (
                    ys_ink[i] + rng.integers(-side // 3, side // 3 + 1),
                    xs_ink[i] + rng.integers(-side // 3, side // 3 + 1),
                )
                y0 = int(np.clip(cy - side // 2, 0, h - side))
                x0 = int(np.clip(cx - side // 2, 0, w - side))
            else:
                y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            xs.append(x_all[y0 : y0 + side, x0 : x0 + side].astype(np.float16))
            ys.append(np.clip(ink[y0 : y0 + side, x0 : x0 + side], 0, 1).astype(np.float16)[..., None])
    return np.stack(xs), np.stack(ys)


def make_patches(
    images: np.ndarray, labels: np.ndarray, scenes: int, crops: int, side: int, seed: int, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """``scenes × crops`` training patches, composed in ``workers`` processes; the same for the same seed."""
    chunk = 50
    jobs = [(seed + s, min(chunk, scenes - s), crops, side) for s in range(0, scenes, chunk)]
    if workers > 1:  # the digits travel to each worker once, not with every job
        with ProcessPoolExecutor(workers, initializer=_set_digits, initargs=(images, labels)) as pool:
            parts = list(pool.map(_patches, jobs))
    else:
        _set_digits(images, labels)
        parts = [_patches(j) for j in jobs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def pixel_scores(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of the ink pixels (both thresholded at 0.5)."""
    p, t = predicted >= 0.5, target >= 0.5
    tp = float((p & t).sum())
    precision = tp / max(float(p.sum()), 1.0)
    recall = tp / max(float(t.sum()), 1.0)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-9)}


def save_model(model: Any, run_dir: Path, name: str) -> Path:
    """Write ``NAME.keras`` and ``NAME.onnx`` (with the command in its metadata) into the run folder, each
    under a temporary name first; return the ONNX file's path."""
    from digits.export import _write_onnx
    from digits.train import _command_line

    tmp = run_dir / f".{name}.keras.tmp.keras"
    model.save(tmp)
    os.replace(tmp, run_dir / f"{name}.keras")
    onnx_path = run_dir / f"{name}.onnx"
    tmp_onnx = run_dir / f".{name}.onnx.tmp"
    _write_onnx(model, tmp_onnx, None, {"digits.model": name, "digits.command": _command_line() or ""})
    os.replace(tmp_onnx, onnx_path)
    return onnx_path


def finish_run(
    metrics: dict[str, Any],
    run_dir: Path,
    model: Any,
    onnx_path: Path,
    options: Any,
    times: tuple[float, float, float],
) -> dict[str, Any]:
    """Add what every reader run records (times, size, options, the exact command, versions) to a task's
    own ``metrics``, write them to the run folder's ``metrics.json`` and return them with ``run_dir``."""
    from digits.train import _command_line, versions

    started, compose_seconds, fit_seconds = times
    metrics = {
        **metrics,
        "compose_seconds": round(compose_seconds, 1),
        "train_seconds": round(fit_seconds, 1),
        "total_seconds": round(time.time() - started, 1),
        "parameters": int(model.count_params()),
        "onnx_bytes": onnx_path.stat().st_size,
        "options": asdict(options),
        "command": _command_line(),
        "versions": versions(),
    }
    write_json(run_dir / "metrics.json", metrics)
    metrics["run_dir"] = str(run_dir)
    return metrics


def train_localizer(options: LocalizerOptions, verbose: int = 1) -> dict[str, Any]:
    """Compose the scenes, fit the localizer, export it to ONNX and check the export; return the metrics."""
    options.check()
    import keras

    from digits.model import localizer
    from digits.train import next_run_dir

    started = time.time()
    data = load_mnist(options.data_dir)
    run_dir = Path(options.out) if options.out else next_run_dir(prefix="localizer")
    run_dir.mkdir(parents=True, exist_ok=True)
    x, y = make_patches(
        data.x_train, data.y_train, options.scenes, options.crops, options.side, options.seed, options.workers
    )
    xv, yv = make_patches(
        data.x_test,
        data.y_test,
        options.val_scenes,
        options.crops,
        options.side,
        VAL_SEED + options.seed,
        options.workers,
    )
    compose_seconds = time.time() - started
    if verbose:
        print(f"composed {len(x)} training and {len(xv)} validation patches in {compose_seconds:.1f} s", flush=True)
    keras.utils.set_random_seed(options.seed)
    model = localizer(options.width)
    steps = options.epochs * int(np.ceil(len(x) / options.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy")
    fit_started = time.time()
    history = model.fit(
        x.astype(np.float32),
        y.astype(np.float32),
        batch_size=options.batch_size,
        epochs=options.epochs,
        validation_data=(xv.astype(np.float32), yv.astype(np.float32)),
        verbose=verbose,
        shuffle=True,
    )
    fit_seconds = time.time() - fit_started
    onnx_path = save_model(model, run_dir, "localizer")
    # The export must agree with Keras on the validation patches.
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    sample = xv[:64].astype(np.float32)
    k_out = model.predict(sample, verbose=0)
    o_out = session.run(None, {name: sample})[0]
    predicted = np.concatenate(
        [session.run(None, {name: xv[i : i + 64].astype(np.float32)})[0] for i in range(0, len(xv), 64)]
    )
    metrics = {
        "task": "localizer",
        "val_pixels": pixel_scores(predicted, yv.astype(np.float32)),
        "val_loss": float(history.history["val_loss"][-1]),
        "train_loss": float(history.history["loss"][-1]),
        "onnx_max_abs_diff": float(np.abs(k_out - o_out).max()),
        "patches": len(x),
        "val_patches": len(xv),
    }
    return finish_run(metrics, run_dir, model, onnx_path, options, (started, compose_seconds, fit_seconds))


#: Seeds of the scenes the reading calibration is fitted on (neither the localizer's nor the benchmarks') ...
CALIBRATION_SEED = 5_000_000
#: ... of its photos of one digit, of its photos of a number, and of its pages with no number on them.
ONE_DIGIT_SEED = 5_700_000
NUMBER_PHOTO_SEED = 5_800_000
NO_NUMBER_SEED = 5_900_000
#: Seeds of the composed pages the rule for rows that are not the number is fitted on.
ROWS_SEED = 4_000_000
#: ... and of its pages with letters, doodles or smudges on every one.
MARKS_SEED = 4_100_000
#: A row is left out when it is likelier not part of the number than part of it.
ROW_KEEP_ABOVE = 0.5


def row_truth(reading: Any, scene: Any) -> list[bool]:
    """Which rows of ``reading`` are rows of the composed ``scene``'s number: at least half their digits lie on
    one of its digits (each digit's centre inside a digit's box, 2 px to spare)."""
    boxes = np.asarray(scene.boxes, dtype=np.float64).reshape(-1, 4)
    out = []
    for row in reading.rows:
        on = []
        for d in row.digits:
            cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
            across = (boxes[:, 0] - 2 <= cx) & (cx <= boxes[:, 2] + 2)
            on.append(bool((across & (boxes[:, 1] - 2 <= cy) & (cy <= boxes[:, 3] + 2)).any()))
        out.append(bool(np.mean(on) >= 0.5))
    return out


def fit_row_rule(
    x_val: np.ndarray, y_val: np.ndarray, scenes: int, verbose: bool = True
) -> tuple[dict[str, Any], float]:
    """Fit P(a row of a reading is part of the number) on ``scenes`` composed pages (every effect on a page in
    five, doodles, letters and smudges among them; one to three rows of one to six digits) and three fifths as
    many with letters, doodles or smudges on every page (where the other rows are: on the first pages alone the
    rule kept a lone letter read as a digit as a row of the number), read without the rule; return the rule
    (``reader.json``'s ``rows``) and the seconds it took."""
    from digits import calibration
    from digits.reading import ROW_FEATURES, Reader, row_features
    from digits.synthetic import EFFECTS, render_scene

    started = time.time()
    reader = Reader(calibration=False, rows=False)
    features, truth, pages = [], [], 0
    marked = scenes * 3 // 5  # pages with letters, doodles or smudges on every one
    for k in range(scenes + marked):
        if k < scenes:
            rng = np.random.default_rng(ROWS_SEED + k)
            scene = render_scene(x_val, y_val, rng, n_digits=(1, 6))
        else:  # letters, doodles or smudges on every page, beside any other effects
            rng = np.random.default_rng(MARKS_SEED + k - scenes)
            effects = (*(e for e in EFFECTS if e != "distractors" and rng.random() < 0.22), "distractors")
            scene = render_scene(x_val, y_val, rng, effects=effects, n_digits=(1, 6))
        try:
            reading = reader.read(load_image(scene.encode()[0]))
        except DigitsError:
            continue
        if len(reading.rows) < 2:
            continue  # a single row always stays
        pages += 1
        features.append(row_features(reading))
        truth += row_truth(reading, scene)
    x, y = np.concatenate(features), np.array(truth, dtype=bool)
    weights = calibration.fit_logistic(x, y)
    left_out = calibration.logistic_probability(x, weights) < ROW_KEEP_ABOVE
    rule = {
        "features": list(ROW_FEATURES),
        "weights": [float(w) for w in weights],
        "keep_above": ROW_KEEP_ABOVE,
        "fitted_on": f"{len(y)} rows of the {pages} readings with two rows or more among {scenes} composed pages "
        f"of MNIST validation digits (seeds {ROWS_SEED}+) and {marked} with letters, doodles or smudges "
        f"(seeds {MARKS_SEED}+)",
        "rows_of_the_number": int(y.sum()),
        "other_rows": int((~y).sum()),
        "left_out_of_the_number": int((left_out & y).sum()),
        "left_out_of_the_others": int((left_out & ~y).sum()),
    }
    seconds = time.time() - started
    if verbose:
        print(
            f"rows: {rule['other_rows']} rows that are not the number among {len(y)} (in {pages} readings of two "
            f"rows or more); the rule leaves out {rule['left_out_of_the_others']} of them and "
            f"{rule['left_out_of_the_number']} of the number's ({seconds:.0f} s)",
            flush=True,
        )
    return rule, seconds


def calibration_pages(x_val: np.ndarray, y_val: np.ndarray, scenes: int) -> Iterator[tuple[bytes, str]]:
    """The pages the reading calibration is fitted on, each as (encoded image, the digits it holds), made of
    ``x_val``/``y_val``: ``scenes`` composed pages (each effect on one page in eight, one to three rows of one to
    six digits, touching pairs, separators); a third as many photos of one digit and a sixth as many of a number of
    two to six digits (close up, a quarter with a thin pen: the photos people take of a digit, which fill the
    frame); and a quarter as many pages with no number (every effect on a page in 2.5, doodles and letters
    among them), whose every reading is wrong."""
    from digits.synthetic import EFFECTS, pick, render_digit, render_number, render_scene

    for k in range(scenes):
        rng = np.random.default_rng(CALIBRATION_SEED + k)
        effects = tuple(e for e in EFFECTS if rng.random() < 0.12)  # one or two effects on most pages
        scene = render_scene(x_val, y_val, rng, effects=effects, n_digits=(1, 6))
        yield scene.encode()[0], scene.digits_text
    for k in range(scenes // 3):
        rng = np.random.default_rng(ONE_DIGIT_SEED + k)
        i = int(rng.integers(len(x_val)))
        yield render_digit(x_val[i], int(y_val[i]), rng, thin_rate=0.25).encode()[0], str(int(y_val[i]))
    for k in range(scenes // 6):
        rng = np.random.default_rng(NUMBER_PHOTO_SEED + k)
        ds, ls = pick(x_val, y_val, rng, int(rng.integers(2, 7)))
        photo = render_number(ds, ls, rng, touching=bool(rng.random() < 0.3), thin_rate=0.25)
        yield photo.encode()[0], "".join(map(str, ls))
    for k in range(scenes // 4):
        rng = np.random.default_rng(NO_NUMBER_SEED + k)
        effects = tuple(e for e in EFFECTS if rng.random() < 0.4) or ("frame",)
        yield render_scene(x_val, y_val, rng, effects=effects, n_digits=0).encode()[0], ""


def calibrate_reader(
    data_dir: str | None = None,
    scenes: int = 600,
    target: float = 0.05,
    out: str | os.PathLike[str] | None = None,
    verbose: bool = True,
    row_scenes: int = 1000,
) -> dict[str, Any]:
    """Fit the reader's two rules on composed scenes: which rows are not the number, then P(a reading is
    exactly right) and the reading's ``unsure`` threshold.

    The scenes are made of the classifier's *validation* digits (``data.split_validation``, the 5,000 training
    images no shipped model trained on), so the classifier is as sure of them as of new handwriting. First
    ``row_scenes`` pages with every kind of effect (and three fifths as many with letters, doodles or smudges on
    every page) are read without the row rule, and a logistic fit of "this
    row is part of the number" on :data:`digits.reading.ROW_FEATURES` gives it (:func:`fit_row_rule`). Then
    ``scenes`` pages, with photos of one digit and of numbers and pages with no number
    (:func:`calibration_pages`), are read with it; a logistic fit of "the digits are exactly right" on
    :data:`digits.reading.FEATURES` gives the probability, and the threshold keeps the most readings whose error
    rate is at most ``target``.
    Writes ``reader.json`` (default: the package's) and returns the record.
    """
    from digits import calibration, data
    from digits.reading import FEATURES, Reader, reading_features, record_path
    from digits.train import _command_line

    if scenes < 50:
        raise DigitsError(f"--scenes must be at least 50 to fit the reading calibration, got {scenes}")
    if row_scenes < 50:
        raise DigitsError(f"--row-scenes must be at least 50 to fit the rule for rows, got {row_scenes}")
    mnist = load_mnist(data_dir)
    _, _, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, 5000)
    rows_rule, row_seconds = fit_row_rule(x_val, y_val, row_scenes, verbose)
    reader = Reader(calibration=False, rows=rows_rule)
    features, right, refused = [], [], 0
    started = time.time()
    for image, truth in calibration_pages(x_val, y_val, scenes):
        try:
            reading = reader.read(load_image(image))
        except DigitsError:
            refused += 1
            continue
        features.append(reading_features(reading))
        right.append(reading.digits_text == truth)
    x, y = np.array(features), np.array(right, dtype=bool)
    weights = calibration.fit_logistic(x, y)
    p = calibration.logistic_probability(x, weights)
    chosen = calibration.threshold_for_risk(p, y, max_risk=target)
    product = np.exp(x[:, 0])
    record = {
        "features": list(FEATURES),
        "weights": [float(w) for w in weights],
        "unsure_below": float(chosen["threshold"]),
        "target_risk": target,
        "fitted_on": f"{len(y)} readings of {scenes} composed scenes of MNIST validation digits (seeds "
        f"{CALIBRATION_SEED}+), {scenes // 3} photos of one digit ({ONE_DIGIT_SEED}+), {scenes // 6} photos of a "
        f"number ({NUMBER_PHOTO_SEED}+) and {scenes // 4} pages with no number ({NO_NUMBER_SEED}+); {refused} "
        "refused as empty",
        "scenes_read_right": float(y.mean()),
        "coverage": float(chosen["coverage"]),
        "risk": float(chosen["risk"]),
        "ece_calibrated": calibration.ece_from(p, y),
        "ece_product": calibration.ece_from(product, y),
        "risk_coverage": calibration.risk_coverage(p, y, grid=10),
        "rows": rows_rule,
        "seconds": round(time.time() - started + row_seconds, 1),
        "command": _command_line(),
    }
    path = Path(out) if out else record_path()
    write_json(path, record)
    if verbose:
        print(
            f"{len(y)} pages read, {y.mean():.1%} exactly right; ECE {record['ece_product']:.1%} (product of the "
            f"digits) -> {record['ece_calibrated']:.1%}; unsure below {record['unsure_below']:.3f} keeps "
            f"{record['coverage']:.1%} at {record['risk']:.2%} wrong (target {target:g}); wrote {path}"
        )
    return record


@dataclass(frozen=True)
class LineOptions:
    """A line recognizer run's options (saved in ``metrics.json``)."""

    rows: int = 60000  # training rows, composed from MNIST training digits
    epochs: int = 12
    batch_size: int = 64
    width: int = 16  # the network's base width (see digits.model.line_recognizer)
    learning_rate: float = 3e-3
    val_rows: int = 3000
    seed: int = 0
    workers: int = 2  # processes that compose rows
    out: str | None = None
    data_dir: str | None = None

    def check(self) -> None:
        for name in ("rows", "epochs", "batch_size", "width", "val_rows", "workers"):
            if getattr(self, name) < 1:
                raise DigitsError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")


#: Composed rows are padded to a multiple of this width and batched with rows of the same width.
BUCKET = 32
#: Rows wider than this (recognizer pixels) are not used for training: 8 digits fit well within it.
MAX_ROW_WIDTH = 320
#: At most this many characters in a row's target.
MAX_TARGET = 14


def _rows_job(args: tuple[int, int]) -> tuple[list[np.ndarray], list[str]]:
    """``count`` rows laid out for the recognizer, seeded ``seed``…: run in a worker."""
    from digits.line import row_image
    from digits.synthetic import render_row

    assert _DIGITS is not None
    images, labels = _DIGITS
    seed, count = args
    out, texts = [], []
    for k in range(count):
        rng = np.random.default_rng(seed + k)
        ink, text = render_row(images, labels, rng)
        out.append(row_image(ink).image.astype(np.float16))
        texts.append(text)
    return out, texts


def make_rows(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int, workers: int
) -> tuple[list[np.ndarray], list[str]]:
    """``count`` composed rows (recognizer input) and their texts; the same for the same seed."""
    chunk = 500
    jobs = [(seed + s, min(chunk, count - s)) for s in range(0, count, chunk)]
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_set_digits, initargs=(images, labels)) as pool:
            parts = list(pool.map(_rows_job, jobs))
    else:
        _set_digits(images, labels)
        parts = [_rows_job(j) for j in jobs]
    return [r for p in parts for r in p[0]], [t for p in parts for t in p[1]]


def encode_text(text: str) -> list[int]:
    """A row's text as the recognizer's class indices (spaces are the geometry's, not the recognizer's)."""
    from digits.line import ALPHABET

    return [ALPHABET.index(c) for c in text if c != " "]


def _buckets(rows: list[np.ndarray], texts: list[str]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Rows grouped by padded width: {width: (N×32×width×1 inputs, N×(1+MAX_TARGET) targets)}."""
    from digits.line import STEP

    groups: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for row, text in zip(rows, texts, strict=True):
        target = encode_text(text)
        width = row.shape[1] + (-row.shape[1] % BUCKET)
        repeats = sum(1 for a, b in itertools.pairwise(target) if a == b)
        if width > MAX_ROW_WIDTH or len(target) > MAX_TARGET or len(target) + repeats > width // STEP:
            continue
        padded = np.zeros((row.shape[0], width), dtype=np.float16)
        padded[:, : row.shape[1]] = row
        y = np.zeros(1 + MAX_TARGET, dtype=np.float32)
        y[0] = len(target)
        y[1 : 1 + len(target)] = target
        xs, ys = groups.setdefault(width, ([], []))
        xs.append(padded[..., None])
        ys.append(y)
    return {w: (np.stack(xs), np.stack(ys)) for w, (xs, ys) in sorted(groups.items())}


def ctc_loss(y_true: Any, y_pred: Any) -> Any:
    """CTC loss of the recognizer's step scores; ``y_true`` is [length, class indices ...] per row."""
    from keras import ops

    y_true = ops.reshape(y_true, (ops.shape(y_true)[0], -1))
    lengths = ops.cast(y_true[:, 0], "int32")
    target = ops.cast(y_true[:, 1:], "int32")
    steps = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], dtype="int32")
    return ops.ctc_loss(target, y_pred, lengths, steps, mask_index=0)


def read_rows(session: Any, rows: list[np.ndarray]) -> list[str]:
    """The recognizer's greedy reading of each row (an ONNX Runtime session), separators included."""
    from digits.line import decode

    name = session.get_inputs()[0].name
    return [
        "".join(c for c, *_ in decode(session.run(None, {name: r[None, :, :, None].astype(np.float32)})[0][0]))
        for r in rows
    ]


def train_line(options: LineOptions, verbose: int = 1) -> dict[str, Any]:
    """Compose rows, fit the line recognizer with CTC, export it to ONNX and check the export; return metrics."""
    options.check()
    import keras

    from digits.model import line_recognizer
    from digits.train import next_run_dir

    started = time.time()
    data = load_mnist(options.data_dir)
    run_dir = Path(options.out) if options.out else next_run_dir(prefix="line")
    run_dir.mkdir(parents=True, exist_ok=True)
    rows, texts = make_rows(data.x_train, data.y_train, options.rows, options.seed, options.workers)
    val_rows, val_texts = make_rows(
        data.x_test, data.y_test, options.val_rows, VAL_SEED + options.seed, options.workers
    )
    buckets = _buckets(rows, texts)
    compose_seconds = time.time() - started
    used = sum(len(v[0]) for v in buckets.values())
    if verbose:
        print(f"composed {used} training rows in {len(buckets)} widths in {compose_seconds:.1f} s", flush=True)
    keras.utils.set_random_seed(options.seed)
    batches, per_epoch = _row_batches(buckets, options.batch_size, options.seed)
    model = line_recognizer(options.width)
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, options.epochs * per_epoch, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0), loss=ctc_loss)
    fit_started = time.time()
    history = model.fit(batches, epochs=options.epochs, verbose=verbose, shuffle=False)
    fit_seconds = time.time() - fit_started
    onnx_path = save_model(model, run_dir, "line")
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    sample = val_rows[0][None, :, :, None].astype(np.float32)
    diff = float(np.abs(model.predict(sample, verbose=0) - session.run(None, {"row": sample})[0]).max())
    read = read_rows(session, val_rows)
    truth = [t.replace(" ", "") for t in val_texts]
    exact = float(np.mean([a == b for a, b in zip(read, truth, strict=True)]))
    digits_exact = float(np.mean([_digits(a) == _digits(b) for a, b in zip(read, truth, strict=True)]))
    metrics = {
        "task": "line",
        "val_rows_exact": exact,
        "val_rows_digits_exact": digits_exact,
        "train_loss": float(history.history["loss"][-1]),
        "onnx_max_abs_diff": diff,
        "rows": used,
        "val_rows": len(val_rows),
    }
    return finish_run(metrics, run_dir, model, onnx_path, options, (started, compose_seconds, fit_seconds))


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _row_batches(buckets: dict[int, tuple[np.ndarray, np.ndarray]], batch_size: int, seed: int) -> tuple[Any, int]:
    """A tf.data pipeline of batches of composed rows, each batch of one width, their order reshuffled
    every epoch; and the number of batches per epoch."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def batches():
        plan = []
        for width, (x, _) in buckets.items():
            order = rng.permutation(len(x))
            plan += [(width, order[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        for k in rng.permutation(len(plan)):
            width, index = plan[k]
            x, y = buckets[width]
            yield x[index].astype(np.float32), y[index]

    count = sum(int(np.ceil(len(x) / batch_size)) for x, _ in buckets.values())
    height = next(iter(buckets.values()))[0].shape[1]
    signature = (
        tf.TensorSpec((None, height, None, 1), tf.float32),
        tf.TensorSpec((None, 1 + MAX_TARGET), tf.float32),
    )
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2), count
