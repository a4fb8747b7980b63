"""Export a Keras digit model for deployment, and prove on the spot that the export is right.

Three formats:

- ``onnx``: an ONNX graph (opset :data:`ONNX_OPSET`) for ONNX Runtime, made with Keras'
  own exporter (which drives tf2onnx). Runs in the light install, without TensorFlow.
- ``litert``: a LiteRT (TensorFlow Lite) flatbuffer, builtin operators only, so that the
  small ``ai-edge-litert`` interpreter runs it on phones, boards and servers.
- ``savedmodel``: a TensorFlow SavedModel folder for TensorFlow Serving and friends.

``int8`` (ONNX and LiteRT) quantizes weights and activations to 8 bits after training,
with the activation ranges calibrated on :data:`CALIBRATION_IMAGES` training images.
Inputs and outputs stay float32, so every engine is fed the same way.

Every export is checked against the Keras model before it is renamed into place: on the
first :data:`VERIFY_IMAGES` test images a float export must give the same digit for every
image and probabilities within :data:`FLOAT_TOLERANCE`; an int8 export must lose at most
:data:`INT8_MAX_DROP_POINTS` points of accuracy on the full test set. An export that fails
its check is not written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digits.errors import DigitsError
from digits.fsutil import atomic_path, ensure_dir, write_json

#: Format name -> file suffix ("" for a folder). The suffix is what ``Predictor`` picks
#: the engine by, so an export must keep it.
FORMATS: dict[str, str] = {"onnx": ".onnx", "litert": ".tflite", "savedmodel": ""}
#: ONNX opset 17: run by ONNX Runtime 1.13 and later and by most other runtimes; nothing
#: in these CNNs (Conv, BatchNorm folded into Conv, MaxPool, Gemm, Softmax) needs newer.
ONNX_OPSET = 17
VERIFY_IMAGES = 2000
FLOAT_TOLERANCE = 1e-4
INT8_MAX_DROP_POINTS = 0.1
CALIBRATION_IMAGES = 1000
CALIBRATION_SEED = 0


@dataclass
class ExportReport:
    """What was written and how closely it matches the Keras model it came from."""

    format: str
    path: str
    int8: bool
    source: str
    source_sha256: str
    size_bytes: int
    engine: str
    verify_images: int
    digits_differ: int
    max_abs_diff: float
    tolerance: float | None
    opset: int | None = None
    calibration_images: int | None = None
    keras_test_accuracy: float | None = None
    export_test_accuracy: float | None = None
    accuracy_drop_points: float | None = None
    max_drop_points: float | None = None
    seconds: float = 0.0
    command: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    #: the source's calibration (digits.calibration): its temperature is in the weights, so the export
    #: has it too; its unsure threshold travels here and, for ONNX, in the file's metadata
    calibration: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_out(fmt: str, int8: bool = False) -> Path:
    """``digits.onnx``, ``digits-int8.tflite``, ``digits_savedmodel``...: in the current folder."""
    if fmt == "savedmodel":
        return Path("digits_savedmodel")
    return Path(f"digits{'-int8' if int8 else ''}{FORMATS[fmt]}")


def format_for(out: str | os.PathLike[str] | None) -> str:
    """The format an ``--out`` path asks for by its suffix; ONNX when it says nothing."""
    if out is None:
        return "onnx"
    suffix = Path(out).suffix.lower()
    for fmt, fmt_suffix in FORMATS.items():
        if fmt_suffix and suffix == fmt_suffix:
            return fmt
    return "savedmodel" if suffix == "" else "onnx"


def check_request(fmt: str, out: Path, int8: bool) -> None:
    """Refuse a format/path/option combination before any heavy work starts."""
    if fmt not in FORMATS:
        raise DigitsError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    suffix = FORMATS[fmt]
    if suffix and out.suffix.lower() != suffix:
        raise DigitsError(f"--out {out} must end in {suffix} for --format {fmt} (the suffix picks the engine)")
    if not suffix and out.suffix.lower() in {".onnx", ".tflite", ".keras"}:
        raise DigitsError(f"--out {out} is a folder for --format savedmodel; drop the {out.suffix} suffix")
    if int8 and fmt == "savedmodel":
        raise DigitsError("--int8 is available for --format onnx and litert, not savedmodel")
    if suffix and out.is_dir():
        raise DigitsError(f"--out {out} is a folder; give a file name ending in {suffix}")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file: ties an export to the exact model file it was made from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calibration_images(x_train: np.ndarray, n: int = CALIBRATION_IMAGES, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """A fixed random sample of training images (float32 N×28×28×1) for int8 calibration.

    A random sample covers all ten digits and the usual range of stroke widths; the
    first N images would do too, but a sample does not depend on the file's order.
    """
    order = np.random.default_rng(seed).choice(len(x_train), size=min(n, len(x_train)), replace=False)
    return _as_float(x_train[np.sort(order)])


def _as_float(images: np.ndarray) -> np.ndarray:
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]


def _keras_probabilities(model: Any, x: np.ndarray, batch: int = 500) -> np.ndarray:
    from keras import ops

    parts = [ops.convert_to_numpy(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(parts).astype(np.float32)


def _run_batched(engine: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int = 500) -> np.ndarray:
    return np.concatenate([np.asarray(engine(x[i : i + batch]), dtype=np.float32) for i in range(0, len(x), batch)])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converters' chatter (C++ logs on fd 2, Python warnings, tf2onnx's logger).

    ``DIGITS_DEBUG=1`` lets it through, for when a conversion fails for a reason that
    only the converter's own log explains.
    """
    if os.environ.get("DIGITS_DEBUG"):
        yield
        return
    for name in ("tf2onnx", "absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``dest``; on success swap it in for ``dest``.

    Only an earlier SavedModel folder is ever replaced: any other existing ``dest`` is
    refused, so that a mistyped ``--out`` cannot delete someone's folder.
    """
    dest = Path(dest)
    if dest.exists() and not (dest.is_dir() and (dest / "saved_model.pb").is_file()):
        raise DigitsError(
            f"{dest} exists and is not a SavedModel folder; refusing to replace it (choose another --out)"
        )
    parent = ensure_dir(dest.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise DigitsError(f"cannot write in {parent}: {e.strerror or e}") from None
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=parent))
            os.replace(dest, old / "previous")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DigitsError(f"cannot write {dest}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _ensure_called(model: Any) -> None:
    """Keras exporters need a model that has run once (a loaded model has not)."""
    model(np.zeros((1, 28, 28, 1), dtype=np.float32), training=False)


def _write_onnx(model: Any, dest: Path, calibration: np.ndarray | None, metadata: dict[str, str]) -> None:
    """Export with Keras (tf2onnx underneath), name the batch axis, add provenance, maybe quantize."""
    import onnx

    with tempfile.TemporaryDirectory() as work:
        float_path = Path(work) / "float.onnx"
        with _quiet():
            model.export(str(float_path), format="onnx", opset_version=ONNX_OPSET, verbose=False)
        graph_model = onnx.load(str(float_path))
        for value in (*graph_model.graph.input, *graph_model.graph.output):
            dims = value.type.tensor_type.shape.dim
            if dims and not dims[0].dim_value:
                dims[0].dim_param = "batch"
        onnx.save(graph_model, str(float_path))
        final = float_path
        if calibration is not None:
            final = Path(work) / "int8.onnx"
            _quantize_onnx(float_path, final, graph_model.graph.input[0].name, calibration, Path(work))
        graph_model = onnx.load(str(final))
        del graph_model.metadata_props[:]
        for key, value in metadata.items():
            entry = graph_model.metadata_props.add()
            entry.key, entry.value = key, value
        graph_model.producer_name = "digits export"
        onnx.save(graph_model, str(dest))


def _quantize_onnx(src: Path, dest: Path, input_name: str, calibration: np.ndarray, work: Path) -> None:
    """Static 8-bit quantization with ONNX Runtime's tools: QDQ, int8 per-channel weights.

    Activations are unsigned (U8S8): ONNX Runtime's x86 kernels are built for that pair;
    signed activations (S8S8) ran at about half the speed here for the same accuracy.
    Weights use 7 of their 8 bits (``reduce_range``): on x86 CPUs without VNNI (AVX2 only) the U8S8
    kernels add pairs of products in 16 bits, which saturate with full-range weights; on such a CPU the
    packaged model lost 0.16 points with full range and 0.01 with ``reduce_range``.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(range(0, len(calibration), 100))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self.batches, None)
            return None if start is None else {input_name: calibration[start : start + 100]}

    prepared = work / "prepared.onnx"
    with _quiet():
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(dest),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )


