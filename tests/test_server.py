"""The HTTP API of ``digits serve``, through FastAPI's test client and a real uvicorn on localhost.

Images are real MNIST test digits saved as PNG, white-on-black as MNIST stores them and
dark-on-white as a scan would be. The model is the packaged one, loaded once for the module.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digits import cli, pretrained
from digits.inference import Predictor
from digits.preprocess import load_image, to_mnist
from digits.server import MAX_UPLOAD_BYTES, create_app

with warnings.catch_warnings():
    # Recent Starlette prefers the httpx2 package for its test client and says so; httpx works the same.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

N_DIGITS = 100  # real test digits sent each way


def png(pixels: np.ndarray, scale: int = 1, invert: bool = False) -> bytes:
    """A uint8 grayscale array as PNG bytes, optionally enlarged and inverted (dark ink on white)."""
    image = Image.fromarray((255 - pixels) if invert else pixels)
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


@pytest.fixture(scope="module")
def client(predictor: Predictor) -> Iterator[TestClient]:
    with TestClient(create_app(predictor)) as c:
        yield c


@pytest.fixture(scope="module")
def digits(mnist) -> tuple[np.ndarray, np.ndarray]:
    return mnist.x_test[:N_DIGITS], mnist.y_test[:N_DIGITS]


# ---------------------------------------------------------------------------------------
# Predictions on real digits


def test_real_digits_in_both_polarities(client: TestClient, predictor: Predictor, digits) -> None:
    """MNIST test digits as uploads (multipart, white on black) and raw bodies (4× larger, dark on white)."""
    images, labels = digits
    right_white = right_dark = 0
    for image, label in zip(images, labels, strict=True):
        data = png(image)
        r = client.post("/api/predict", files={"file": ("digit.png", data, "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["nothing_drawn"] is False and body["message"] is None
        # The answer is the model's on the preprocessed upload, nothing else.
        direct = predictor.predict(to_mnist(load_image(data))[None])[0]
        assert body["digit"] == direct.digit
        assert body["probabilities"] == pytest.approx(direct.probabilities, abs=1e-5)
        right_white += body["digit"] == label

        r = client.post("/api/predict", content=png(image, scale=4, invert=True), headers={"content-type": "image/png"})
        assert r.status_code == 200, r.text
        right_dark += r.json()["digit"] == label
    assert right_white >= N_DIGITS - 1, right_white
    assert right_dark >= N_DIGITS - 2, right_dark


def test_answer_shape(client: TestClient, digits) -> None:
    """digit, probability, 10 probabilities, top_k best first, unsure, and the 28×28 input as base64 PNG."""
    images, labels = digits
    seven = images[0]
    r = client.post("/api/predict?top_k=5", content=png(seven, scale=3, invert=True))
    body = r.json()
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert body["digit"] == labels[0] == 7
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-3)
    assert body["probability"] == pytest.approx(max(body["probabilities"]), abs=1e-5)
    assert next(t["digit"] for t in body["top_k"]) == 7 and len(body["top_k"]) == 5
    probs = [t["probability"] for t in body["top_k"]]
    assert probs == sorted(probs, reverse=True)
    assert body["unsure"] is False
    seen = Image.open(io.BytesIO(base64.b64decode(body["input_png"])))
    assert seen.size == (28, 28) and seen.mode == "L"
    # It is exactly what preprocessing made of the upload (to 1/255).
    made = to_mnist(load_image(png(seven, scale=3, invert=True)))
    assert np.abs(np.asarray(seen, dtype=np.float32) / 255.0 - made).max() <= 1 / 255 + 1e-6


@pytest.mark.parametrize("top_k", ["0", "11", "x", "abc", "2.5"])
def test_bad_top_k_is_422_with_one_line(client: TestClient, digits, top_k: str) -> None:
    """Like every other error, a bad query parameter is ``{"detail": "one line"}``, naming the parameter."""
    r = client.post(f"/api/predict?top_k={top_k}", content=png(digits[0][0]))
    assert r.status_code == 422
    body = r.json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str), body
    assert body["detail"].startswith("top_k: ") and repr(top_k) in body["detail"] and "\n" not in body["detail"]


def test_every_probability_has_the_same_precision(client: TestClient, digits) -> None:
    """probability, top_k and probabilities are all rounded to PROBABILITY_DECIMALS (6) in the JSON."""
    from digits.inference import PROBABILITY_DECIMALS

    numbers = []
    body = client.post("/api/predict?top_k=10", content=png(digits[0][0], scale=3, invert=True)).json()
    numbers += [body["probability"], *body["probabilities"], *(t["probability"] for t in body["top_k"])]
    wide = np.hstack([digits[0][i] for i in range(3)])
    body = client.post("/api/read", content=png(wide, scale=3, invert=True)).json()
    assert len(body["digits"]) == 3, body["text"]
    numbers += [body["probability"]] + [d["probability"] for d in body["digits"]]
    numbers += [t["probability"] for d in body["digits"] for t in d["top_k"]]
    for x in numbers:
        assert x == round(x, PROBABILITY_DECIMALS), x
    assert sum(len(repr(x).split(".")[-1]) > 4 for x in numbers) > 3, "not a single precision, just short numbers"


# ---------------------------------------------------------------------------------------
# Nothing drawn, bad input, limits


@pytest.mark.parametrize("fill", [0, 255, 128])
@pytest.mark.parametrize("route", ["/api/predict", "/api/read"])
def test_empty_drawing_is_nothing_drawn(client: TestClient, fill: int, route: str) -> None:
    """A blank canvas (black, white or grey) is a clear "nothing drawn", never a digit."""
    blank = np.full((280, 280), fill, dtype=np.uint8)
    r = client.post(route, content=png(blank), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["nothing_drawn"] is True and "nothing drawn" in body["message"]
    if route == "/api/predict":
        assert body["digit"] is None and body["probabilities"] is None and body["top_k"] == []
    else:
        assert body["text"] == "" and body["digits"] == [] and (body["width"], body["height"]) == (280, 280)


def test_marks_that_read_as_no_number_are_nothing_read(client: TestClient, no_number_page) -> None:
    """A page with no handwriting whose printed text, showing through, the reader refuses as no number is a
    result on ``/api/read`` (nothing to read, and why), as a blank page is, not an error."""
    data, suffix = no_number_page
    kind = "image/jpeg" if suffix == ".jpg" else "image/png"
    r = client.post("/api/read", content=data, headers={"content-type": kind})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["nothing_drawn"] is True and body["message"].startswith("no number found: the marks read as")
    assert body["text"] == "" and body["digits"] == []


def _bomb_png() -> bytes:
    """A 100-byte PNG whose header says 30,000 × 30,000 pixels (900 megapixels, 900 MB once decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (30_000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit grayscale
    body = zlib.compress(b"\0" * 30_001)  # one row of the 30,000
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _animated_gif(digit: np.ndarray) -> bytes:
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"this is not an image\n", "not an image"),
        (bytes(range(256)) * 40, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "not"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "not an image"),
        ("truncated", "truncated"),
        ("tiny", "too small"),
        ("bomb", "too large"),
    ],
    ids=["text", "noise", "png-header-only", "pdf", "truncated", "tiny", "bomb"],
)
@pytest.mark.parametrize("route", ["/api/predict", "/api/read"])
def test_bad_images_are_400_with_a_message(client: TestClient, digits, payload, words: str, route: str) -> None:
    if payload == "truncated":
        payload = png(digits[0][0], scale=10)[:-400]
    elif payload == "tiny":
        payload = png(np.zeros((4, 4), dtype=np.uint8))
    elif payload == "bomb":
        payload = _bomb_png()
    for r in (
        client.post(route, content=payload, headers={"content-type": "application/octet-stream"}),
        client.post(route, files={"file": ("upload.bin", payload, "application/octet-stream")}),
    ):
        assert r.status_code == 400, (r.status_code, r.text)
        assert words in r.json()["detail"], r.json()
        assert "\n" not in r.json()["detail"]


