"""A fake camera's video for the camera tests and bench/camera.py: a handwritten number, filmed.

Chromium can replace the camera with a video file (``--use-fake-device-for-media-stream
--use-file-for-fake-video-capture=FILE.y4m``) and loops it. The file is written here, in
YUV4MPEG2 with 4:2:0 chroma (the format Chromium reads), from frames of a synthetic number made
of real MNIST *test* digits (:func:`digits.synthetic.render_number`): the number's sheet of
paper fills the frame, lit unevenly, and each frame shifts it by a few pixels and adds fresh
sensor noise, as a hand-held phone would. The tests below check the writer itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.synthetic import Style, _luma, paint, render_number

#: Frame size of the fake camera: 16:9 like most webcams, and above the page's 640-px send size.
WIDTH, HEIGHT = 960, 540
FPS = 10


@dataclass
class Film:
    """The frames of one filmed number and its truth."""

    frames: list[Image.Image]
    text: str


def number_indices(labels: np.ndarray, text: str, start: int = 0) -> list[int]:
    """Indices of MNIST test images spelling ``text``: for each digit, the next one of it from ``start`` on."""
    chosen = []
    for ch in text:
        hits = np.flatnonzero(labels[start:] == int(ch)) + start
        chosen.append(int(hits[0]))
        start = int(hits[0]) + 1
    return chosen


def film_number(
    images: np.ndarray,
    labels: np.ndarray,
    text: str,
    *,
    frames: int = 10,
    seed: int = 0,
    start: int = 0,
    indices: list[int] | None = None,
) -> Film:
    """``frames`` camera frames (``WIDTH``×``HEIGHT`` RGB) of the number ``text`` written with real test digits.

    ``indices`` picks the test images to write it with; by default the first of each digit from ``start`` on.
    """
    rng = np.random.default_rng(seed)
    idx = indices if indices is not None else number_indices(labels, text, start)
    style = Style.draw(rng, invert_rate=0.0)  # dark ink on paper, as people write
    style.jpeg_quality = None
    style.noise = 0.0  # noise is added per frame below
    style.blur = min(style.blur, 0.006)
    sheet = render_number([images[i] for i in idx], [int(labels[i]) for i in idx], rng, max_height=150, style=style)
    assert sheet.text == text
    # The number fills about 60 % of the frame's width, on a wider sheet of the same paper.
    number = sheet.image
    scale = min(0.6 * WIDTH / number.width, 0.45 * HEIGHT / number.height)
    number = number.resize((round(number.width * scale), round(number.height * scale)), Image.Resampling.BICUBIC)
    paper = paint(np.zeros((HEIGHT + 40, WIDTH + 40), np.float32), style, rng, 100)
    # Lift the ink off the number's own sheet (how much darker than its paper each pixel is) and lay it
    # on a wider sheet of the same paper, so that no seam shows where the sheet ends.
    luma = np.asarray(number.convert("L"), np.float32)
    reach = max(3, number.height // 3)  # wider than a stroke: the paper's own brightness, lighting and all
    blank = ndimage.uniform_filter(ndimage.grey_closing(luma, size=(reach, reach)), reach)
    contrast = 1.0 - _luma(style.ink) / max(_luma(style.paper), 1e-3)
    alpha = np.clip((blank - luma) / np.maximum(blank * contrast, 1.0) * 1.1 - 0.1, 0.0, 1.0)  # no paper grain
    mask = Image.fromarray(np.rint(alpha * 255).astype(np.uint8), "L")
    ink = Image.new("RGB", number.size, tuple(round(255 * c * 0.9) for c in style.ink))
    out = []
    for _ in range(frames):
        dx, dy = (int(v) for v in rng.integers(-8, 9, 2))
        frame = paper.copy()
        frame.paste(ink, ((frame.width - number.width) // 2 + dx, (frame.height - number.height) // 2 + dy), mask)
        frame = frame.crop((20, 20, 20 + WIDTH, 20 + HEIGHT))
        pixels = np.asarray(frame, np.float32) + rng.normal(0.0, 4.0, (HEIGHT, WIDTH, 3)).astype(np.float32)
        out.append(Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB"))
    return Film(out, text)


def to_yuv420(frame: Image.Image) -> bytes:
    """One frame as planar Y, then U and V at half resolution (BT.601, full range), as y4m ``C420jpeg`` holds it."""
    rgb = np.asarray(frame.convert("RGB"), np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    v = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    h, w = y.shape

    def half(c: np.ndarray) -> np.ndarray:  # average each 2×2 block (the JPEG chroma siting)
        return c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y, half(u), half(v)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(frames: list[Image.Image], path: Path, fps: int = FPS) -> Path:
    """Write ``frames`` (all one even size) as a YUV4MPEG2 4:2:0 file that Chromium's fake camera plays."""
    w, h = frames[0].size
    if w % 2 or h % 2:
        raise ValueError(f"4:2:0 needs an even frame size, got {w}×{h}")
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            if frame.size != (w, h):
                raise ValueError("all frames must have the same size")
            f.write(b"FRAME\n")
            f.write(to_yuv420(frame))
    tmp.replace(path)
    return path


