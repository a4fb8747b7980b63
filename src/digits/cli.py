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

    options = options_from_args(args)  # refuses the classifier's own options before loading anything
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
    if getattr(args, "task", "digits") == "nondigit":
        return _train_nondigit(args)
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on the MNIST test set; write the confusion matrix and mistakes."""
    import_keras_quietly()
    from digits import data
    from digits.evaluate import evaluate_model, format_report
    from digits.fsutil import ensure_dir
    from digits.inference import resolve_model_path
    from digits.model import load_model

    model_path = resolve_model_path(args.model, keras=True)
    model = load_model(model_path)
    out = ensure_dir(args.out) if args.out else None
    mnist = data.load_mnist(args.data_dir)
    metrics = evaluate_model(model, mnist.x_test, mnist.y_test, out_dir=out)
    metrics["model"] = str(model_path)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"model {model_path}")
        print(format_report(metrics))
        if out is not None:
            print(f"wrote {out / 'confusion_matrix.png'} and {out / 'misclassified.png'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the draw-a-digit page and the JSON API (``digits.server``) until Ctrl-C."""
    from digits.inference import resolve_model_path

    if resolve_model_path(args.model).suffix.lower() == ".keras":
        import_keras_quietly()
    from digits.server import serve

    return serve(args.host, args.port, args.model)


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


def _load_predictor(model: str | None):
    """The predictor for ``--model``; Keras (and TensorFlow) is imported only for a ``.keras`` model."""
    from digits.inference import Predictor, resolve_model_path

    path = resolve_model_path(model)
    if path.suffix.lower() == ".keras" and path.exists():
        import_keras_quietly()
    return Predictor(path)


def _image_source(name: str) -> str | bytes:
    """A file argument as the image loaders take it: ``-`` is the bytes on standard input."""
    return sys.stdin.buffer.read() if name == "-" else name


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


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify images of single digits: one line (or JSON entry) per image; bad files do not stop the rest."""
    from digits.fsutil import ensure_dir

    out_dir = ensure_dir(args.show_input) if args.show_input else None
    predictor = _load_predictor(args.model)
    names = _OutputNames(out_dir, ".28x28.png") if out_dir else None
    report = _Report(args.json)
    chunk = 256  # files decoded and classified together; results are printed as each chunk finishes
    for start in range(0, len(args.files), chunk):
        batch = args.files[start : start + chunk]
        results = predictor.predict_files([_image_source(name) for name in batch], top_k=args.top_k)
        for name, result in zip(batch, results, strict=True):
            if result.prediction is None:
                report.error(name, result.error or "failed")
                continue
            entry = {"file": name, **result.prediction.to_dict()}
            if names is not None:
                try:
                    path = names(name)
                    _save_png(path, result.image)
                    entry["input_image"] = str(path)
                except DigitsError as e:
                    report.error(name, str(e))
                    continue
            p = result.prediction
            line = f"{name}: {p.digit}  {p.probability:.1%}" + ("  unsure" if p.unsure else "")
            if p.not_a_digit:
                line = f"{name}: not a digit"
            elif len(p.top_k) > 1:
                line += "  (then " + ", ".join(f"{t['digit']} {t['probability']:.1%}" for t in p.top_k[1:]) + ")"
            report.ok(entry, line)
    status = report.close("images")
    if names is not None and names.used:
        print(f"digits: saved the 28x28 inputs the model saw in {out_dir}", file=sys.stderr)
    return status


def cmd_read(args: argparse.Namespace) -> int:
    """Read the handwritten number in each image: the digits left to right, each with its probability and box."""
    from digits.fsutil import ensure_dir

    out_dir = ensure_dir(args.show_input) if args.show_input else None
    predictor = _load_predictor(args.model)
    from digits.preprocess import load_image
    from digits.segment import annotate

    names = _OutputNames(out_dir, ".read.png") if out_dir else None
    report = _Report(args.json)
    for name in args.files:
        try:
            image = load_image(_image_source(name))
            reading = predictor.read_number(image)
            entry = {"file": name, **reading.to_dict()}
            if names is not None:
                path = names(name)
                _save_png(path, annotate(image, reading))
                entry["annotated_image"] = str(path)
        except DigitsError as e:
            report.error(name, str(e))
            continue
        digits = ", ".join(f"{d.digit} {d.probability:.0%}" + ("?" if d.unsure else "") for d in reading.digits)
        report.ok(entry, f"{name}: {reading.text}  ({digits})" + ("  unsure" if reading.unsure else ""))
    status = report.close("images")
    if names is not None and names.used:
        print(f"digits: saved the annotated images in {out_dir}", file=sys.stderr)
    return status


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
        choices=["digits", "nondigit"],
        default="digits",
        help="what to train (default: digits, the classifier)",
    )

    p = verb("evaluate", cmd_evaluate, "score a model on the MNIST test set")
    p.add_argument("--model", help=model_help)
    p.add_argument("--data-dir", help=data_help)
    p.add_argument("--out", help="folder for confusion_matrix.png and misclassified.png")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    p = verb("serve", cmd_serve, "serve the draw-a-digit web page and the JSON API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_non_negative_int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--model", help=model_help)

    p = verb("benchmark", lambda a: a.bench_func(a), "measure speed and accuracy (see the subcommands)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    b = kinds.add_parser("train", help="our presets against the Keras reference CNN, side by side")
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
    p.add_argument("files", nargs="+", metavar="FILE", help="images (PNG, JPEG, BMP, GIF, TIFF, WebP); - is stdin")
    p.add_argument("--model", help=model_help)
    p.add_argument("--top-k", type=_top_k, default=1, metavar="K", help="list the K best digits (1-10, default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per image")
    p.add_argument("--show-input", metavar="DIR", help="save the 28x28 image the model saw for each file in DIR")

    p = verb("read", cmd_read, "read the handwritten number (a row of digits) in each image")
    p.add_argument("files", nargs="+", metavar="FILE", help="images (PNG, JPEG, BMP, GIF, TIFF, WebP); - is stdin")
    p.add_argument("--model", help=model_help)
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per image")
    p.add_argument("--show-input", metavar="DIR", help="save each image with the digits boxed and read in DIR")

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
