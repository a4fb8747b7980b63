"""Named CNN architectures for 28×28×1 digit images with values in [0, 1].

Every architecture ends in a softmax over the ten digits, so a model's output is always a
probability vector. ``ARCHITECTURES`` maps a name to its builder; ``build_model`` is the
one entry point the rest of the code uses, and ``ensemble`` averages several trained
models into one that saves as a single ``.keras`` file.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
from keras import layers

from digits.errors import DigitsError

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
#: Batch-norm running statistics follow the weights closely enough for short runs to work:
#: Keras' default of 0.99 leaves them far from the truth after a few hundred steps.
BN_MOMENTUM = 0.9


def _conv_bn_relu(x, filters: int, kernel: int = 3, padding: str = "same", name: str = ""):
    """Convolution without bias, batch normalization, ReLU: the unit most blocks are made of."""
    x = layers.Conv2D(filters, kernel, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def reference() -> keras.Model:
    """The Keras team's "simple MNIST convnet", the yardstick of the training benchmark."""
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="reference",
    )


def small() -> keras.Model:
    """A cheap CNN for the ``fast`` preset: a 5×5 stem, then batch-normed 3×3 convs of 32 and 64.

    The stem runs without batch norm at full resolution and is pooled at once, because
    at 28×28 the normalization costs more time than it buys accuracy. There is no
    dropout: in a two-epoch run it only slowed learning down (validation split).
    """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Conv2D(32, 5, activation="relu", name="stem_conv")(inputs)  # 24×24
    x = layers.MaxPooling2D(2, name="stem_pool")(x)  # 12×12
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = _conv_bn_relu(x, 32, padding="valid", name="b1")  # 10×10
    x = _conv_bn_relu(x, 64, padding="valid", name="b2")  # 8×8
    x = layers.MaxPooling2D(2, name="b2_pool")(x)  # 4×4
    x = layers.Flatten(name="flatten")(x)
    # float32 even when trained in bfloat16, for a numerically sound softmax and loss.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="small")


def _vgg_like(name: str, widths: tuple[int, int, int], dense: int, dropout: float) -> keras.Model:
    """The seed's design grown up: conv blocks with batch norm, pooling, dropout, dense head."""
    w1, w2, w3 = widths
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = _conv_bn_relu(inputs, w1, name="b1a")
    x = _conv_bn_relu(x, w1, name="b1b")
    x = layers.MaxPooling2D(2, name="b1_pool")(x)  # 14×14
    x = layers.Dropout(dropout / 2, name="b1_drop")(x)
    x = _conv_bn_relu(x, w2, name="b2a")
    x = _conv_bn_relu(x, w2, name="b2b")
    x = layers.MaxPooling2D(2, name="b2_pool")(x)  # 7×7
    x = layers.Dropout(dropout / 2, name="b2_drop")(x)
    x = _conv_bn_relu(x, w3, padding="valid", name="b3")  # 5×5
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, use_bias=False, name="head_dense")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.Dropout(dropout, name="head_drop")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def medium() -> keras.Model:
    """The default preset's CNN: three conv stages (16-32-64 filters) and a 128-unit head."""
    return _vgg_like("medium", (16, 32, 64), dense=128, dropout=0.3)


def large() -> keras.Model:
    """The ``best`` preset's CNN: the same shape as ``medium`` at twice the width."""
    return _vgg_like("large", (32, 64, 128), dense=256, dropout=0.4)


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "reference": reference,
    "small": small,
    "medium": medium,
    "large": large,
}


def build_model(arch: str) -> keras.Model:
    """Build an untrained model of the named architecture."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}") from None
    return builder()


def load_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a ``.keras`` digit model with Keras' safe mode on, refusing anything else cleanly.

    Safe mode refuses ``Lambda`` layers and other serialized Python code, so a model file
    from a stranger can only describe layers that Keras itself provides.
    """
    p = Path(path)
    if not p.exists():
        raise DigitsError(f"model file {p} does not exist")
    if p.is_dir():
        raise DigitsError(f"model path {p} is a folder, not a .keras file")
    if p.suffix != ".keras":
        raise DigitsError(f"{p}: expected a .keras model file")
    if not zipfile.is_zipfile(p):
        raise DigitsError(f"{p}: not a valid .keras file (corrupt or truncated)")
    try:
        model = keras.saving.load_model(p, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for bad files; all mean the same here
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "safe_mode" in reason or "Lambda" in reason:
            raise DigitsError(f"{p}: refused, the file contains arbitrary code (a Lambda layer)") from None
        raise DigitsError(f"{p}: cannot load model ({reason[:200]})") from None
    check_digit_model(model, str(p))
    return model


def check_digit_model(model: keras.Model, name: str) -> None:
    """Refuse a model that does not map 28×28×1 images to 10 probabilities."""
    try:
        in_shape = tuple(model.inputs[0].shape[1:])
        out_shape = tuple(model.outputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError):
        raise DigitsError(f"{name}: not a digit model (no single image input)") from None
    if len(model.inputs) != 1 or in_shape != INPUT_SHAPE:
        raise DigitsError(f"{name}: not a digit model (input shape {in_shape}, expected {INPUT_SHAPE})")
    if out_shape != (NUM_CLASSES,):
        raise DigitsError(f"{name}: not a digit model (output shape {out_shape}, expected (10,))")


def ensemble(members: Sequence[keras.Model], name: str = "ensemble") -> keras.Model:
    """One model whose output is the mean of the members' probability vectors."""
    if len(members) == 1:
        return members[0]
    inputs = keras.Input(INPUT_SHAPE, name="image")
    outputs = []
    for i, member in enumerate(members):
        member.name = f"member_{i}"
        outputs.append(member(inputs))
    mean = layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, mean, name=name)