def test_unusual_but_valid_images_are_read(client: TestClient, digits) -> None:
    """Formats and modes people do upload: JPEG, CMYK, 16-bit, palette with transparency, RGBA, animated GIF."""
    image, label = digits[0][0], int(digits[1][0])
    big = Image.fromarray(255 - image).resize((140, 140), Image.Resampling.BILINEAR)
    payloads = {
        "jpeg": _encoded(big.convert("RGB"), "JPEG", quality=80),
        "cmyk-jpeg": _encoded(big.convert("CMYK"), "JPEG"),
        "16-bit": _encoded(Image.fromarray(np.asarray(big, dtype=np.uint16) * 257), "PNG"),
        "rgba": _encoded(big.convert("RGBA"), "PNG"),
        "palette": _encoded(big.convert("P"), "PNG", transparency=0),
        "gif": _animated_gif(image),
        "bmp": _encoded(big, "BMP"),
        "webp": _encoded(big, "WEBP"),
    }
    for name, payload in payloads.items():
        r = client.post("/api/predict", content=payload)
        assert r.status_code == 200, (name, r.text)
        assert r.json()["digit"] == label, name


def test_empty_and_malformed_bodies(client: TestClient, digits) -> None:
    assert client.post("/api/predict", content=b"").status_code == 400
    assert "empty" in client.post("/api/predict", content=b"").json()["detail"]
    # multipart without any file part
    r = client.post("/api/predict", data={"note": "hello"}, files={"other": ("", b"", "text/plain")})
    assert r.status_code == 400, r.text
    r = client.post("/api/predict", data={"note": "hello"})  # urlencoded: the body is the "image"
    assert r.status_code == 400 and "not an image" in r.json()["detail"]
    # multipart that is cut off / has no boundary
    r = client.post(
        "/api/predict",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert r.status_code == 400
    r = client.post("/api/predict", content=b"abc", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400
    # two files: refused (one image per request)
    two = [("file", ("a.png", png(digits[0][0]), "image/png")), ("file", ("b.png", png(digits[0][1]), "image/png"))]
    assert client.post("/api/predict", files=two).status_code == 400
    # a file under another field name is refused, and the answer says which name to use
    r = client.post("/api/predict", files={"image": ("a.png", png(digits[0][0]), "image/png")})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "the multipart upload has no field 'file' (it has 'image'): send the image as 'file'"}
    # a bad Content-Length
    r = client.post("/api/predict", content=b"x", headers={"content-length": "lots"})
    assert r.status_code in (400, 422)


def test_upload_over_the_limit_is_413(client: TestClient, predictor: Predictor, digits) -> None:
    """Over 10 MiB is refused (raw and multipart); a small limit shows the multipart stream is capped too."""
    r = client.post("/api/predict", content=b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    r = client.post("/api/read", files={"file": ("big.png", b"\0" * (MAX_UPLOAD_BYTES + 1), "image/png")})
    assert r.status_code == 413
    # exactly at the limit is allowed through (and then fails as a non-image)
    assert client.post("/api/predict", content=b"\0" * MAX_UPLOAD_BYTES).status_code == 400

    with TestClient(create_app(predictor, max_upload_bytes=2000)) as small:
        ok = png(digits[0][0])
        assert len(ok) < 1500
        assert small.post("/api/predict", content=ok).status_code == 200
        big = png(digits[0][0], scale=6)
        assert len(big) > 2000
        assert small.post("/api/predict", content=big).status_code == 413
        assert small.post("/api/predict", files={"file": ("x.png", big, "image/png")}).status_code == 413


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.post("/api/nope", content=b"x").status_code == 404
    assert client.get("/static/missing.js").status_code == 404
    for method, route in [("GET", "/api/predict"), ("GET", "/api/read"), ("DELETE", "/healthz"), ("PUT", "/")]:
        r = client.request(method, route)
        assert r.status_code == 405, (method, route)
        assert r.json()["detail"] == "Method Not Allowed"


# ---------------------------------------------------------------------------------------
# Reading numbers


def _number_image(images: list[np.ndarray], gap: int = 10, scale: int = 3) -> bytes:
    height, width = 28 + 2 * gap, len(images) * 28 + (len(images) + 1) * gap
    canvas = np.zeros((height, width), dtype=np.uint8)
    for i, digit in enumerate(images):
        x = gap + i * (28 + gap)
        canvas[gap : gap + 28, x : x + 28] = digit
    return png(canvas, scale=scale, invert=True)


def test_read_a_number(client: TestClient, predictor: Predictor, mnist) -> None:
    """Numbers made of 3 consecutive real test digits (dark on white): the API gives the reader's answer,
    boxes inside the image, left to right, and nearly always the right number."""
    from digits.reading import read_number

    right, misses = 0, []
    for k in range(0, 60, 3):
        truth = "".join(str(int(d)) for d in mnist.y_test[k : k + 3])
        data = _number_image(list(mnist.x_test[k : k + 3]))
        r = client.post("/api/read", files={"file": ("n.png", data, "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        width, height = Image.open(io.BytesIO(data)).size
        assert body["nothing_drawn"] is False and (body["width"], body["height"]) == (width, height)
        reading = read_number(load_image(data), predictor)
        assert body["text"] == reading.text
        assert [d["box"] for d in body["digits"]] == [list(d.box) for d in reading.digits]
        assert [d["digit"] for d in body["digits"]] == [int(c) for c in body["text"]]
        lefts = [d["box"][0] for d in body["digits"]]
        assert lefts == sorted(lefts)
        for d in body["digits"]:
            x0, y0, x1, y1 = d["box"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert 0.0 <= d["probability"] <= 1.0 and isinstance(d["unsure"], bool)
            assert Image.open(io.BytesIO(base64.b64decode(d["input_png"]))).size == (28, 28)
        if body["text"] == truth:
            right += 1
        else:
            misses.append((truth, body["text"]))
    assert right >= 18, misses


def test_read_gives_rows_and_separators(client: TestClient, mnist) -> None:
    """A number in two rows with a separator in each, composed from MNIST test digits: /api/read answers the
    rows as `digits read --json` does (each its text, digits and separators, boxes in the image's pixels), and
    the digits alone as before."""
    from digits.reading import Reader
    from digits.synthetic import render_scene

    rng = np.random.default_rng(12_000_000)
    scene = render_scene(mnist.x_test, mnist.y_test, rng, effects=(), rows=2, n_digits=4, separators=True)
    data, suffix = scene.encode()
    body = client.post("/api/read", files={"file": ("rows" + suffix, data)}).json()
    assert body["text"] == scene.text == "4.293\n227/6"
    assert [r["text"] for r in body["rows"]] == ["4.293", "227/6"]
    assert [[s["char"] for s in r["separators"]] for r in body["rows"]] == [["."], ["/"]]
    assert [s["before_digit"] for r in body["rows"] for s in r["separators"]] == [1, 3]
    assert [d["box"] for r in body["rows"] for d in r["digits"]] == [d["box"] for d in body["digits"]]
    assert "".join(str(d["digit"]) for d in body["digits"]) == "42932276"
    expected = Reader().read(load_image(data)).to_dict()
    assert [r["separators"] for r in body["rows"]] == [r["separators"] for r in expected["rows"]]
    for r in body["rows"]:  # each separator lies between the digits it stands between
        for s in r["separators"]:
            left, right = r["digits"][s["before_digit"] - 1]["box"], r["digits"][s["before_digit"]]["box"]
            assert (left[0] + left[2]) / 2 < (s["box"][0] + s["box"][2]) / 2 < (right[0] + right[2]) / 2, (s, r)


# ---------------------------------------------------------------------------------------
# Health, page, docs, logs


def test_healthz_reports_model_and_versions(client: TestClient, predictor: Predictor) -> None:
    body = client.get("/healthz").json()
    metrics = json.loads(pretrained.metrics_path().read_text())
    assert body["status"] == "ok"
    assert body["model"]["name"] == Path(predictor.path).name
    assert body["model"]["engine"] == predictor.engine_name
    assert body["model"]["packaged"] is True
    assert body["model"]["test_accuracy"] == metrics["test_accuracy"]
    assert body["max_upload_bytes"] == MAX_UPLOAD_BYTES
    for name in ("digits", "python", "numpy", "fastapi"):
        assert body["versions"][name]


def test_healthz_for_a_model_elsewhere(tmp_path: Path, predictor: Predictor) -> None:
    """A model outside the package: no accuracy without a metrics.json beside it, the figure with one."""
    model = tmp_path / Path(predictor.path).name
    shutil.copy(predictor.path, model)
    with TestClient(create_app(model)) as c:
        info = c.get("/healthz").json()["model"]
        assert info["packaged"] is False and info["test_accuracy"] is None and info["path"] == str(model)
    (tmp_path / "metrics.json").write_text(json.dumps({"test_accuracy": 0.987, "arch": "small"}))
    with TestClient(create_app(str(model))) as c:
        info = c.get("/healthz").json()["model"]
        assert info["test_accuracy"] == 0.987 and info["arch"] == "small"


def test_page_static_files_and_docs(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert 'id="canvas"' in html and "/static/app.js" in html and "/static/style.css" in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere: works offline
    for name, kind in [("app.js", "javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")]:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"], name
        if name != "favicon.svg":  # (an SVG names its XML namespace with a URL; that is not a fetch)
            assert "http://" not in r.text and "https://" not in r.text, name
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "https://" not in docs.text, "/docs must not load Swagger UI from a CDN"
    for asset in ("/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css"):
        assert asset in docs.text and client.get(asset).status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/read", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "application/octet-stream" in body


def test_one_log_line_per_request(client: TestClient, digits, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="digits.server"):
        client.get("/healthz")
        client.post("/api/predict", content=png(digits[0][0]))
        client.post("/api/predict", content=b"junk")
        client.get("/nope")
    lines = [r.getMessage() for r in caplog.records if r.name == "digits.server"]
    assert len(lines) == 4, lines
    assert "GET /healthz 200" in lines[0]
    assert "POST /api/predict 200" in lines[1] and "digit=7" in lines[1]
    assert "POST /api/predict 400" in lines[2] and "not an image" in lines[2]
    assert "GET /nope 404" in lines[3]


def test_every_refusal_logs_its_reason(client: TestClient, digits, caplog: pytest.LogCaptureFixture) -> None:
    two = [("file", ("a.png", png(digits[0][0]), "image/png")), ("file", ("b.png", png(digits[0][1]), "image/png"))]
    with caplog.at_level(logging.INFO, logger="digits.server"):
        client.post("/api/predict", content=b"")
        client.post("/api/predict", files=two)
        client.post("/api/read", files={"image": ("a.png", png(digits[0][0]), "image/png")})
        client.post("/api/predict?top_k=abc", content=png(digits[0][0]))
    lines = [r.getMessage() for r in caplog.records if r.name == "digits.server"]
    assert len(lines) == 4, lines
    assert "400" in lines[0] and "rejected: empty upload" in lines[0]
    assert "400" in lines[1] and "rejected: bad multipart upload: Too many files" in lines[1], lines[1]
    assert "400" in lines[2] and "rejected: the multipart upload has no field 'file'" in lines[2]
    assert "422" in lines[3] and "rejected: top_k: " in lines[3]


class _ThreadCheckingPredictor(Predictor):
    """The real model, noting whether each call runs on a thread with an event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.on_loop: list[bool] = []

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        return super().probabilities(images)


def test_model_runs_off_the_event_loop(digits) -> None:
    predictor = _ThreadCheckingPredictor()
    with TestClient(create_app(predictor)) as c:
        c.post("/api/predict", content=png(digits[0][0]))
        c.post("/api/read", content=_number_image([digits[0][0], digits[0][1]]))
    assert len(predictor.on_loop) >= 3 and not any(predictor.on_loop)


# ---------------------------------------------------------------------------------------
# A real uvicorn on localhost: streaming limits and concurrency


@contextmanager
def running(app) -> Iterator[int]:
    """Serve ``app`` with uvicorn on a free localhost port in a background thread; yield the port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def _response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, bytes]:
    """Read one HTTP response's status and body from a raw socket (until the server closes or the body ends)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


@pytest.fixture(scope="module")
def live(predictor: Predictor) -> Iterator[int]:
    with running(create_app(predictor)) as port:
        yield port


def test_413_before_the_body_is_read(live: int) -> None:
    """A declared 50 MB body is refused at once, though not one byte of it was sent."""
    with socket.create_connection(("127.0.0.1", live)) as s:
        s.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 50000000\r\n\r\n"
        )
        status, body = _response(s)
    assert status == 413 and b"too large" in body


def test_413_for_a_chunked_body_while_it_streams(live: int) -> None:
    """A chunked body (no length given) is counted as it arrives and refused just past 10 MiB."""
    chunk = b"\0" * (1 << 20)
    with socket.create_connection(("127.0.0.1", live)) as s:
        s.sendall(b"POST /api/read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10):
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        s.sendall(b"1\r\n\0\r\n")  # one byte over 10 MiB, and no end marker
        # The server must answer now, without waiting for a body that has not ended.
        status, body = _response(s)
    assert status == 413 and b"too large" in body


def test_a_slow_client_does_not_block_others(live: int, digits) -> None:
    """While one client trickles its upload, others are answered at once."""
    with socket.create_connection(("127.0.0.1", live)) as slow:
        slow.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n\x89PNG")
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", live, timeout=10)
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() and time.perf_counter() - start < 2.0
        conn.request("POST", "/api/predict", body=png(digits[0][0]), headers={"Content-Type": "image/png"})
        assert json.loads(conn.getresponse().read())["digit"] == 7
        assert time.perf_counter() - start < 5.0
        conn.close()


class _SlowPredictor(Predictor):
    """The real model, made to take ``delay`` seconds a call, like a big model on a busy machine."""

    delay = 0.0

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return super().probabilities(images)


def test_a_slow_prediction_does_not_block_others(digits) -> None:
    predictor = _SlowPredictor()
    app = create_app(predictor)
    predictor.delay = 2.0
    with running(app) as port:
        done: dict[str, float] = {}

        def slow_request() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/api/predict", body=png(digits[0][0]), headers={"Content-Type": "image/png"})
            done["digit"] = json.loads(conn.getresponse().read())["digit"]
            done["slow"] = time.perf_counter()

        start = time.perf_counter()
        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(0.3)  # the slow one is now inside the model
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz")
        assert json.loads(conn.getresponse().read())["status"] == "ok"
        quick = time.perf_counter() - start
        worker.join(30)
    assert done["digit"] == 7
    assert quick < 1.5 < done["slow"] - start, (quick, done["slow"] - start)


LIGHT_SERVER = """
import importlib.abc, io, sys, warnings

class Blocker(importlib.abc.MetaPathFinder):  # as if the training extras were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "matplotlib", "tf2onnx"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Blocker())
from PIL import Image
from digits.server import create_app
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient
buffer = io.BytesIO()
image = Image.new("L", (100, 100))
image.paste(255, (45, 15, 55, 85))  # a bar: a "1"
image.save(buffer, "PNG")
with TestClient(create_app()) as client:
    print(client.post("/api/predict", content=buffer.getvalue()).json()["digit"])
    print(client.get("/healthz").json()["model"]["engine"])
"""


def test_serving_needs_no_tensorflow() -> None:
    """The light install (no TensorFlow, Keras or matplotlib) serves the packaged ONNX model."""
    done = subprocess.run([sys.executable, "-c", LIGHT_SERVER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "onnxruntime"]


# ---------------------------------------------------------------------------------------
# The command


def test_serve_refuses_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("digits: error: cannot listen on 127.0.0.1:") and "\n" not in err


def test_serve_refuses_a_missing_model_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--port", "0", "--model", str(tmp_path / "none.onnx")]) == cli.EXIT_ERROR
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["serve", "--port", "70000"]) == cli.EXIT_ERROR
    assert "between 0 and 65535" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["serve", "--port", "-1"])
    assert e.value.code == cli.EXIT_ERROR