def _write_litert(model: Any, dest: Path, calibration: np.ndarray | None, metadata: dict[str, str]) -> None:
    """Keras -> SavedModel -> LiteRT flatbuffer with builtin ops only (no Flex/TF ops), plus ``metadata``."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as work, _quiet():
        saved = str(Path(work) / "saved_model")
        model.export(saved, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if calibration is not None:
            images = calibration

            def representative() -> Iterator[list[np.ndarray]]:
                for i in range(len(images)):
                    yield [images[i : i + 1]]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        flatbuffer = converter.convert()
    if metadata:
        from digits.calibration import add_tflite_metadata

        flatbuffer = add_tflite_metadata(flatbuffer, metadata)
    dest.write_bytes(flatbuffer)


class _SavedModelEngine:
    """Runs an exported SavedModel's ``serve`` signature, for verification only."""

    name = "tensorflow-savedmodel"

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        try:
            self._loaded = tf.saved_model.load(str(path))  # keep a reference: it owns the variables
        except Exception as e:
            raise DigitsError(f"{path}: cannot load the SavedModel just written ({e})") from None
        self._serve = self._loaded.serve

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._serve(self._tf.constant(batch, dtype=self._tf.float32)), dtype=np.float32)


def _load_for_verification(fmt: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from digits.inference import LiteRTEngine, OnnxEngine

    if fmt == "onnx":
        return OnnxEngine(path)
    if fmt == "litert":
        with _quiet():
            return LiteRTEngine(path)
    return _SavedModelEngine(path)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("keras", "tensorflow", "tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (records stay portable)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def export_model(
    model: str | os.PathLike[str] | None = None,
    fmt: str = "onnx",
    out: str | os.PathLike[str] | None = None,
    *,
    int8: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    max_drop_points: float = INT8_MAX_DROP_POINTS,
    command: str = "",
) -> ExportReport:
    """Export the Keras model at ``model`` (default: the packaged one) to ``out``, verified.

    Raises :class:`DigitsError`, leaving ``out`` as it was, when the export does not
    match the Keras model closely enough (see the module docstring for the limits).
    """
    from digits import data
    from digits.inference import resolve_model_path
    from digits.model import load_model

    started = time.perf_counter()
    out_path = Path(out) if out is not None else default_out(fmt, int8)
    check_request(fmt, out_path, int8)
    source = resolve_model_path(model, keras=True)
    keras_model = load_model(source)
    # The check needs only the test set; int8 calibration also needs training images.
    if int8:
        mnist = data.load_mnist(data_dir)
        x_test, y_test = mnist.x_test, mnist.y_test
    else:
        x_test, y_test = data.load_test_set(data_dir)
    x_verify = _as_float(x_test[:VERIFY_IMAGES])
    reference = _keras_probabilities(keras_model, x_verify)
    calibration = calibration_images(mnist.x_train) if int8 else None
    _ensure_called(keras_model)
    report = ExportReport(
        format=fmt,
        path=str(out_path),
        int8=int8,
        source=_shown(source),
        source_sha256=sha256(source),
        size_bytes=0,
        engine="",
        verify_images=len(x_verify),
        digits_differ=0,
        max_abs_diff=0.0,
        tolerance=None if int8 else FLOAT_TOLERANCE,
        opset=ONNX_OPSET if fmt == "onnx" else None,
        calibration_images=None if calibration is None else len(calibration),
        max_drop_points=max_drop_points if int8 else None,
        command=command,
        versions=_versions(),
    )
    metadata = {
        "digits.source_sha256": report.source_sha256,
        "digits.int8": str(int8).lower(),
        "digits.command": command,
    }
    from digits.calibration import METADATA_KEY, load_record

    record = load_record(source)  # (``calibration`` here is the int8 images)
    if record is not None:
        keep = ("method", "temperature", "unsure_below", "target_risk", "fitted_on", "val_images", "val_coverage")
        keep += ("model_sha256",)
        report.calibration = {k: record[k] for k in keep if k in record}
        metadata[METADATA_KEY] = json.dumps(report.calibration)  # inside the .onnx / .tflite file

    writer = atomic_dir(out_path) if fmt == "savedmodel" else atomic_path(out_path)
    with writer as tmp:
        try:
            if fmt == "onnx":
                _write_onnx(keras_model, tmp, calibration, metadata)
            elif fmt == "litert":
                _write_litert(keras_model, tmp, calibration, {k: v for k, v in metadata.items() if k == METADATA_KEY})
            else:
                with _quiet():
                    keras_model.export(str(tmp), format="tf_saved_model", verbose=False)
        except DigitsError:
            raise
        except Exception as e:  # converters raise anything from ValueError to their own types
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise DigitsError(f"{fmt} conversion failed ({reason}); DIGITS_DEBUG=1 shows the converter's log") from None
        engine = _load_for_verification(fmt, tmp)
        report.engine = getattr(engine, "name", fmt)
        got = _run_batched(engine, x_verify)
        report.digits_differ = int((got.argmax(axis=1) != reference.argmax(axis=1)).sum())
        report.max_abs_diff = float(np.abs(got - reference).max())
        if int8:
            _check_int8(report, keras_model, engine, x_test, y_test)
        elif report.digits_differ or report.max_abs_diff > FLOAT_TOLERANCE:
            raise DigitsError(
                f"{fmt} export failed its check against the Keras model: {report.digits_differ} of "
                f"{len(x_verify):,} test digits differ, max probability difference {report.max_abs_diff:.2e} "
                f"(limit {FLOAT_TOLERANCE:g}); nothing written"
            )
        report.size_bytes = _size(tmp)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


def _check_int8(report: ExportReport, keras_model: Any, engine: Any, x: np.ndarray, y: np.ndarray) -> None:
    """Score Keras and the int8 export on the full test set; refuse a drop over the limit."""
    x_all = _as_float(x)
    keras_acc = float((_keras_probabilities(keras_model, x_all).argmax(axis=1) == y).mean())
    export_acc = float((_run_batched(engine, x_all).argmax(axis=1) == y).mean())
    report.keras_test_accuracy = keras_acc
    report.export_test_accuracy = export_acc
    report.accuracy_drop_points = round((keras_acc - export_acc) * 100, 4)
    limit = report.max_drop_points if report.max_drop_points is not None else INT8_MAX_DROP_POINTS
    if report.accuracy_drop_points > limit:
        raise DigitsError(
            f"int8 {report.format} export refused: test accuracy {export_acc * 100:.2f}% vs {keras_acc * 100:.2f}% "
            f"for the Keras model, a drop of {report.accuracy_drop_points:.2f} points (limit {limit:g}); "
            f"nothing written; export without --int8 for an exact copy"
        )


def describe(report: ExportReport) -> list[str]:
    """The lines ``digits export`` prints: what was written and how well it matches."""
    kind = report.format + (" int8" if report.int8 else "") + (f", opset {report.opset}" if report.opset else "")
    lines = [
        f"exported {report.path} ({kind}, {report.size_bytes / 1024:,.0f} KiB) from {report.source} "
        f"in {report.seconds:.1f} s"
    ]
    n = report.digits_differ
    same = "all digits identical" if not n else f"{n} digit{'s differ' if n > 1 else ' differs'}"
    check = f"verified on the first {report.verify_images:,} test images with {report.engine}: {same}, "
    check += f"max probability difference {report.max_abs_diff:.1e}"
    if report.tolerance is not None:
        check += f" (limit {report.tolerance:g})"
    lines.append(check)
    if report.int8 and report.keras_test_accuracy is not None and report.export_test_accuracy is not None:
        lines.append(
            f"int8 calibrated on {report.calibration_images:,} training images: test accuracy "
            f"{report.export_test_accuracy * 100:.2f}% vs {report.keras_test_accuracy * 100:.2f}% for Keras, "
            f"a {'drop' if report.accuracy_drop_points >= 0 else 'gain'} of {abs(report.accuracy_drop_points):.2f} "
            f"points (limit: a drop of {report.max_drop_points:g})"
        )
    return lines


def write_report(report: ExportReport, path: str | os.PathLike[str]) -> Path:
    """Save the report as JSON (atomically): the export's provenance and its check."""
    return write_json(path, report.to_dict())
