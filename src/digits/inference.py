"""One ``Predictor`` that loads a model once and classifies batches of 28×28 images.

The CLI verbs and the web server all go through it. The engine that runs the model is
picked from the file: ``.keras`` runs on Keras, ``.onnx`` on ONNX Runtime and ``.tflite``
on LiteRT; the last two never import TensorFlow. Input is always MNIST-like: N×28×28
(or N×28×28×1) with values in [0, 1], or uint8 in [0, 255].
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Union

import numpy as np

from digits.errors import DigitsError

#: A prediction whose top probability is below this is flagged ``unsure`` when the model has no
#: calibration record (see :mod:`digits.calibration`): a sane default for an uncalibrated model,
#: whose top probability is rarely below it for a clear digit. A calibrated model (the packaged one,
#: any run of ``digits train`` with a validation split) uses the threshold chosen for it instead,
#: ``Predictor.unsure_below``.
UNSURE_BELOW = 0.6

#: Every probability a result reports (``probability``, ``top_k``, ``probabilities``, in Python and
#: in the JSON of the CLI and the server) is rounded to this many decimals: finer digits are noise.
PROBABILITY_DECIMALS = 6


def rounded(p: float) -> float:
    """A probability as results report it: a Python float rounded to :data:`PROBABILITY_DECIMALS`."""
    return round(float(p), PROBABILITY_DECIMALS)


class Engine(Protocol):
    """Runs a model: float32 N×28×28×1 in [0, 1] -> float32 N×10 probabilities."""

    name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class KerasEngine:
    """Runs a ``.keras`` model (loaded in safe mode) with Keras."""

    name = "keras"

    def __init__(self, path: Path) -> None:
        if not _installed("keras"):  # the light install
            raise DigitsError(
                f"{path}: running .keras models needs the training extras: pip install 'digits[train]' "
                "(or use an .onnx export of the model, which runs here)"
            )
        from digits.model import load_model

        self.model = load_model(path)
        _check_probabilities(path, self)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.model(batch, training=False)
        return np.asarray(out, dtype=np.float32)


def _installed(module: str) -> bool:
    """Whether ``module`` could be imported, found without importing it (TensorFlow takes seconds)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


def _check_io(path: Path, in_shape: Any, in_type: str, out_shape: Any) -> None:
    """Refuse a model whose input is not N×28×28×1 float or whose output is not N×10.

    Dimensions after the batch one must be fixed numbers; the batch one may be anything.
    """

    def dims(shape: Any) -> tuple[int | None, ...]:
        return tuple(int(d) if isinstance(d, int | np.integer) and d > 0 else None for d in list(shape)[1:])

    if dims(in_shape) != (28, 28, 1):
        raise DigitsError(f"{path}: not a digit model (input shape {dims(in_shape)}, expected (28, 28, 1))")
    if "float" not in in_type:
        raise DigitsError(f"{path}: not a digit model (input type {in_type}, expected float32 images)")
    if dims(out_shape) != (10,):
        raise DigitsError(f"{path}: not a digit model (output shape {dims(out_shape)}, expected (10,))")


def _check_probabilities(path: Path, engine: Engine) -> None:
    """Run two probe images and refuse a model whose outputs are not probability vectors.

    A model with the right shapes can still end in logits or in something else altogether;
    its answers would look like digits and mean nothing.
    """
    probe = np.zeros((2, 28, 28, 1), dtype=np.float32)
    probe[1, 8:20, 12:16, 0] = 1.0  # a bar, roughly a "1"
    try:
        out = np.asarray(engine(probe), dtype=np.float64)
    except Exception as e:  # runtimes raise their own types for a model they cannot run
        raise DigitsError(f"{path}: the model cannot run ({_first_line(e)})") from None
    if out.shape != (2, 10):
        raise DigitsError(f"{path}: not a digit model (output shape {out.shape[1:]} for 28×28 images)")
    # int8 models quantize each probability to steps of 1/256, so their sums stray by ~0.01
    if not np.isfinite(out).all() or out.min() < -0.01 or np.abs(out.sum(axis=1) - 1.0).max() > 0.05:
        raise DigitsError(f"{path}: not a digit model (its outputs are not probabilities over the 10 digits)")


