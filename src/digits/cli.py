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
    if "keras" in sys.modules or os.environ.get("DIGITS_DEBUG"):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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


# ---------------------------------------------------------------------------------------
# Verbs


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model; print test accuracy, wall time and where the files are."""
    from digits.train import TrainOptions, train

    options = TrainOptions(
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        out=args.out,
        data_dir=args.data_dir,
        limit=args.limit,
    )
    if args.resume is None:
        options.resolved()  # check option values before loading anything heavy
    import_keras_quietly()
    result = train(options, run_dir=args.resume)
    m = result.metrics
    print(
        f"test accuracy {m['test_accuracy'] * 100:.2f}% ({m['test_errors']} errors in 10,000), "
        f"loss {m['test_loss']:.4f}; best epoch {m['best_epoch']}/{m['epochs']} by validation; "
        f"wall time {m['total_seconds']:.1f} s (training {m['train_seconds']:.1f} s)"
    )
    print(f"run folder {result.run_dir}: model.keras, metrics.json, history.csv, curves.png, options.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on the MNIST test set; write the confusion matrix and mistakes."""
    import_keras_quietly()
    from digits import data
    from digits.evaluate import evaluate_model, format_report
    from digits.fsutil import ensure_dir
    from digits.inference import resolve_model_path
    from digits.model import load_model

    model_path = resolve_model_path(args.model)
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
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR with its own options")

    p = verb("evaluate", cmd_evaluate, "score a model on the MNIST test set")
    p.add_argument("--model", help=model_help)
    p.add_argument("--data-dir", help=data_help)
    p.add_argument("--out", help="folder for confusion_matrix.png and misclassified.png")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

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
    except KeyboardInterrupt as e:
        message = str(e) or "interrupted"
        print(f"\ndigits: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
