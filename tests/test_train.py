"""A short real training run, its run folder, and saving/loading the model it made."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from digits.errors import DigitsError
from digits.train import PRESETS, TrainOptions


def test_short_run_learns_real_digits(trained_run):
    # 8,000 training images, 3 epochs: must already exceed 90% on 10,000 held-out test digits.
    assert trained_run.metrics["test_accuracy"] > 0.90
    assert trained_run.metrics["train_images"] == 8000


def test_run_folder_holds_everything(trained_run):
    folder = trained_run.run_dir
    for name in ("model.keras", "metrics.json", "history.csv", "curves.png", "options.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "backup").exists(), "the resume backup is removed when a run finishes"
    assert not [p for p in folder.iterdir() if ".tmp" in p.name], "temporary files left behind"

    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "per_class_accuracy", "epochs", "train_seconds", "seed", "preset"):
        assert key in metrics, key
    assert 0 <= metrics["test_accuracy"] <= 1
    assert sorted(metrics["per_class_accuracy"]) == [str(d) for d in range(10)]
    assert metrics["seed"] == 1 and metrics["preset"] == "fast" and metrics["epochs"] == 3
    for key in ("python", "keras", "tensorflow"):
        assert metrics["versions"][key]

    options = json.loads((folder / "options.json").read_text())
    assert options["limit"] == 8000 and options["epochs"] == 3

    with open(folder / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_model_reloads_with_identical_predictions(trained_run, test_subset):
    from digits.evaluate import compute_metrics, predict_proba
    from digits.model import load_model

    x, y = test_subset
    first = load_model(trained_run.model_path)
    second = load_model(trained_run.model_path)
    p1, p2 = predict_proba(first, x), predict_proba(second, x)
    np.testing.assert_array_equal(p1, p2)
    # The reloaded model is the one the run reported on.
    assert compute_metrics(y, p1)["accuracy"] > 0.90
    # Saved without optimizer state: the file carries weights and architecture only.
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(trained_run.model_path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        assert "optimizer" not in f, "optimizer state was saved with the model"


def test_bf16_training_saves_a_float32_model(trained_run):
    """`fast` computes in bfloat16 where the CPU has it natively; what it saves is float32 throughout."""
    import keras

    from digits.model import load_model
    from digits.train import native_bf16

    expected = "mixed_bfloat16" if native_bf16() else "float32"
    assert trained_run.metrics["precision"] == expected
    model = load_model(trained_run.model_path)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32", "training leaked its precision policy"


def test_same_seed_same_start(mnist_dir, tmp_path):
    """Same seed -> the same initial weights and the same data order (what the backend guarantees)."""
    import keras

    from digits.model import build_model
    from digits.train import make_dataset

    weights = []
    batches = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        weights.append(build_model("small").get_weights())
        x = np.arange(50 * 28 * 28, dtype=np.uint8).reshape(50, 28, 28)
        ds = make_dataset(x, np.arange(50) % 10, 10, shuffle_seed=7, augment=PRESETS["default"].augment)
        batches.append(next(iter(ds))[0].numpy())
        second_epoch = next(iter(ds))[0].numpy()
        assert not np.array_equal(batches[-1], second_epoch), "each epoch must get fresh shuffles and augmentations"
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(batches[0], batches[1])


def test_augmentation_keeps_digits_recognizable(mnist):
    """Augmented images stay in [0, 1], keep their ink, and actually differ from the originals."""
    from digits.train import make_dataset

    x, y = mnist.x_test[:256], mnist.y_test[:256]
    plain = next(iter(make_dataset(x, y, 256)))[0].numpy()
    aug = next(iter(make_dataset(x, y, 256, augment=PRESETS["default"].augment)))[0].numpy()
    assert aug.shape == plain.shape == (256, 28, 28, 1)
    assert aug.min() >= 0 and aug.max() <= 1
    assert np.abs(aug - plain).mean() > 0.01
    ink_ratio = aug.sum(axis=(1, 2, 3)) / plain.sum(axis=(1, 2, 3))
    assert 0.5 < np.median(ink_ratio) < 1.6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"batch_size": -3}, "--batch-size"),
        ({"preset": "nonsense"}, "unknown preset"),
        ({"seed": -1}, "--seed"),
        ({"val_size": 40_000}, "--val-size"),
        ({"val_size": -1}, "--val-size"),
    ],
)
def test_nonsense_options_are_refused(kwargs, message):
    with pytest.raises(DigitsError, match=message):
        TrainOptions(**kwargs).resolved()


def test_ensemble_averages_its_members(mnist_dir, tmp_path, test_subset):
    from digits.evaluate import predict_proba
    from digits.model import load_model
    from digits.train import train

    out = tmp_path / "ens"
    result = train(
        TrainOptions(preset="fast", epochs=1, limit=3000, seed=3, ensemble=2, out=str(out), data_dir=str(mnist_dir)),
        verbose=0,
    )
    assert result.metrics["ensemble"] == 2 and len(result.metrics["member_test_accuracy"]) == 2
    assert json.loads((out / "member-2" / "options.json").read_text())["seed"] == 4
    x, _ = test_subset
    members = [predict_proba(load_model(out / f"member-{i}" / "model.keras"), x) for i in (1, 2)]
    combined = predict_proba(load_model(result.model_path), x)
    np.testing.assert_allclose(combined, (members[0] + members[1]) / 2, atol=1e-5)


def test_no_validation_split_trains_on_every_image_and_keeps_the_last_epoch(mnist_dir, tmp_path):
    """``val_size=0``: the final refit on all training images, with nothing to choose an epoch by."""
    from digits.train import train

    out = tmp_path / "full"
    options = TrainOptions(preset="fast", epochs=2, limit=4000, val_size=0, out=str(out), data_dir=str(mnist_dir))
    result = train(options, verbose=0)
    m = result.metrics
    assert m["val_images"] == 0 and m["val_accuracy"] is None
    assert m["best_epoch"] == 2, "without validation the last epoch is kept"
    assert m["recipe"]["val_size"] == 0 and m["train_images"] == 4000
    assert m["test_accuracy"] > 0.85
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and "val_accuracy" not in rows[0]


def test_without_validation_the_recorder_keeps_each_epoch_even_a_worse_one(tmp_path):
    """No validation accuracy: the latest epoch is saved, not the one with the best training accuracy."""
    from digits.model import build_model
    from digits.train import PRESETS, _compile, _make_recorder

    model = build_model("small")
    _compile(model, PRESETS["fast"], steps_per_epoch=10)
    saved: list[int] = []
    state = {"history": [], "best_epoch": None, "best_val_accuracy": 0.0, "resumes": 0}
    recorder = _make_recorder(tmp_path, lambda m: saved.append(len(state["history"])), state)
    recorder.set_model(model)
    for epoch, accuracy in enumerate([0.9, 0.6]):
        recorder.on_epoch_end(epoch, {"accuracy": accuracy, "loss": 1.0})
    assert saved == [1, 2] and state["best_epoch"] == 2


# ---------------------------------------------------------------------------------------
# The steps of a run, each on its own (train() is these in order)


def test_prepare_data_splits_limits_and_batches(mnist):
    from digits.train import prepare_data

    preset = PRESETS["fast"]
    prepared = prepare_data(mnist, preset, seed=3, limit=1000)
    assert len(prepared.x_train) == 1000 and len(prepared.x_val) == preset.val_size
    assert prepared.steps_per_epoch == 4  # ceil(1000 / 256)
    images, labels = next(iter(prepared.train_ds))
    assert images.shape == (256, 28, 28, 1) and labels.shape == (256, 10)
    assert float(images.numpy().max()) <= 1.0 and np.allclose(labels.numpy().sum(axis=1), 1.0)
    assert prepared.val_ds is not None
    from dataclasses import replace

    assert prepare_data(mnist, replace(preset, val_size=0), seed=3, limit=1000).val_ds is None


def test_build_compiles_the_network_and_a_float32_twin():
    import keras

    from digits.train import build

    built = build(PRESETS["fast"], steps_per_epoch=10)
    assert built.model.count_params() == built.clean.count_params() == 39_242
    assert built.model.optimizer is not None and isinstance(built.model.optimizer, keras.optimizers.AdamW)
    assert {layer.dtype_policy.name for layer in built.clean.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"


def test_announcement_counts_epochs_in_words(mnist, tmp_path):
    from dataclasses import replace

    from digits.train import TrainData, announcement

    prepared = TrainData(mnist.x_train[:10], mnist.y_train[:10], mnist.x_train[:5], mnist.y_train[:5], 1, None, None)
    one = announcement(TrainOptions(preset="fast"), replace(PRESETS["fast"], epochs=1), 39_242, prepared, tmp_path)
    assert "for 1 epoch on 10 images, validating on 5" in one
    two = announcement(TrainOptions(preset="fast"), PRESETS["fast"], 39_242, prepared, tmp_path)
    assert "for 2 epochs on 10 images" in two and "39,242 parameters" in two