class OnnxEngine:
    """Runs a ``.onnx`` model on ONNX Runtime (CPU): fast to start, no TensorFlow.

    ONNX files hold a graph of standard operators and weights, no code; the model is
    checked to take 28×28×1 float images and to return 10 probabilities.
    """

    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise DigitsError(f"{path}: running .onnx models needs ONNX Runtime: pip install onnxruntime") from None
        if path.is_dir():
            raise DigitsError(f"model path {path} is a folder, not an .onnx file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: ours are reported as one line anyway
        # Worker threads that spin between calls burn CPU the web server and other processes
        # need; on the 2-core machine, not spinning was as fast or faster (bench/inference_speed.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:  # batch workers run one process per core: more threads each would only fight
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as e:  # InvalidProtobuf, InvalidArgument, Fail, ... all mean "cannot use this file"
            raise DigitsError(f"{path}: not a valid ONNX model, corrupt or truncated ({_first_line(e)})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DigitsError(
                f"{path}: not a digit model ({len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1)"
            )
        _check_io(path, inputs[0].shape, inputs[0].type, outputs[0].shape)
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        # provenance and calibration written by digits export (digits.calibration.load_record reads it)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        _check_probabilities(path, self)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self.session.run([self.output_name], {self.input_name: x})[0], dtype=np.float32)


class LiteRTEngine:
    """Runs a ``.tflite`` model with the LiteRT interpreter (``ai-edge-litert``), no TensorFlow.

    Falls back to ``tf.lite.Interpreter`` where only TensorFlow is installed. An interpreter
    is not safe to share between threads, so calls are serialized with a lock.
    """

    name = "litert"

    def __init__(self, path: Path) -> None:
        import threading

        interpreter_class = _litert_interpreter_class(path)
        if path.is_dir():
            raise DigitsError(f"model path {path} is a folder, not a .tflite file")
        try:
            self.interpreter = interpreter_class(model_path=str(path), num_threads=os.cpu_count() or 1)
        except Exception as e:  # ValueError for a bad flatbuffer, RuntimeError for unknown ops
            raise DigitsError(f"{path}: not a valid LiteRT model, corrupt or truncated ({_first_line(e)})") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DigitsError(
                f"{path}: not a digit model ({len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1)"
            )
        self._input, self._output = inputs[0], outputs[0]
        dtype = np.dtype(self._input["dtype"]).name
        _check_io(path, self._input["shape_signature"], dtype, self._output["shape_signature"])
        self._lock = threading.Lock()
        self._batch = -1
        # calibration written by digits export into the flatbuffer (digits.calibration.load_record reads it)
        from digits.calibration import read_tflite_metadata

        try:
            self.metadata = read_tflite_metadata(path.read_bytes())
        except Exception:  # a model the interpreter runs but whose schema we cannot walk: no metadata
            self.metadata = {}
        with stderr_silenced():  # the first run prints "INFO: Created TensorFlow Lite XNNPACK delegate"
            _check_probabilities(path, self)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if len(x) != self._batch:
                self.interpreter.resize_tensor_input(self._input["index"], [len(x), 28, 28, 1], strict=True)
                self.interpreter.allocate_tensors()
                self._batch = len(x)
            self.interpreter.set_tensor(self._input["index"], x)
            self.interpreter.invoke()
            return np.array(self.interpreter.get_tensor(self._output["index"]), dtype=np.float32)


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Silence C++ log lines written straight to file descriptor 2 (``DIGITS_DEBUG=1`` keeps them)."""
    if os.environ.get("DIGITS_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _litert_interpreter_class(path: Path) -> Any:
    """The LiteRT interpreter: ``ai-edge-litert``'s, else TensorFlow's, else a one-line error."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    if _installed("tensorflow"):
        import tensorflow as tf

        return tf.lite.Interpreter
    raise DigitsError(f"{path}: running .tflite models needs LiteRT: pip install 'digits[litert]'")


ENGINES: dict[str, type] = {".keras": KerasEngine, ".onnx": OnnxEngine, ".tflite": LiteRTEngine}


def resolve_model_path(model: str | os.PathLike[str] | None, *, keras: bool = False) -> Path:
    """The model file to use: the one given, or the model shipped with the package.

    The packaged default is its ONNX twin when ONNX Runtime is installed (it starts in a
    fraction of the time and needs no TensorFlow), else the ``.keras`` file. Verbs that
    need the Keras model itself (evaluate, export) pass ``keras=True``.
    """
    if model:
        return Path(model)
    from digits import pretrained

    return pretrained.model_path() if keras else pretrained.default_model_path()


def load_engine(path: Path, threads: int | None = None) -> Engine:
    """The engine for ``path``, chosen by its suffix; a clear error for anything else.

    ``threads`` caps ONNX Runtime's threads (batch workers use 1 each); other engines ignore it.
    """
    if not path.exists():
        raise DigitsError(f"model file {path} does not exist")
    engine = ENGINES.get(path.suffix.lower())
    if engine is None:
        raise DigitsError(f"{path}: unsupported model format {path.suffix!r}; use one of {', '.join(ENGINES)}")
    return engine(path, threads=threads) if engine is OnnxEngine else engine(path)


@dataclass
class Prediction:
    """One image's result: the digit, its probability, the runners-up, and a doubt flag."""

    digit: int
    probability: float
    probabilities: list[float]
    top_k: list[dict[str, float]] = field(default_factory=list)
    unsure: bool = False
    #: Set by :func:`digits.nondigit.mark` for whole images: the image holds no digit (``digit`` is then
    #: the classifier's guess, reported as null in JSON). ``p_not_digit`` is None where it was not asked.
    not_a_digit: bool = False
    p_not_digit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "digit": None if self.not_a_digit else self.digit,
            "probability": self.probability,
            "top_k": self.top_k,
            "unsure": self.unsure,
            "probabilities": self.probabilities,
        }
        if self.p_not_digit is not None:
            out.update(not_a_digit=self.not_a_digit, p_not_digit=self.p_not_digit)
        return out


