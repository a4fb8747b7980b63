"""Training: presets, the input pipeline with augmentation, callbacks, and the run folder.

A run folder (``runs/train-N`` by default) ends up holding:

- ``model.keras``: the weights of the epoch with the best validation accuracy, saved
  without optimizer state, rewritten atomically whenever validation improves;
- ``options.json``: the exact options of the run;
- ``history.csv`` and ``curves.png``: loss and accuracy per epoch, train vs validation;
- ``metrics.json``: the test-set report, written once training is over;
- ``backup/``: Keras' ``BackupAndRestore`` state while training, for ``--resume``.

The test set is touched once, after training, for the final report. Every choice during
training (the checkpoint kept, the learning rate) is driven by the validation split.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from digits.errors import DigitsError
from digits.fsutil import ensure_dir, write_json, write_text


@dataclass(frozen=True)
class Augment:
    """Random geometric and stroke changes applied to each training image, every epoch.

    They model how handwriting really varies (slant, size, aspect, position, pen width)
    rather than MNIST-specific quirks.
    """

    rotate_deg: float = 10.0
    scale: float = 0.1  # zoom factor drawn from [1 - scale, 1 + scale]
    aspect: float = 0.1  # extra horizontal stretch drawn from [1 - aspect, 1 + aspect]
    shear: float = 0.15  # horizontal shear (slant), tan of the angle
    shift_px: float = 2.0
    stroke: float = 0.5  # chance an image gets a thicker or thinner pen


@dataclass(frozen=True)
class Preset:
    """Everything that defines a training recipe apart from the seed."""

    arch: str
    epochs: int
    batch_size: int
    lr: float  # peak learning rate reached after warm-up
    warmup_epochs: float = 1.0
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    augment: Augment | None = field(default_factory=Augment)
    val_size: int = 5000
    schedule: str = "cosine"  # "cosine": warm-up then cosine decay; "constant": lr throughout
    bf16: bool = False  # compute in bfloat16 (weights stay float32) where the CPU does it natively
    description: str = ""


PRESETS: dict[str, Preset] = {
    "reference": Preset(
        arch="reference",
        epochs=15,
        batch_size=128,
        lr=1e-3,
        warmup_epochs=0,
        weight_decay=0.0,
        label_smoothing=0.0,
        augment=None,
        val_size=6000,
        schedule="constant",
        description="the Keras 'simple MNIST convnet' example, the benchmark's yardstick",
    ),
    "fast": Preset(
        arch="small",
        epochs=2,
        batch_size=256,
        lr=1e-2,
        warmup_epochs=0.3,
        augment=None,
        bf16=True,
        description="for trying things: >= 99.0% in well under a minute",
    ),
    "default": Preset(
        arch="medium",
        epochs=12,
        batch_size=128,
        lr=3e-3,
        description="what `digits train` does: >= 99.5% in a few minutes",
    ),
    "best": Preset(
        arch="large",
        epochs=20,
        batch_size=128,
        lr=2e-3,
        description="highest single-model accuracy, about 11 minutes on 2 cores",
    ),
}


@dataclass(frozen=True)
class TrainOptions:
    """The options of one run, as given on the command line; saved to ``options.json``."""

    preset: str = "default"
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    out: str | None = None
    data_dir: str | None = None
    limit: int | None = None  # train on only the first N training images (quick runs, tests)
    ensemble: int = 1  # train this many members (seeds seed, seed+1, ...) and average them
    val_size: int | None = None  # images held out for validation; 0 trains on all 60,000

    def resolved(self) -> Preset:
        """The preset with this run's overrides applied, after checking every value."""
        if self.preset not in PRESETS:
            raise DigitsError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        p = PRESETS[self.preset]
        if self.epochs is not None:
            if self.epochs < 1:
                raise DigitsError(f"--epochs must be at least 1, got {self.epochs}")
            p = replace(p, epochs=self.epochs)
        if self.batch_size is not None:
            if self.batch_size < 1:
                raise DigitsError(f"--batch-size must be at least 1, got {self.batch_size}")
            p = replace(p, batch_size=self.batch_size)
        if self.limit is not None and self.limit < 2 * 10:
            raise DigitsError(f"--limit must be at least 20 images, got {self.limit}")
        if self.seed < 0:
            raise DigitsError(f"--seed must be a non-negative integer, got {self.seed}")
        if self.ensemble < 1:
            raise DigitsError(f"--ensemble must be at least 1, got {self.ensemble}")
        if self.val_size is not None:
            if not 0 <= self.val_size <= 30_000:
                raise DigitsError(f"--val-size must be between 0 and 30000, got {self.val_size}")
            p = replace(p, val_size=self.val_size)
        return p


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    model_path: Path
    metrics: dict[str, Any]