def localizer(width: int = 16) -> keras.Model:
    """The learned ink localizer: a small U-Net that marks, per pixel, the ink of handwritten digits.

    It takes a photo's two-channel input (:func:`digits.localize.network_input`, any size divisible
    by 16) and returns the probability that each pixel is digit ink (digits and the separators
    between them), ignoring ruled and squared paper, frames, page edges, shadows, printed text and
    marks that are not digits. It works at half resolution inside (a strided first layer) and sees
    about 100 pixels around each point, so it can tell a long ruled line from the stroke of a 1.
    """
    w = width
    inp = keras.Input((None, None, 2), name="photo")
    x = layers.Conv2D(w, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    half = _conv_bn_relu(x, w, name="half")  # 1/2
    x = layers.MaxPooling2D(name="pool1")(half)
    x = _conv_bn_relu(x, 2 * w, name="q1")
    quarter = _conv_bn_relu(x, 2 * w, name="q2")  # 1/4
    x = layers.MaxPooling2D(name="pool2")(quarter)
    x = _conv_bn_relu(x, 3 * w, name="e1")
    eighth = _conv_bn_relu(x, 3 * w, name="e2")  # 1/8
    x = layers.MaxPooling2D(name="pool3")(eighth)
    x = _conv_bn_relu(x, 4 * w, name="s1")
    x = layers.Conv2D(4 * w, 3, padding="same", dilation_rate=2, use_bias=False, name="s2_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="s2_bn")(x)
    x = layers.ReLU(name="s2_relu")(x)  # 1/16, sees the whole neighbourhood of a digit
    for name, skip, filters in (("up8", eighth, 3 * w), ("up4", quarter, 2 * w), ("up2", half, w)):
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_up")(x)
        x = layers.Concatenate(name=f"{name}_cat")([x, skip])
        x = _conv_bn_relu(x, filters, name=name)
    x = layers.Conv2DTranspose(w // 2, 2, strides=2, name="up1_up")(x)
    x = layers.Concatenate(name="up1_cat")([x, inp])
    x = _conv_bn_relu(x, w // 2, name="up1")
    out = layers.Conv2D(1, 1, activation="sigmoid", name="ink")(x)
    return keras.Model(inp, out, name="localizer")


def line_recognizer(width: int = 16, classes: int = 14, height: int = 32) -> keras.Model:
    """The line recognizer: reads a row of digit ink ``height`` pixels tall and any width as a sequence.

    Convolutions (two poolings of 2, then one of height only) turn the row into one column of features
    every 4 pixels; a (4 × 1) convolution folds the height away, and two 1-D convolutions (the second
    dilated) let each step see about two digits around it. The output is, for each step, the scores of
    the ``classes`` characters (index 0 is CTC's blank), trained with CTC (digits.train_reader).
    Fully convolutional, so it reads rows of any length and exports to ONNX as it is.
    """
    w = width
    inp = keras.Input((height, None, 1), name="row")
    x = _conv_bn_relu(inp, w, name="c1")
    x = layers.MaxPooling2D(name="pool1")(x)  # height/2
    x = _conv_bn_relu(x, 2 * w, name="c2")
    x = layers.MaxPooling2D(name="pool2")(x)  # height/4
    x = _conv_bn_relu(x, 4 * w, name="c3")
    x = _conv_bn_relu(x, 4 * w, name="c4")
    x = layers.MaxPooling2D((2, 1), name="pool3")(x)  # height/8
    x = layers.Conv2D(8 * w, (height // 8, 1), use_bias=False, name="fold_conv")(x)  # 1 × steps
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="fold_bn")(x)
    x = layers.ReLU(name="fold_relu")(x)
    for i, dilation in enumerate((1, 2)):
        x = layers.Conv2D(
            8 * w, (1, 3), padding="same", dilation_rate=(1, dilation), use_bias=False, name=f"seq{i}_conv"
        )(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"seq{i}_bn")(x)
        x = layers.ReLU(name=f"seq{i}_relu")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Conv2D(classes, 1, name="scores")(x)
    out = layers.Reshape((-1, classes), name="steps")(x)
    return keras.Model(inp, out, name="line_recognizer")