def as_batch(images: np.ndarray) -> np.ndarray:
    """Check and convert MNIST-like images to float32 N×28×28×1 in [0, 1]."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DigitsError(f"expected 28x28 images, got an array of shape {np.asarray(images).shape}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
        if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
            raise DigitsError("expected image values in [0, 1] (or uint8)")
    return x[..., None]


class Predictor:
    """Load a model once; classify MNIST-like 28×28 images in batches.

    Every problem a caller can fix (a missing or bad model file, an unreadable image, a blank
    page) raises :class:`digits.errors.DigitsError` with a one-line message; anything else is a bug.

    The probabilities are the model's own: a calibrated model has its temperature folded into its
    weights, so every engine returns the calibrated ones. Its calibration record (found beside or
    inside the model file, :func:`digits.calibration.load_record`) sets ``unsure_below``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        batch_size: int = 512,
        threads: int | None = None,
        reject_non_digits: bool = True,
    ) -> None:
        from digits.calibration import load_record

        self.path = resolve_model_path(model)
        self.engine = load_engine(self.path, threads)
        self.batch_size = batch_size
        self.calibration = load_record(self.path, getattr(self.engine, "metadata", None))
        #: top probability below which an answer is flagged unsure: the calibrated model's chosen one
        self.unsure_below = float(self.calibration["unsure_below"]) if self.calibration else UNSURE_BELOW
        #: the temperature folded into the weights (1.0: none); log-probabilities times it are the
        #: uncalibrated model's, for rules fitted before calibration (the reader's split rule)
        self.temperature = float(self.calibration["temperature"]) if self.calibration else 1.0
        #: Whether whole images (predict_image, predict_files) are also checked for "not a digit".
        self.reject_non_digits = reject_non_digits

    def _mark_non_digits(self, predictions: Sequence[Prediction], images: np.ndarray) -> None:
        """Flag the images that hold no digit at all (the separate model of :mod:`digits.nondigit`)."""
        if self.reject_non_digits:
            from digits.nondigit import mark

            mark(predictions, images)

    def __repr__(self) -> str:
        return f"Predictor({os.fspath(self.path)!r}, engine={self.engine_name!r}, batch_size={self.batch_size})"

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """N×10 class probabilities for N images."""
        x = as_batch(images)
        if len(x) == 0:
            return np.zeros((0, 10), dtype=np.float32)
        parts = [self.engine(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(parts)

    def predict(self, images: np.ndarray, top_k: int = 3) -> list[Prediction]:
        """One :class:`Prediction` per image."""
        return [self.describe(p, top_k) for p in self.probabilities(images)]

    def describe(self, probs: np.ndarray, top_k: int = 3) -> Prediction:
        """Turn one probability vector into a :class:`Prediction`, flagged unsure below ``unsure_below``."""
        order = np.argsort(-probs)
        best = int(order[0])
        return Prediction(
            digit=best,
            probability=rounded(probs[best]),
            probabilities=[rounded(p) for p in probs],
            top_k=[{"digit": int(d), "probability": rounded(probs[d])} for d in order[: max(1, top_k)]],
            unsure=bool(probs[best] < self.unsure_below),
        )

    # -- images and files: the preprocessing of digits.preprocess, then the model ----------------

    def predict_image(self, image: ImageSource, top_k: int = 3) -> Prediction:
        """Classify one image of one digit (a path, file bytes, Pillow image or array of any size).

        The image is prepared the way MNIST was (:func:`digits.preprocess.to_mnist`); a blank
        image raises ``DigitsError("photo.png: no ink found ...")`` rather than getting a digit.
        For a path, the message starts with the file's name.
        """
        from digits.preprocess import image_to_mnist

        with named(image):
            x = image_to_mnist(image)[None]
        predictions = self.predict(x, top_k)
        self._mark_non_digits(predictions, x)
        return predictions[0]

    def predict_files(
        self, sources: Sequence[ImageSource], top_k: int = 3, workers: int | None = None
    ) -> list[ImageResult]:
        """Classify many images of one digit each; a bad one gets an ``error`` and the rest go on.

        Returns one :class:`ImageResult` per source, in order: ``.source`` (the path as given, or
        ``<bytes>``/``<ndarray>``/... for other sources), then either ``.prediction`` and ``.image``
        (the 28×28 the model saw) or ``.error`` (the one-line reason, without the file name).
        Decoding and preprocessing run in ``workers`` threads (default: one per CPU, at most 4),
        then the model classifies the whole lot in batches.
        """
        from digits.preprocess import image_to_mnist

        def prepare(source: ImageSource) -> np.ndarray | str:
            try:
                return image_to_mnist(source)
            except DigitsError as e:
                return str(e)

        sources = list(sources)
        workers = workers or min(4, os.cpu_count() or 1)
        if workers > 1 and len(sources) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as pool:
                prepared = list(pool.map(prepare, sources))
        else:
            prepared = [prepare(s) for s in sources]
        good = [i for i, x in enumerate(prepared) if not isinstance(x, str)]
        predictions: list[Prediction] = []
        if good:
            images = np.stack([prepared[i] for i in good])
            predictions = self.predict(images, top_k)
            self._mark_non_digits(predictions, images)
        results = [
            ImageResult(_source_name(s), error=x if isinstance(x, str) else None)
            for s, x in zip(sources, prepared, strict=True)
        ]
        for i, prediction in zip(good, predictions, strict=True):
            results[i].prediction = prediction
            results[i].image = prepared[i]  # type: ignore[assignment]
        return results

    def predict_many(self, inputs: Sequence[str | os.PathLike[str]], *, workers: int | None = None, **options: Any):
        """Files, folders, globs or tables of many images, on all cores: see :func:`digits.batch.predict_many`."""
        from digits.batch import predict_many

        return predict_many(inputs, model=self.path, workers=workers, **options)


if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


#: What the image methods accept: a file path, the file's bytes, a Pillow image or an array.
ImageSource = Union[str, os.PathLike, bytes, "PILImage", np.ndarray]


@contextlib.contextmanager
def named(source: ImageSource) -> Iterator[None]:
    """Put a path's name in front of a ``DigitsError`` raised while reading it (``photo.png: no such file``)."""
    try:
        yield
    except DigitsError as e:
        if isinstance(source, str | os.PathLike):
            raise DigitsError(f"{os.fspath(source)}: {e}") from None
        raise


def _source_name(source: ImageSource) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


@dataclass
class ImageResult:
    """One file's outcome in a batch: its prediction (and the 28×28 the model saw), or why it failed.

    ``source`` names the input: the path as given, or ``<bytes>``, ``<ndarray>``, ... for in-memory images.
    """

    source: str
    prediction: Prediction | None = None
    error: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        if self.prediction is None:
            return {"file": self.source, "error": self.error}
        return {"file": self.source, **self.prediction.to_dict()}