def next_run_dir(root: str | os.PathLike[str] = "runs", prefix: str = "train") -> Path:
    """``runs/train-N`` with the smallest N not yet taken, created atomically."""
    root_path = ensure_dir(root)
    n = 1
    while True:
        candidate = root_path / f"{prefix}-{n}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
        except OSError as e:
            raise DigitsError(f"cannot create run folder {candidate}: {e.strerror or e}") from None


def versions() -> dict[str, str]:
    """Versions of what produced a result, recorded in ``metrics.json``."""
    import keras

    out = {"python": platform.python_version(), "keras": keras.__version__, "numpy": np.__version__}
    out["backend"] = keras.backend.backend()
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return out


def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX).

    Without it, TensorFlow emulates bfloat16 and mixed precision would slow training down.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


# ---------------------------------------------------------------------------------------
# Input pipeline


def _affine_transforms(aug: Augment, uni: Callable[[float, float], Any]):
    """One random affine warp per image, as ``ImageProjectiveTransformV3`` rows (output -> input).

    ``uni(lo, hi)`` draws one uniform number per image of the batch.
    """
    import tensorflow as tf

    angle = uni(-aug.rotate_deg, aug.rotate_deg) * (math.pi / 180.0)
    zoom = uni(1 - aug.scale, 1 + aug.scale)
    sx = zoom * uni(1 - aug.aspect, 1 + aug.aspect)
    sy = zoom
    shear = uni(-aug.shear, aug.shear)
    tx = uni(-aug.shift_px, aug.shift_px)
    ty = uni(-aug.shift_px, aug.shift_px)
    # Output pixel -> input pixel: rotate, shear, then undo the scale, about the centre.
    cos, sin = tf.cos(angle), tf.sin(angle)
    a0 = cos / sx
    a1 = (cos * shear - sin) / sy
    b0 = sin / sx
    b1 = (sin * shear + cos) / sy
    c = 13.5
    a2 = c - a0 * (c + tx) - a1 * (c + ty)
    b2 = c - b0 * (c + tx) - b1 * (c + ty)
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _pen_width(images, aug: Augment, uni: Callable[[float, float], Any]):
    """Make the pen thicker or thinner (a partial 2×2 dilation or erosion) for some images."""
    import tensorflow as tf

    if aug.stroke > 0:
        thick = tf.nn.max_pool2d(images, 2, 1, "SAME")
        thin = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
        amount = uni(-1.0, 1.0) * tf.cast(uni(0.0, 1.0) < aug.stroke, tf.float32)
        amount = tf.reshape(amount, [-1, 1, 1, 1])
        images = tf.where(amount > 0, images + amount * (thick - images), images - amount * (thin - images))
    return tf.clip_by_value(images, 0.0, 1.0)


def _batch_uniform(n, seed, num: int):
    """A ``uni(lo, hi)`` drawing one number per image, each call from its own stateless key."""
    import tensorflow as tf

    seeds = iter(tf.unstack(tf.random.experimental.stateless_split(seed, num=num)))

    def uni(lo: float, hi: float):
        return tf.random.stateless_uniform([n], next(seeds), lo, hi)

    return uni