def read_y4m_luma(path: Path) -> list[np.ndarray]:
    """The Y (brightness) plane of each frame of a 4:2:0 y4m file: the reader that checks the writer."""
    data = path.read_bytes()
    header, _, rest = data.partition(b"\n")
    tags = dict((t[:1].decode(), t[1:].decode()) for t in header.split()[1:])
    w, h = int(tags["W"]), int(tags["H"])
    size = w * h + 2 * (w // 2) * (h // 2)
    frames = []
    while rest:
        marker, _, rest = rest.partition(b"\n")
        assert marker.startswith(b"FRAME"), marker[:20]
        frames.append(np.frombuffer(rest[: w * h], np.uint8).reshape(h, w))
        rest = rest[size:]
    return frames


# ---------------------------------------------------------------------------------------
# Tests of the video itself


def test_y4m_holds_the_frames(mnist, tmp_path: Path) -> None:
    """The y4m file has the header Chromium expects, every frame, and the frames' brightness."""
    film = film_number(mnist.x_test, mnist.y_test, "3071", frames=3, seed=1)
    path = write_y4m(film.frames, tmp_path / "cam.y4m")
    assert path.read_bytes().startswith(b"YUV4MPEG2 W960 H540 F10:1 Ip A1:1 C420jpeg\n")
    assert path.stat().st_size == len(b"YUV4MPEG2 W960 H540 F10:1 Ip A1:1 C420jpeg\n") + 3 * (6 + 960 * 540 * 3 // 2)
    luma = read_y4m_luma(path)
    assert len(luma) == 3
    for frame, y in zip(film.frames, luma, strict=True):
        grey = np.asarray(frame.convert("L"), np.float32)
        assert np.abs(grey - y).mean() < 1.5  # Pillow's L is the same BT.601 luma
    assert not np.array_equal(luma[0], luma[1])  # the camera moves and the noise is new


def test_frames_read_as_the_number(mnist, tmp_path: Path) -> None:
    """Each filmed frame, sent at 640 px as the page sends it, reads as the number with ``digits read``
    (the real CLI and packaged model): the video is a fair test of the page."""
    import json
    import subprocess
    import sys

    files, truth = [], []
    for text, seed in (("3071", 1), ("52", 2)):
        film = film_number(mnist.x_test, mnist.y_test, text, frames=3, seed=seed)
        for k, frame in enumerate(film.frames):
            path = tmp_path / f"{text}-{k}.jpg"
            frame.resize((640, 360), Image.Resampling.BILINEAR).save(path, "JPEG", quality=85)
            files.append(str(path))
            truth.append(text)
    done = subprocess.run(
        [sys.executable, "-m", "digits", "read", "--json", *files], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert [r["text"] for r in json.loads(done.stdout)] == truth
