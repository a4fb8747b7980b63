"""The ``digits`` command: a thin layer of verbs over the Python API.

Heavy libraries (Keras, TensorFlow, matplotlib) are imported inside each verb, so
``digits --help`` and the light verbs start fast. A ``DigitsError`` becomes one line on
stderr and exit status 2; Ctrl-C becomes exit status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from digits.errors import DigitsError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _quiet_tensorflow() -> None:
    """Hide TensorFlow's start-up chatter (CPU feature notes, oneDNN banners)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_keras_quietly() -> None:
    """Import Keras (and so TensorFlow) with stderr silenced at the file-descriptor level.

    TensorFlow's C++ runtime prints banners while it loads that no environment variable
    turns off; they would bury our one-line messages. ``DIGITS_DEBUG=1`` shows them.
    """
    if "keras" in sys.modules:
        return
    from digits.inference import stderr_silenced

    with stderr_silenced():
        import keras  # noqa: F401


#: Top-level modules that only the training extras install (``pip install 'digits[train]'``).
TRAINING_MODULES = frozenset({"keras", "tensorflow", "matplotlib", "tf2onnx", "onnx"})


def missing_extras_message(error: ImportError, verb: str) -> str | None:
    """One line for a verb that needs the training extras in a light install; None otherwise.

    ``main`` asks this about every ``ImportError``, so no verb needs its own check.
    """
    name = (getattr(error, "name", None) or "").split(".")[0]
    if name not in TRAINING_MODULES:
        return None
    return f"digits {verb} needs the training extras ({name} is not installed): pip install 'digits[train]'"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _risk(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.001, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def _top_k(text: str) -> int:
    value = _positive_int(text)
    if value > 10:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10, got {value}")
    return value


# ---------------------------------------------------------------------------------------
# Verbs


def _train_nondigit(args: argparse.Namespace) -> int:
    """``digits train --task nondigit``: the separate "not a digit" model (digits.train_nondigit)."""
    from digits.train_nondigit import options_from_args, train_nondigit

    refuse_classifier_options(args, "nondigit", "--epochs, --batch-size, --seed, --out, --data-dir")
    options = options_from_args(args)
    import_keras_quietly()
    run_dir, m = train_nondigit(options)
    print(
        f"threshold {m['threshold']:.4f}: validation digits accepted {m['val_digits_accepted']:.2%}, "
        f"non-digits refused {m['val_nondigits_refused']:.2%}; training {m['train_seconds']:.0f} s"
    )
    print(f"run folder {run_dir}: nondigit.keras, nondigit.onnx, nondigit.json, metrics.json")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model; print test accuracy, wall time and where the files are."""
    if args.task == "localizer":
        return _train_localizer(args)
    if args.task == "nondigit":
        return _train_nondigit(args)
    if args.task == "line":
        return _train_line(args)
    if args.scenes is not None:
        raise DigitsError("--scenes is for --task localizer (the classifier trains on MNIST itself)")
    if args.rows is not None:
        raise DigitsError("--rows is for --task line (the classifier trains on MNIST itself)")
    from digits.train import TrainOptions, train

    options = TrainOptions(
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        out=args.out,
        data_dir=args.data_dir,
        limit=args.limit,
        ensemble=args.ensemble,
        val_size=args.val_size,
    )
    if args.resume is None:
        options.resolved()  # check option values before loading anything heavy
    import_keras_quietly()
    result = train(options, run_dir=args.resume)
    m = result.metrics
    if "ensemble" in m:
        members = ", ".join(f"{a * 100:.2f}%" for a in m["member_test_accuracy"])
        chosen = f"average of {m['ensemble']} members ({members})"
    elif m["val_images"]:
        chosen = f"best epoch {m['best_epoch']}/{m['epochs']} by validation"
    else:
        chosen = f"last epoch {m['best_epoch']}/{m['epochs']}, no validation split"
    print(
        f"test accuracy {m['test_accuracy'] * 100:.2f}% ({m['test_errors']} errors in 10,000), "
        f"loss {m['test_loss']:.4f}; {chosen}; "
        f"wall time {m['total_seconds']:.1f} s (training {m['train_seconds']:.1f} s)"
    )
    held = "member-N/ (one run folder per member)" if "ensemble" in m else "history.csv, curves.png"
    print(f"run folder {result.run_dir}: model.keras, metrics.json, options.json, {held}")
    return 0


def refuse_classifier_options(args: argparse.Namespace, task: str, takes: str) -> None:
    """The classifier's own options (``--resume``, ``--limit``, ...) mean nothing to another ``--task``:
    refused in one line rather than silently ignored."""
    ignored = [
        flag
        for flag, value in (
            ("--resume", args.resume),
            ("--limit", args.limit),
            ("--val-size", args.val_size),
            ("--ensemble", args.ensemble != 1),
            ("--preset", args.preset != "default"),
        )
        if value
    ]
    if ignored:
        raise DigitsError(f"--task {task} does not take {', '.join(ignored)} (only {takes})")


def _train_localizer(args: argparse.Namespace) -> int:
    """``digits train --task localizer``: the reader's ink localizer, on composed scenes."""
    from digits.train_reader import LocalizerOptions, train_localizer

    refuse_classifier_options(args, "localizer", "--epochs, --batch-size, --scenes, --seed, --out, --data-dir")
    if args.rows is not None:
        raise DigitsError("--task localizer takes --scenes, not --rows")
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "scenes": args.scenes}
    options = LocalizerOptions(
        seed=args.seed, out=args.out, data_dir=args.data_dir, **{k: v for k, v in given.items() if v is not None}
    )
    options.check()
    import_keras_quietly()
    m = train_localizer(options)
    px = m["val_pixels"]
    print(
        f"validation ink pixels: precision {px['precision'] * 100:.2f}%, recall {px['recall'] * 100:.2f}%, "
        f"F1 {px['f1'] * 100:.2f}%; wall time {m['total_seconds']:.1f} s (training {m['train_seconds']:.1f} s)"
    )
    print(f"run folder {m['run_dir']}: localizer.keras, localizer.onnx, metrics.json")
    return 0