def _augment_batch(images, aug: Augment, seed):
    """Apply one random affine warp and pen-width change per image, on a whole batch.

    Stateless random ops keyed by ``seed`` (one per batch, from a seeded stream) make the
    augmentation depend on the run's seed alone, not on what else the process has done.
    """
    import tensorflow as tf

    uni = _batch_uniform(tf.shape(images)[0], seed, num=10)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=_affine_transforms(aug, uni),
        output_shape=tf.constant([28, 28]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return _pen_width(images, aug, uni)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    augment: Augment | None = None,
):
    """A ``tf.data`` pipeline of (float image batch, one-hot labels), prefetched.

    Shuffling draws a fresh permutation of indices each epoch and gathers whole batches,
    instead of ``Dataset.shuffle`` over the images, whose 55,000-image buffer had to refill
    before the first step of every epoch.
    """
    import tensorflow as tf

    n = len(x)
    images, labels = tf.constant(x), tf.constant(y)
    # Two random streams fixed by the seed, fresh every epoch: one key for the epoch's
    # permutation, and one key per batch for its augmentation.
    seed = shuffle_seed or 0
    full = n - n % batch_size

    def _batched(order):
        """Index batches of ``order`` without going through it one element at a time."""
        ds = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], [-1, batch_size]))
        return ds.concatenate(tf.data.Dataset.from_tensors(order[full:])) if full < n else ds

    if shuffle_seed is not None:
        epoch_key = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(2).batch(2)

        def permuted(key):
            return _batched(tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key))

        ds = epoch_key.flat_map(permuted)
    else:
        ds = _batched(tf.range(n, dtype=tf.int64))
    ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(n / batch_size)))
    keys = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(ds, keys)

    def to_float(index, key):
        batch = tf.cast(tf.gather(images, index), tf.float32)[..., None] / 255.0
        if augment is not None:
            batch = _augment_batch(batch, augment, key)
        return batch, tf.one_hot(tf.cast(tf.gather(labels, index), tf.int32), 10)

    # Fixed parallelism instead of tf.data's autotuner: its background thread sleeps in
    # ever-longer intervals (up to a minute), and tearing an iterator down waits for it to
    # wake up, which stalled each epoch's start or the end of training by seconds.
    options = tf.data.Options()
    options.autotune.enabled = False
    ds = ds.map(to_float, num_parallel_calls=2, deterministic=True).prefetch(4)
    return ds.with_options(options)


# ---------------------------------------------------------------------------------------
# Callbacks


def _make_recorder(run_dir: Path, save_model: Any, state: dict[str, Any]):
    """A callback that keeps the best-on-validation model and the history files current.

    Without a validation split there is nothing to choose by, so it keeps the latest epoch.
    """
    import keras

    class RunRecorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            row = {"epoch": epoch + 1, **logs}
            row["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            state["history"] = [h for h in state["history"] if h["epoch"] < epoch + 1] + [row]
            val = logs.get("val_accuracy")
            if val is None or state["best_epoch"] is None or val >= state["best_val_accuracy"]:
                state["best_epoch"] = epoch + 1
                state["best_val_accuracy"] = val if val is not None else 0.0
                save_model(self.model)
            write_history(run_dir, state)

    return RunRecorder()


#: The resume checkpoint of epoch N is ``backup/epoch-N.weights.h5`` (weights and optimizer state); the
#: epoch is in the name so that a file and its epoch can never disagree.
BACKUP_PATTERN = "epoch-*.weights.h5"


def _backup_epoch(path: Path) -> int | None:
    try:
        return int(path.name.removeprefix("epoch-").removesuffix(".weights.h5"))
    except ValueError:
        return None


def _backups(folder: Path) -> list[tuple[int, Path]]:
    """The resume checkpoints in ``folder``, newest first (with the one an older version wrote, if any)."""
    if not folder.is_dir():
        return []
    found = [(_backup_epoch(p), p) for p in folder.glob(BACKUP_PATTERN)]
    found = sorted(((e, p) for e, p in found if e is not None and e > 0), reverse=True)
    legacy = folder / "latest.weights.h5"  # keras.callbacks.BackupAndRestore's, before this callback
    try:
        epoch = int(json.loads((folder / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        epoch = 0
    if legacy.is_file() and epoch > 0:
        found = sorted([*found, (epoch, legacy)], reverse=True)
    return found


def _make_backup(folder: Path):
    """A callback that saves the resume checkpoint after each epoch and drops the backup folder at the end.

    Unlike ``keras.callbacks.BackupAndRestore``, which rewrites ``latest.weights.h5`` in place (a kill
    during that write, on the first epoch, left nothing to resume from), each checkpoint is written to a
    temporary name and renamed; the one before it is kept until the new one is whole.
    """
    import keras

    class Backup(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            ensure_dir(folder)
            dest = folder / f"epoch-{epoch + 1}.weights.h5"
            tmp = folder / f".tmp-{os.getpid()}.{dest.name}"  # Keras wants the name to end in .weights.h5
            try:
                self.model.save_weights(tmp, overwrite=True)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
                os.replace(tmp, dest)
            except Exception as e:  # a full disk or a file-size limit: one line, the earlier checkpoint kept
                tmp.unlink(missing_ok=True)
                raise DigitsError(f"cannot write the resume checkpoint {dest}: {_first_line(e)}") from None
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            for _, older in _backups(folder)[2:]:  # keep this one and the one before
                older.unlink(missing_ok=True)

        def on_train_end(self, logs: dict[str, float] | None = None) -> None:
            shutil.rmtree(folder, ignore_errors=True)

    return Backup()


def restore_backup(model: Any, folder: Path) -> int:
    """Load the newest readable resume checkpoint in ``folder`` into ``model``; return its epoch (0: none).

    A torn or unreadable checkpoint (the process was killed, the disk filled) is passed over for the
    one before it, and with none readable the run starts again from its first epoch; either way one
    line on stderr says so. Leftover temporary files of a killed write are removed.
    """
    leftovers = list(folder.glob(".tmp-*")) if folder.is_dir() else []
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    found = _backups(folder)
    if not found:
        if leftovers:
            notice = "the run stopped while writing its first resume checkpoint; training again from the first epoch"
            print(f"digits: {notice}", file=sys.stderr)
        return 0
    import keras

    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so that its state is loaded too
    variables = list(model.weights) + (list(model.optimizer.variables) if model.optimizer is not None else [])
    fresh = [keras.ops.convert_to_numpy(v) for v in variables]
    unreadable = []
    for epoch, path in found:
        try:
            model.load_weights(path)
        except Exception as e:  # h5py, Keras and OS errors alike mean "unreadable"
            for variable, value in zip(variables, fresh, strict=True):  # undo a partial load
                variable.assign(value)
            unreadable.append(f"the resume checkpoint after epoch {epoch} is unreadable ({_first_line(e)})")
            continue
        if unreadable:
            print(f"digits: {'; '.join(unreadable)}; resuming from the one after epoch {epoch}", file=sys.stderr)
        return epoch
    print(f"digits: {'; '.join(unreadable)}; training again from the first epoch", file=sys.stderr)
    return 0


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _make_test_curve(x_test: np.ndarray, y_test: np.ndarray, path: Path):
    """Benchmark-only: log test accuracy after each epoch against training seconds.

    Enabled by ``DIGITS_BENCH_TEST_CURVE=FILE`` for ``digits benchmark train``. It only
    records; nothing in training reads it. The time spent evaluating is kept off the clock.
    """
    import keras

    from digits.evaluate import predict_proba

    class TestCurve(keras.callbacks.Callback):
        def on_train_begin(self, logs=None) -> None:
            self.start = time.perf_counter()
            self.eval_seconds = 0.0
            self.points: list[dict[str, float]] = []

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            now = time.perf_counter()
            acc = float((predict_proba(self.model, x_test).argmax(axis=1) == y_test).mean())
            self.points.append(
                {"epoch": epoch + 1, "seconds": now - self.start - self.eval_seconds, "test_accuracy": acc}
            )
            self.eval_seconds += time.perf_counter() - now
            write_json(path, {"points": self.points, "eval_seconds": self.eval_seconds})

    return TestCurve()


def write_history(run_dir: Path, state: dict[str, Any]) -> None:
    """Rewrite ``history.csv``, ``state.json`` and ``curves.png`` from the epochs so far."""
    history = state["history"]
    if not history:
        return
    buf = io.StringIO()
    keys = list(history[-1].keys())
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    write_text(run_dir / "history.csv", buf.getvalue())
    write_json(run_dir / "state.json", state)
    plot_curves(history, run_dir / "curves.png")


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch, train vs validation, side by side."""
    from digits.evaluate import _pyplot
    from digits.fsutil import atomic_path

    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((ax1, "loss", "loss"), (ax2, "accuracy", "accuracy (%)")):
        scale = 100 if metric == "accuracy" else 1
        for prefix, name in (("", "train"), ("val_", "validation")):
            values = [h.get(prefix + metric) for h in history]
            if all(v is not None for v in values):
                ax.plot(epochs, [v * scale for v in values], marker="o", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax2.set_ylim(bottom=max(90.0, ax2.get_ylim()[0]))
    fig.suptitle("Training curves (train accuracy is measured on augmented images)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# The run


def _compile(model: Any, preset: Preset, steps_per_epoch: int) -> None:
    import keras

    if preset.schedule == "constant":
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=preset.lr),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=preset.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        return
    total = max(1, preset.epochs * steps_per_epoch)
    warmup = min(total - 1, int(preset.warmup_epochs * steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=preset.lr / 20,
        decay_steps=max(1, total - warmup),
        alpha=0.01,
        warmup_target=preset.lr if warmup > 0 else None,
        warmup_steps=warmup,
    )
    if warmup == 0:
        schedule = keras.optimizers.schedules.CosineDecay(preset.lr, total, alpha=0.01)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=preset.weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=preset.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


@dataclass
class TrainData:
    """The images one run trains and validates on, and the pipelines that feed them to Keras."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    steps_per_epoch: int
    train_ds: Any  # tf.data.Dataset of augmented, shuffled batches
    val_ds: Any  # tf.data.Dataset, or None without a validation split


@dataclass
class Built:
    """The compiled network that trains, and its float32 twin that is saved."""

    model: Any
    clean: Any  # uncompiled, float32: ``model.keras`` is written from it, so no optimizer state is saved
    bf16: bool


def train(
    options: TrainOptions, run_dir: str | os.PathLike[str] | None = None, verbose: int | None = None
) -> TrainResult:
    """Train a model as ``options`` say and write a complete run folder.

    ``run_dir`` names an existing run to resume (its ``options.json`` wins over
    ``options``); otherwise a new folder is made under ``options.out`` or ``runs/``.
    The steps, each its own function: :func:`prepare_data`, :func:`build`, :func:`fit`, :func:`report`.
    """
    started = time.time()
    resumed = run_dir is not None
    if resumed:
        run_path = Path(run_dir)
        options = resume_options(run_path)
    preset = options.resolved()
    if options.ensemble > 1:
        return _train_ensemble(options, run_path if resumed else None, verbose)

    from digits import data

    mnist = data.load_mnist(options.data_dir)
    if not resumed:
        run_path = start_run_folder(options)

    import keras

    state = load_state(run_path, resumed)
    # A resumed run reseeds by the epochs already done, so the remaining epochs see fresh
    # shuffles and augmentations instead of replaying the first epochs' ones.
    seed = options.seed + 1000 * len(state["history"])
    keras.utils.set_random_seed(seed)
    prepared = prepare_data(mnist, preset, seed, options.limit)
    built = build(preset, prepared.steps_per_epoch)
    test_curve = os.environ.get("DIGITS_BENCH_TEST_CURVE")
    train_seconds = fit(
        built,
        prepared,
        preset,
        run_path,
        state,
        verbose=verbose,
        announce=announcement(options, preset, built.model.count_params(), prepared, run_path),
        test_curve=(mnist.x_test, mnist.y_test, Path(test_curve)) if test_curve else None,
    )
    metrics = report(run_path, options, preset, built, prepared, state, mnist, train_seconds, started)
    return TrainResult(run_path, run_path / "model.keras", metrics)


def resume_options(run_path: Path) -> TrainOptions:
    """The options saved in an unfinished run folder, or a one-line reason it cannot be resumed."""
    saved = run_path / "options.json"
    if not saved.is_file():
        raise DigitsError(f"{run_path} is not a run folder (no options.json)")
    try:
        options = TrainOptions(**json.loads(saved.read_text()))
    except (ValueError, TypeError) as e:
        raise DigitsError(f"{saved}: unreadable options ({e})") from None
    if (run_path / "metrics.json").exists():
        raise DigitsError(f"{run_path} already finished (metrics.json exists); nothing to resume")
    return options


def start_run_folder(options: TrainOptions) -> Path:
    """Make the run folder (``--out`` or the next ``runs/train-N``) and write ``options.json`` into it."""
    run_path = ensure_dir(options.out) if options.out else next_run_dir()
    if options.out and (run_path / "metrics.json").exists():
        raise DigitsError(f"{run_path} already holds a finished run; choose another --out")
    write_json(run_path / "options.json", asdict(options))
    return run_path


def load_state(run_path: Path, resumed: bool) -> dict[str, Any]:
    """The epochs recorded so far (``state.json``); a resume is counted at once, even if it is killed too."""
    state_file = run_path / "state.json"
    state: dict[str, Any] = {"history": [], "best_epoch": None, "best_val_accuracy": 0.0, "resumes": 0}
    if resumed and state_file.is_file():
        state = json.loads(state_file.read_text())
    if resumed:
        state["resumes"] = state.get("resumes", 0) + 1
        write_json(state_file, state)
    return state


def prepare_data(mnist: Any, preset: Preset, seed: int, limit: int | None = None) -> TrainData:
    """Step 1: the fixed validation split, the optional ``--limit``, and the two ``tf.data`` pipelines."""
    from digits import data

    x_train, y_train, x_val, y_val = data.split_validation(mnist.x_train, mnist.y_train, preset.val_size)
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    steps = math.ceil(len(x_train) / preset.batch_size)
    train_ds = make_dataset(x_train, y_train, preset.batch_size, shuffle_seed=seed, augment=preset.augment)
    val_ds = make_dataset(x_val, y_val, 1024) if len(x_val) else None
    return TrainData(x_train, y_train, x_val, y_val, steps, train_ds, val_ds)


def build(preset: Preset, steps_per_epoch: int) -> Built:
    """Step 2: the network, compiled with the preset's optimizer and schedule, and its float32 twin.

    The saved model is a fresh, uncompiled twin (so no optimizer state is saved with it;
    ``keras.models.clone_model`` would compile it) that computes in float32 whatever precision
    trained it. The preset, not a global policy the caller may have set, decides the precision.
    """
    import keras

    from digits.model import build_model

    bf16 = preset.bf16 and native_bf16()
    policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("float32")
        clean = build_model(preset.arch)
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")
        model = build_model(preset.arch)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    _compile(model, preset, steps_per_epoch)
    return Built(model, clean, bf16)


def announcement(options: TrainOptions, preset: Preset, params: int, prepared: TrainData, run_path: Path) -> str:
    """The line printed as training starts: what is trained, on how much, and where it goes."""
    return (
        f"training preset {options.preset!r} ({preset.arch}, {params:,} parameters) for "
        f"{_count(preset.epochs, 'epoch')} on {len(prepared.x_train):,} images, "
        f"validating on {len(prepared.x_val):,}; run folder {run_path}"
    )


def fit(
    built: Built,
    prepared: TrainData,
    preset: Preset,
    run_path: Path,
    state: dict[str, Any],
    *,
    verbose: int | None = None,
    announce: str | None = None,
    test_curve: tuple[np.ndarray, np.ndarray, Path] | None = None,
) -> float:
    """Step 3: train with the callbacks that keep the run folder current; return the training seconds.

    The best-on-validation epoch is saved to ``model.keras`` as it happens and a resume
    checkpoint to ``backup/``; Ctrl-C keeps the best checkpoint and says how to resume.
    """
    model_path = run_path / "model.keras"

    def save_model(m: Any) -> None:
        from digits.fsutil import atomic_path

        built.clean.set_weights(m.get_weights())
        with atomic_path(model_path) as tmp:
            built.clean.save(tmp)

    # The recorder runs first so that a kill between the two callbacks only means the
    # epoch is trained again on resume, never a checkpoint ahead of the history.
    backup = run_path / "backup"
    initial_epoch = restore_backup(built.model, backup)
    callbacks = [_make_recorder(run_path, save_model, state), _make_backup(backup)]
    if test_curve is not None:
        callbacks.append(_make_test_curve(*test_curve))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    if announce:
        print(announce, flush=True)
    fit_start = time.time()
    try:
        built.model.fit(
            prepared.train_ds,
            epochs=preset.epochs,
            initial_epoch=initial_epoch,
            validation_data=prepared.val_ds,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles
        )
    except KeyboardInterrupt:
        where = (
            f"the best checkpoint so far (epoch {state['best_epoch']}) is {model_path}"
            if state["best_epoch"]
            else "no epoch finished, so there is no checkpoint"
        )
        raise KeyboardInterrupt(
            f"training interrupted; {where}; continue with: digits train --resume {run_path}"
        ) from None
    return time.time() - fit_start


def report(
    run_path: Path,
    options: TrainOptions,
    preset: Preset,
    built: Built,
    prepared: TrainData,
    state: dict[str, Any],
    mnist: Any,
    train_seconds: float,
    started: float,
) -> dict[str, Any]:
    """Step 4: score the kept checkpoint once on the test set and write ``metrics.json``."""
    import keras

    from digits.calibration import calibrate_model_file  # temperature and unsure threshold, on validation
    from digits.evaluate import compute_metrics, predict_proba

    model_path = run_path / "model.keras"
    x_val, y_val = prepared.x_val, prepared.y_val
    split = f"the validation split ({len(x_val)} training images, data.split_validation seed 0)"
    calibration = calibrate_model_file(model_path, x_val, y_val, split=split) if len(x_val) else None
    best = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    test = compute_metrics(mnist.y_test, predict_proba(best, mnist.x_test))
    n_val = len(prepared.x_val)
    metrics: dict[str, Any] = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_errors": test["errors"],
        "per_class_accuracy": {d: m["recall"] for d, m in test["per_class"].items()},
        "val_accuracy": state["best_val_accuracy"] if n_val else None,
        "best_epoch": state["best_epoch"],
        "epochs": preset.epochs,
        "train_seconds": round(train_seconds, 2),
        "total_seconds": round(time.time() - started, 2),
        "seed": options.seed,
        "preset": options.preset,
        "arch": preset.arch,
        "params": int(built.model.count_params()),
        "batch_size": preset.batch_size,
        "precision": "mixed_bfloat16" if built.bf16 else "float32",
        "train_images": len(prepared.x_train),
        "val_images": n_val,
        "resumed": state["resumes"] > 0,
        "resumes": state["resumes"],
        "recipe": asdict(preset),
        "versions": versions(),
        "command": _command_line(),
        "calibration": calibration,
    }
    write_json(run_path / "metrics.json", metrics)
    (run_path / "state.json").unlink(missing_ok=True)
    return metrics


def _train_ensemble(options: TrainOptions, run_path: Path | None, verbose: int | None) -> TrainResult:
    """Train ``options.ensemble`` members with consecutive seeds and save their average.

    Each member is a complete run folder (``member-1``, ``member-2``, ...) of its own, so an
    interrupted ensemble resumes member by member.
    """
    started = time.time()
    if run_path is None:
        run_path = ensure_dir(options.out) if options.out else next_run_dir()
        if (run_path / "metrics.json").exists():
            raise DigitsError(f"{run_path} already holds a finished run; choose another --out")
        write_json(run_path / "options.json", asdict(options))
    member_metrics = []
    for i in range(options.ensemble):
        member_dir = run_path / f"member-{i + 1}"
        print(f"ensemble member {i + 1}/{options.ensemble} (seed {options.seed + i})", flush=True)
        try:
            if (member_dir / "metrics.json").is_file():
                member_metrics.append(json.loads((member_dir / "metrics.json").read_text()))
                continue
            if (member_dir / "options.json").is_file():
                result = train(TrainOptions(), run_dir=member_dir, verbose=verbose)
            else:
                member = replace(options, seed=options.seed + i, out=str(member_dir), ensemble=1)
                result = train(member, verbose=verbose)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"ensemble interrupted in member {i + 1}; finished members are kept; "
                f"continue with: digits train --resume {run_path}"
            ) from None
        member_metrics.append(result.metrics)

    from digits import data
    from digits.evaluate import compute_metrics, predict_proba
    from digits.fsutil import atomic_path
    from digits.model import ensemble, load_model

    members = [load_model(run_path / f"member-{i + 1}" / "model.keras") for i in range(options.ensemble)]
    combined = ensemble(members)
    model_path = run_path / "model.keras"
    with atomic_path(model_path) as tmp:
        combined.save(tmp)
    mnist = data.load_mnist(options.data_dir)
    test = compute_metrics(mnist.y_test, predict_proba(combined, mnist.x_test))
    metrics: dict[str, Any] = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_errors": test["errors"],
        "per_class_accuracy": {d: m["recall"] for d, m in test["per_class"].items()},
        "ensemble": options.ensemble,
        "member_test_accuracy": [m["test_accuracy"] for m in member_metrics],
        "epochs": member_metrics[0]["epochs"],
        "train_seconds": round(sum(m["train_seconds"] for m in member_metrics), 2),
        "total_seconds": round(time.time() - started, 2),
        "seed": options.seed,
        "preset": options.preset,
        "arch": member_metrics[0]["arch"],
        "params": int(combined.count_params()),
        "versions": versions(),
        "command": _command_line(),
    }
    write_json(run_path / "metrics.json", metrics)
    return TrainResult(run_path, model_path, metrics)


def _count(n: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _command_line() -> str | None:
    """The ``digits ...`` command that is running, if this process is the CLI."""
    if Path(sys.argv[0]).name in ("digits", "__main__.py"):
        return "digits " + " ".join(sys.argv[1:])
    return None