def _train_line(args: argparse.Namespace) -> int:
    """``digits train --task line``: the reader's line recognizer, on composed rows."""
    from digits.train_reader import LineOptions, train_line

    refuse_classifier_options(args, "line", "--epochs, --batch-size, --rows, --seed, --out, --data-dir")
    if args.scenes is not None:
        raise DigitsError("--task line takes --rows, not --scenes")
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "rows": args.rows}
    options = LineOptions(
        seed=args.seed, out=args.out, data_dir=args.data_dir, **{k: v for k, v in given.items() if v is not None}
    )
    options.check()
    import_keras_quietly()
    m = train_line(options)
    print(
        f"validation rows read exactly: {m['val_rows_exact'] * 100:.2f}% (digits alone "
        f"{m['val_rows_digits_exact'] * 100:.2f}%); wall time {m['total_seconds']:.1f} s "
        f"(training {m['train_seconds']:.1f} s)"
    )
    print(f"run folder {m['run_dir']}: line.keras, line.onnx, metrics.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on the MNIST test set, or on a folder of labelled images; calibration included.

    With ``--images`` each unusable row or file gets one line on stderr and the rest are scored:
    exit 1 when some were unusable, 2 when nothing was left to score.
    """
    import numpy as np

    from digits.evaluate import evaluate_probabilities, format_calibration, format_report, labelled_folder
    from digits.fsutil import check_can_create
    from digits.inference import resolve_model_path

    model_path = resolve_model_path(args.model, keras=True)
    out = check_can_create(args.out) if args.out else None  # made only when the plots are written
    problems: list[str] = []
    notes: list[str] = []
    if args.images:
        entries, problems, notes = labelled_folder(args.images)  # a folder with no labels raises: exit 2
    predictor = _load_predictor(str(model_path))
    if args.images:
        results = predictor.predict_files([name for name, _ in entries]) if entries else []
        good = [(r, label) for r, (_, label) in zip(results, entries, strict=True) if r.ok]
        problems += [f"{r.source}: {r.error}" for r in results if not r.ok]
        for line in notes + problems:
            print(f"digits: {line}", file=sys.stderr)
        if not good:
            raise DigitsError(f"--images {args.images}: no usable labelled images left to score")
        images = np.stack([r.image for r, _ in good])
        labels = np.array([label for _, label in good])
        what = "images"
    else:
        from digits import data

        x_test, y_test = data.load_test_set(args.data_dir)  # the training files are not needed
        images, labels, what = x_test, y_test, "test digits"
    probs = predictor.probabilities(images).astype(np.float64)
    metrics = evaluate_probabilities(
        labels, probs, unsure_below=predictor.unsure_below, images=images, out_dir=out, what=what
    )
    metrics["model"] = str(model_path)
    metrics["model_calibration"] = predictor.calibration
    if args.images:
        metrics["images"] = str(args.images)
        metrics["problems"] = problems
        metrics["notes"] = notes
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"model {model_path}" + (f", images {args.images}" if args.images else ", MNIST test set"))
        print(format_report(metrics))
        print(format_calibration(metrics))
        if out is not None:
            print("wrote " + ", ".join(metrics["files"]))
    if problems:
        print(f"digits: {len(problems)} labelled image(s) could not be scored; {len(labels)} were", file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit a temperature and the unsure threshold on a run's validation split; record them in its metrics.json."""
    from pathlib import Path

    from digits.calibration import TARGET_RISK, calibrate_model_file, measure_test
    from digits.fsutil import write_json

    if args.reader:
        from digits.train_reader import calibrate_reader

        calibrate_reader(
            args.data_dir,
            scenes=args.scenes,
            target=0.05 if args.target is None else args.target,
            out=args.out,
            row_scenes=args.row_scenes,
        )
        return 0
    if not args.model:
        raise DigitsError("digits calibrate needs --model M.keras (a classifier) or --reader (the number reader)")
    path = Path(args.model)
    if path.suffix.lower() != ".keras":
        raise DigitsError(f"--model {path}: calibrate works on a .keras model (export it afterwards)")
    metrics_file = path.parent / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    val_size = args.val_size or metrics.get("val_images") or (metrics.get("recipe") or {}).get("val_size")
    if not val_size:
        raise DigitsError(f"{path}: no validation split recorded in {metrics_file}; give --val-size N")
    import_keras_quietly()
    from digits import data
    from digits.inference import Predictor

    mnist = data.load_mnist(args.data_dir)
    _, _, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, int(val_size))
    before = Predictor(path).probabilities(mnist.x_test)
    split = f"the validation split ({int(val_size)} training images, data.split_validation seed 0)"
    target = TARGET_RISK if args.target is None else args.target
    record = calibrate_model_file(path, x_val, y_val, max_risk=target, split=split)
    record["test"] = measure_test(before, Predictor(path).probabilities(mnist.x_test), mnist.y_test, record)
    record["command"] = "digits " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["calibrate"] else None
    metrics["calibration"] = record
    write_json(metrics_file, metrics)
    t = record["test"]
    print(
        f"temperature {record['temperature']:.4f} (fitted on {record['fitted_on']}); unsure below "
        f"{record['unsure_below']:.4f} for answers wrong at most {target:g} of the time on validation "
        f"(coverage {record['val_coverage'] * 100:.2f}%)"
    )
    print(
        f"MNIST test: ECE {t['ece_before'] * 100:.2f}% -> {t['ece_after'] * 100:.2f}%, accuracy "
        f"{t['accuracy_before'] * 100:.2f}% -> {t['accuracy_after'] * 100:.2f}%, coverage {t['coverage'] * 100:.2f}% "
        f"at risk {t['risk'] * 100:.3f}%"
    )
    print(f"wrote {path} and the record in {metrics_file}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the draw-a-digit page and the JSON API (``digits.server``) until Ctrl-C."""
    from digits.inference import resolve_model_path

    if resolve_model_path(args.model).suffix.lower() == ".keras":
        import_keras_quietly()
    from digits.server import serve

    return serve(
        args.host,
        args.port,
        args.model,
        workers=args.workers,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_benchmark_train(args: argparse.Namespace) -> int:
    """Train the reference CNN and our presets side by side; print the table."""
    from digits.benchmark import train_benchmark

    try:
        seeds = [int(s) for s in _csv_list(args.seeds)]
    except ValueError:
        raise DigitsError(f"--seeds takes whole numbers separated by commas, got {args.seeds!r}") from None
    if not seeds or min(seeds) < 0:
        raise DigitsError(f"--seeds takes non-negative whole numbers, got {args.seeds!r}")
    table = train_benchmark(_csv_list(args.presets), seeds, args.out, args.data_dir)
    print(table)
    print(f"wrote {args.out}/table.md, summary.json and accuracy_vs_seconds.png")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a Keras model to ONNX, LiteRT or SavedModel, verified against the Keras model."""
    import shlex
    from pathlib import Path

    from digits.export import check_request, default_out, describe, export_model, format_for, write_report

    fmt = args.format or format_for(args.out)
    out = Path(args.out) if args.out else default_out(fmt, args.int8)
    check_request(fmt, out, args.int8)  # refuse a bad request before loading TensorFlow
    command = ["digits", "export", "--format", fmt, "--out", str(out)]
    for flag, value in (("--model", args.model), ("--data-dir", args.data_dir), ("--report", args.report)):
        command += [flag, str(value)] if value else []
    command += ["--int8"] if args.int8 else []
    import_keras_quietly()
    report = export_model(args.model, fmt, out, int8=args.int8, data_dir=args.data_dir, command=shlex.join(command))
    if args.report:
        write_report(report, args.report)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print("\n".join(describe(report)))
        if args.report:
            print(f"wrote the report to {args.report}")
    return 0


EXIT_SOME_FAILED = 1  # predict/read: some images could not be read; the others were still processed


def _load_predictor(model: str | None, threads: int | None = None):
    """The predictor for ``--model``; Keras (and TensorFlow) is imported only for a ``.keras`` model."""
    from digits.inference import Predictor, resolve_model_path

    path = resolve_model_path(model)
    if path.suffix.lower() == ".keras" and path.exists():
        import_keras_quietly()
    return Predictor(path, threads=threads)


class _OutputNames:
    """File names in the ``--show-input`` folder: the input's stem plus a suffix, unique within one run."""

    def __init__(self, folder, suffix: str) -> None:
        from pathlib import Path

        self.folder, self.suffix, self.used = Path(folder), suffix, set()

    def __call__(self, source: str):
        from pathlib import Path

        stem = "stdin" if source == "-" else (Path(source).stem or "image")
        name, n = f"{stem}{self.suffix}", 1
        while name in self.used:
            n += 1
            name = f"{stem}-{n}{self.suffix}"
        self.used.add(name)
        return self.folder / name


def _save_png(path, image) -> None:
    """Write a Pillow image or a [0, 1] array as PNG, atomically."""
    import io

    import numpy as np
    from PIL import Image

    from digits.fsutil import write_bytes

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8), "L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


class _Report:
    """Prints one result per image (a line, or one entry of a JSON array) and counts the failures."""

    def __init__(self, as_json: bool) -> None:
        self.as_json, self.count, self.failed = as_json, 0, 0
        if as_json:
            print("[", flush=True)

    def ok(self, entry: dict, line: str) -> None:
        self._emit(entry, line, to_stderr=False)

    def error(self, name: str, message: str) -> None:
        self.failed += 1
        self._emit({"file": name, "error": message}, f"digits: error: {name}: {message}", to_stderr=True)

    def _emit(self, entry: dict, line: str, to_stderr: bool) -> None:
        if self.as_json:
            print(("," if self.count else "") + json.dumps(entry), flush=True)
        else:
            print(line, file=sys.stderr if to_stderr else sys.stdout, flush=True)
        self.count += 1

    def close(self, what: str) -> int:
        if self.as_json:
            print("]", flush=True)
        if self.failed:
            print(f"digits: {self.failed} of {self.count} {what} failed", file=sys.stderr)
            return EXIT_SOME_FAILED
        return 0


def _batch_job(args: argparse.Namespace, kind: str):
    """The images a ``predict``/``read`` command line names, and the predictor, after checking the options.

    Everything that makes the whole job impossible (a missing folder or table, a bad column, an
    output that cannot be written, a bad model) is found here, before any image is decoded.
    """
    from digits import batch

    if not args.files and args.from_list is None:
        raise DigitsError(f"digits {kind} needs at least one FILE, folder, glob or table, or --from-list")
    output = args.output
    if args.json and output:
        raise DigitsError("--json prints to standard output; --output writes a file: choose one")
    if args.resume and not output:
        raise DigitsError("--resume continues an --output file: give --output too")
    if args.ray is not None and not output:
        raise DigitsError("--ray writes its rows to a file: give --output (e.g. results.parquet)")
    if args.show_input and (output or args.ray is not None):
        raise DigitsError("--show-input works with the text and --json output, not with --output or --ray")
    items = batch.collect_inputs(args.files, from_list=args.from_list, column=args.column)
    # One worker is one core, as each of several workers is: ONNX Runtime gets one thread.
    predictor = _load_predictor(args.model, threads=1 if args.workers == 1 else None)
    return items, predictor


def _run_options(args: argparse.Namespace, *, to_file: bool) -> dict:
    """Workers, Ray and the progress bar: on stderr when it is a terminal, unless --quiet."""
    shown = sys.stderr.isatty() and not args.quiet and (to_file or not sys.stdout.isatty())
    ray = args.ray is not None
    return {
        "workers": args.workers,
        "use_ray": ray,
        "ray_address": None if args.ray in (None, "local") else args.ray,
        "progress": shown,
    }


def _write_output(args: argparse.Namespace, kind: str, items, predictor, top_k: int) -> int:
    """``--output FILE``: the rows go to the file; stderr gets the summary line."""
    from digits.batch import write_output

    summary = write_output(
        predictor, items, kind, args.output, resume=args.resume, top_k=top_k, **_run_options(args, to_file=True)
    )
    already = f" ({summary.previous} were already in it)" if args.resume else ""
    print(
        f"digits: {summary.answered} answered, {summary.failed} failed; wrote {args.output}{already}",
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if summary.failed else 0


def _answered(entries, names: _OutputNames | None, report: _Report, key: str):
    """The entries that were answered, each with its image saved under ``names`` (its path in ``key``);
    a failed file, or an image that cannot be saved, is reported as that file's error instead."""
    for entry in entries:
        name, image = entry["file"], entry.pop("_image", None)
        if "error" in entry:
            report.error(name, entry["error"] or "failed")
            continue
        if names is not None:
            try:
                path = names(name)
                _save_png(path, image)
                entry[key] = str(path)
            except DigitsError as e:
                report.error(name, str(e))
                continue
        yield entry


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify images of single digits: one line (or JSON entry) per image; bad files do not stop the rest."""
    from digits.batch import run
    from digits.fsutil import check_can_create

    items, predictor = _batch_job(args, "predict")
    if args.output:
        return _write_output(args, "predict", items, predictor, args.top_k)
    out_dir = check_can_create(args.show_input) if args.show_input else None  # made with its first file
    names = _OutputNames(out_dir, ".28x28.png") if out_dir else None
    report = _Report(args.json)
    options = _run_options(args, to_file=False)
    entries = run(predictor, items, "predict", top_k=args.top_k, keep_images=names is not None, **options)
    for entry in _answered(entries, names, report, "input_image"):
        name = entry["file"]
        if entry.get("not_a_digit"):
            report.ok(entry, f"{name}: not a digit")
            continue
        line = f"{name}: {entry['digit']}  {entry['probability']:.1%}" + ("  unsure" if entry["unsure"] else "")
        if len(entry["top_k"]) > 1:
            line += "  (then " + ", ".join(f"{t['digit']} {t['probability']:.1%}" for t in entry["top_k"][1:]) + ")"
        report.ok(entry, line)
    status = report.close("images")
    if names is not None and names.used:
        print(f"digits: saved the 28x28 inputs the model saw in {out_dir}", file=sys.stderr)
    return status


def cmd_read(args: argparse.Namespace) -> int:
    """Read the handwritten number in each image: the digits left to right, each with its probability and box."""
    from digits.batch import run
    from digits.fsutil import check_can_create

    items, predictor = _batch_job(args, "read")
    if args.output:
        return _write_output(args, "read", items, predictor, 3)
    out_dir = check_can_create(args.show_input) if args.show_input else None  # made with its first file
    names = _OutputNames(out_dir, ".read.png") if out_dir else None
    report = _Report(args.json)
    entries = run(predictor, items, "read", keep_images=names is not None, **_run_options(args, to_file=False))
    for entry in _answered(entries, names, report, "annotated_image"):
        name = entry["file"]
        found = entry["digits"]
        digits = ", ".join(f"{d['digit']} {d['probability']:.0%}" + ("?" if d["unsure"] else "") for d in found)
        text = " | ".join(r["text"] for r in entry.get("rows", [])) or entry["text"]  # rows on one line
        report.ok(entry, f"{name}: {text}  ({digits})" + ("  unsure" if entry["unsure"] else ""))
    status = report.close("images")
    if names is not None and names.used:
        print(f"digits: saved the annotated images in {out_dir}", file=sys.stderr)
    return status


def _batch_options(p: argparse.ArgumentParser) -> None:
    """The input and output options that ``predict`` and ``read`` share (see docs/batch.md)."""
    p.add_argument("--from-list", metavar="FILE", help="also the image paths in FILE, one a line (- is stdin)")
    p.add_argument("--column", metavar="NAME", help="the column of a .parquet/.csv table with paths or image bytes")
    p.add_argument("--output", metavar="FILE", help="write one row per image to FILE (.csv, .jsonl or .parquet)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted --output job where it stopped")
    p.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes for decoding and the model (default: the machine's cores)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run on Ray Data: a local Ray, or the cluster at ADDRESS (auto, ray://HOST:10001); needs --output",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# ---------------------------------------------------------------------------------------
# Parser


class _OneLineParser(argparse.ArgumentParser):
    """Report a bad command line in one line (not a usage dump) and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every verb, sharing one vocabulary of options."""
    parser = _OneLineParser(
        prog="digits",
        description="Learn to recognize handwritten digits (MNIST) and read handwritten numbers.",
    )
    from digits import __version__

    parser.add_argument("--version", action="version", version=f"digits {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    data_help = "folder holding the four MNIST .gz files (default: $DIGITS_DATA_DIR, the cache, or download)"
    model_help = "model file (default: the model shipped with the package)"
    files_help = "images (PNG, JPEG, BMP, GIF, TIFF, WebP), folders, globs, .parquet/.csv tables; - is stdin"

    p = verb("train", cmd_train, "train a CNN on MNIST and write a run folder")
    from digits.train import PRESETS

    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="training recipe (default: default)")
    p.add_argument("--epochs", type=_positive_int, help="override the preset's number of epochs")
    p.add_argument("--batch-size", type=_positive_int, help="override the preset's batch size")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", help="run folder to write (default: runs/train-N, the next free N)")
    p.add_argument("--data-dir", help=data_help)
    p.add_argument("--limit", type=_positive_int, help="train on only the first N training images (quick tries)")
    p.add_argument(
        "--ensemble",
        type=_positive_int,
        default=1,
        metavar="K",
        help="train K members (seeds seed..seed+K-1) and save one model averaging them",
    )
    p.add_argument(
        "--val-size",
        type=_non_negative_int,
        metavar="N",
        help="training images held out for validation (default: the preset's, 5000); "
        "0 trains on all 60,000 and keeps the last epoch",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR with its own options")
    p.add_argument(
        "--task",
        choices=["classifier", "localizer", "line", "nondigit"],
        default="classifier",
        help="what to train: the digit classifier (default), the reader's ink localizer (on composed scenes), "
        "its line recognizer (on composed rows) or the 'not a digit' model",
    )
    p.add_argument("--scenes", type=_positive_int, help="localizer: training scenes to compose (default: 3500)")
    p.add_argument("--rows", type=_positive_int, help="line: training rows to compose (default: 60000)")

    p = verb("evaluate", cmd_evaluate, "score a model on the MNIST test set")
    p.add_argument("--model", help=model_help)
    p.add_argument("--data-dir", help=data_help)
    p.add_argument(
        "--out", help="folder for confusion_matrix.png, misclassified.png, calibration.png and risk_coverage.png"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--images",
        metavar="DIR",
        help="score a folder of labelled images instead of MNIST: DIR/labels.csv (file,label) or subfolders 0-9",
    )

    p = verb("calibrate", cmd_calibrate, "fit a model's temperature and unsure threshold on its validation split")
    p.add_argument("--model", help="the .keras model to calibrate in place (a run's model.keras)")
    p.add_argument(
        "--reader",
        action="store_true",
        help="calibrate the number reader instead: which rows are not the number, and P(reading right), on "
        "composed scenes, photos of digits and pages with no number, written to reader.json",
    )
    p.add_argument(
        "--scenes",
        type=_positive_int,
        default=600,
        help="--reader: composed scenes to fit on (default 600), with a third as many photos of one digit, a sixth "
        "as many of numbers and a quarter as many pages with no number",
    )
    p.add_argument(
        "--row-scenes",
        type=_positive_int,
        default=1000,
        help="--reader: pages to fit the rule for rows that are not the number on, and 3/5 as many with letters "
        "and doodles (default 1000)",
    )
    p.add_argument("--out", help="--reader: where to write the record (default: the package's reader.json)")
    p.add_argument("--data-dir", help=data_help)
    p.add_argument(
        "--target",
        type=_risk,
        metavar="RISK",
        help="answers not flagged unsure may be wrong at most this often on validation (default 0.001; --reader 0.05)",
    )
    p.add_argument("--val-size", type=_positive_int, metavar="N", help="validation images (default: the run's)")

    p = verb("serve", cmd_serve, "serve the draw-a-digit web page and the JSON API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_non_negative_int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--model", help=model_help)
    p.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate (with --ssl-keyfile)")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key, without a passphrase")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server processes, each with the model (default 1)",
    )

    p = verb("benchmark", lambda a: a.bench_func(a), "measure speed and accuracy (see the subcommands)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    b = kinds.add_parser(
        "train",
        help="our presets against the Keras reference CNN, side by side",
        description="Train the Keras reference CNN and our presets (real `digits train` runs, one per preset "
        "and seed), log test accuracy against training seconds, and write a table and a plot. With the defaults "
        "(reference, fast and default, seeds 0,1,2: nine runs) it takes about 15 minutes on a quiet 2-core CPU; "
        "runs already in --out are reused, so a stopped benchmark picks up where it was.",
    )
    b.set_defaults(bench_func=cmd_benchmark_train)
    b.add_argument("--presets", default="fast,default", help="comma-separated presets (default: fast,default)")
    b.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    b.add_argument("--out", default="bench/out/train", help="folder for runs, table.md, plot (default: %(default)s)")
    b.add_argument("--data-dir", help=data_help)

    p = verb("export", cmd_export, "export a model to ONNX, LiteRT (TFLite) or SavedModel, verified on the spot")
    p.add_argument("--model", help="the .keras model to export (default: the model shipped with the package)")
    p.add_argument(
        "--format",
        choices=["onnx", "litert", "savedmodel"],
        help="output format (default: from --out's suffix, else onnx)",
    )
    p.add_argument("--out", help="file (.onnx, .tflite) or SavedModel folder to write (default: digits.onnx, ...)")
    p.add_argument(
        "--int8", action="store_true", help="quantize to 8 bits, calibrated on training images (onnx, litert)"
    )
    p.add_argument("--data-dir", help=data_help)
    p.add_argument("--report", metavar="JSON", help="also write the export's record and check to this JSON file")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")

    p = verb("predict", cmd_predict, "recognize the digit in each image (photos, scans, drawings)")
    p.add_argument("files", nargs="*", metavar="FILE", help=files_help)
    p.add_argument("--model", help=model_help)
    p.add_argument("--top-k", type=_top_k, default=1, metavar="K", help="list the K best digits (1-10, default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per image")
    p.add_argument("--show-input", metavar="DIR", help="save the 28x28 image the model saw for each file in DIR")
    _batch_options(p)

    p = verb("read", cmd_read, "read the handwritten number (a row of digits) in each image")
    p.add_argument("files", nargs="*", metavar="FILE", help=files_help)
    p.add_argument("--model", help=model_help)
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per image")
    p.add_argument("--show-input", metavar="DIR", help="save each image with the digits boxed and read in DIR")
    _batch_options(p)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    _quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DigitsError as e:
        print(f"digits: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as e:
        message = missing_extras_message(e, args.verb)
        if message is None:
            raise
        print(f"digits: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as e:
        message = str(e) or "interrupted"
        print(f"\ndigits: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `digits ... | head` closed the pipe early: stop without a traceback, as `cat` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a process the pipe stopped


if __name__ == "__main__":
    sys.exit(main())
