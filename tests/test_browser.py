"""The page in a real browser: headless Chromium (Debian's) driven by Playwright, against ``digits serve``.

The test starts the real command on a free localhost port, then draws real MNIST test digits
with the mouse (and a finger, on a phone-sized page): each digit's ink is thinned to a skeleton,
traced as polylines and scaled onto the canvas, so the page gets strokes shaped like the digit.
Chromium must be installed (``apt-get install chromium``); without it these tests fail.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The first MNIST test image of each of these digits is drawn (chosen to cover straight,
#: curved, closed and crossing strokes).
DRAWN = (0, 2, 3, 4, 7)
SETTLE_MS = 30_000


# ---------------------------------------------------------------------------------------
# Turning a real MNIST digit into pen strokes


def thin(ink: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the one-pixel-wide skeleton of a binary image."""
    img = np.pad(ink.astype(np.uint8), 1)
    while True:
        removed = 0
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(p.astype(int) for p in ring[:8])
            transitions = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(int) for i in range(8))
            side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0) if step == 0 else (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            drop = (c == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            removed += int(drop.sum())
            img[1:-1, 1:-1][drop] = 0
        if removed == 0:
            return img[1:-1, 1:-1].astype(bool)


def trace(skeleton: np.ndarray) -> list[list[tuple[int, int]]]:
    """Cover every link of an 8-connected skeleton with polylines of (row, col) pixels.

    Walks start at stroke ends, then at junctions, then anywhere (for closed loops like a 0),
    and go straight on where they can, as a pen would.
    """
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}

    def around(p: tuple[int, int]) -> list[tuple[int, int]]:
        r, c = p
        return [(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr or dc) and (r + dr, c + dc) in pixels]

    used: set[frozenset[tuple[int, int]]] = set()
    lines: list[list[tuple[int, int]]] = []
    order = sorted(pixels, key=lambda p: (len(around(p)) != 1, len(around(p)) < 3, p))
    for start in order:
        while True:
            free = [q for q in around(start) if frozenset((start, q)) not in used]
            if not free:
                break
            line = [start]
            here, step = start, (0, 0)
            while True:
                free = [q for q in around(here) if frozenset((here, q)) not in used]
                if not free:
                    break
                # Prefer going on in the same direction, then the nearest turn; orthogonal before diagonal.
                nxt = max(
                    free,
                    key=lambda q: (
                        (q[0] - here[0]) * step[0] + (q[1] - here[1]) * step[1],
                        -abs(q[0] - here[0]) - abs(q[1] - here[1]),
                    ),
                )
                used.add(frozenset((here, nxt)))
                step = (nxt[0] - here[0], nxt[1] - here[1])
                line.append(nxt)
                here = nxt
            lines.append(line)
    # Isolated single pixels become dots.
    linked = {p for line in lines for p in line}
    lines.extend([[p] for p in pixels - linked])
    return lines


def simplify(line: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Ramer-Douglas-Peucker: drop points within ``tolerance`` of the chord, so pixel stairs become pen lines."""
    if len(line) < 3:
        return line
    a, b = np.asarray(line[0]), np.asarray(line[-1])
    chord = b - a
    length = float(np.hypot(*chord))
    pts = np.asarray(line[1:-1])
    if length == 0:
        dist = np.hypot(*(pts - a).T)
    else:
        dist = np.abs(chord[0] * (pts[:, 1] - a[1]) - chord[1] * (pts[:, 0] - a[0])) / length
    worst = int(np.argmax(dist))
    if dist[worst] <= tolerance:
        return [line[0], line[-1]]
    split = worst + 1
    return simplify(line[: split + 1], tolerance)[:-1] + simplify(line[split:], tolerance)


def strokes_for(digit_image: np.ndarray) -> list[list[tuple[float, float]]]:
    """Polylines tracing a 28×28 digit's ink, in units of the image side (0..1), as (x, y)."""
    skeleton = thin(digit_image >= 128)
    lines = [[((c + 0.5) / 28.0, (r + 0.5) / 28.0) for r, c in line] for line in trace(skeleton)]
    return [simplify(line, 0.6 / 28.0) for line in lines]


# ---------------------------------------------------------------------------------------
# Fixtures: the server and the browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``digits serve`` in a subprocess on a free localhost port; its log is kept for checks."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    log = log_path.open("w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digits", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
                health = json.load(r)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"digits serve did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
    try:
        yield {"url": url, "health": health, "log": log_path, "proc": proc}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    """A desktop-sized page, with every request and console error recorded."""
    context = browser.new_context(viewport={"width": 1100, "height": 820}, device_scale_factor=1)
    pg = context.new_page()
    pg.requests = []
    pg.problems = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    pg.goto(server["url"] + "/")
    pg.wait_for_selector("#model-info:not(:has-text('loading'))")
    yield pg
    context.close()


# ---------------------------------------------------------------------------------------
# Page helpers


def wait_settled(pg) -> None:
    """Wait until the page's answer is for what is on the pad now (no request due or in flight)."""
    pg.wait_for_timeout(50)
    pg.locator("body[data-settled='true']").wait_for(timeout=SETTLE_MS)


def pad_box(pg) -> dict:
    return pg.locator("#canvas").bounding_box()


def draw(pg, strokes: list[list[tuple[float, float]]], box: dict | None = None) -> None:
    """Draw polylines given in 0..1 units of ``box`` (default: the whole pad) with the mouse."""
    box = box or pad_box(pg)
    for line in strokes:
        x, y = box["x"] + line[0][0] * box["width"], box["y"] + line[0][1] * box["height"]
        pg.mouse.move(x, y)
        pg.mouse.down()
        for px, py in line[1:]:
            pg.mouse.move(box["x"] + px * box["width"], box["y"] + py * box["height"], steps=2)
        pg.mouse.up()


def shown_digit(pg) -> str:
    return pg.locator("#result-digit").inner_text().strip()


def first_of_each(mnist) -> dict[int, np.ndarray]:
    return {d: mnist.x_test[int(np.flatnonzero(mnist.y_test == d)[0])] for d in range(10)}


def png_bytes(image: np.ndarray, invert: bool = False) -> bytes:
    pixels = 255 - image if invert else image
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).resize((112, 112), Image.Resampling.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------
# Tests


def test_tracing_keeps_the_digit(mnist) -> None:
    """The traced strokes, drawn back at 28×28, cover the digit's ink and little else (checks the helper)."""
    from PIL import ImageDraw
    from scipy import ndimage

    for image in first_of_each(mnist).values():
        canvas = Image.new("L", (280, 280))
        pen = ImageDraw.Draw(canvas)
        for line in strokes_for(image):
            pts = [(x * 280, y * 280) for x, y in line]
            pen.line(pts * (2 if len(pts) == 1 else 1), fill=255, width=24, joint="curve")
        drawn = np.asarray(canvas.resize((28, 28), Image.Resampling.BOX)) >= 128
        ink = image >= 128
        assert (ink & ndimage.binary_dilation(drawn, iterations=2)).sum() >= 0.9 * ink.sum()
        assert (drawn & ~ndimage.binary_dilation(ink)).sum() <= 0.1 * drawn.sum()


def test_drawing_real_digits_shows_them(page, mnist, tmp_path: Path) -> None:
    """Draw ≥ 3 real MNIST test digits stroke by stroke; the page shows each one, with its chart and 28×28 view."""
    digits = first_of_each(mnist)
    for label in DRAWN:
        page.keyboard.press("Escape")  # clear the pad
        wait_settled(page)
        draw(page, strokes_for(digits[label]))
        wait_settled(page)
        assert shown_digit(page) == str(label), f"drew a {label}, page shows {shown_digit(page)}"
        assert page.locator("#result").get_attribute("data-state") in ("ok", "unsure")
        winner = page.locator(".bar.win .bar-label")
        assert winner.count() == 1 and winner.inner_text() == str(label)
        assert page.locator("#seen").is_visible()
        assert page.locator("#seen").get_attribute("src").startswith("data:image/png;base64,")
        page.screenshot(path=str(tmp_path / f"drawn-{label}.png"))
    assert not page.problems, page.problems


def test_answers_while_the_pen_is_down(page, mnist) -> None:
    """The answer follows the drawing live (a few requests a second), before the stroke ends."""
    box = pad_box(page)
    line = strokes_for(first_of_each(mnist)[1])[0]  # a 1 is one stroke
    page.mouse.move(box["x"] + line[0][0] * box["width"], box["y"] + line[0][1] * box["height"])
    page.mouse.down()
    start = len([u for u in page.requests if "/api/predict" in u])
    began = time.monotonic()
    points = np.linspace(line[0], line[-1], 12)
    for x, y in points:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=3)
        page.wait_for_timeout(120)
    page.wait_for_timeout(300)
    asked = len([u for u in page.requests if "/api/predict" in u]) - start
    # Live, but paced: at most one request per 180 ms of drawing (the page's LIVE_MS), not one per mouse
    # event (there were 36). The bound follows the time the drawing took, which grows on a loaded machine.
    assert asked >= 3, asked
    assert asked <= (time.monotonic() - began) / 0.18 + 1, asked
    assert asked < 36 / 2, asked
    assert page.locator("#result").get_attribute("data-state") in ("ok", "unsure")
    assert page.locator("body").get_attribute("data-settled") == "false"  # the stroke is not over
    page.mouse.up()
    wait_settled(page)
    assert shown_digit(page) == "1"


def test_undo_and_clear(page, mnist) -> None:
    """Undo drops the last stroke and the answer follows; Clear empties the pad and says nothing is drawn."""
    seven = strokes_for(first_of_each(mnist)[7])
    draw(page, seven)
    wait_settled(page)
    assert shown_digit(page) == "7"
    # A stray extra stroke, then Undo: back to the 7.
    draw(page, [[(0.2, 0.85), (0.5, 0.85), (0.8, 0.85)]])
    wait_settled(page)
    page.click("#undo")
    wait_settled(page)
    assert shown_digit(page) == "7"
    page.keyboard.press("Escape")
    wait_settled(page)
    assert shown_digit(page) == "–"
    assert page.locator("#result").get_attribute("data-state") == "empty"
    assert "Nothing drawn" in page.locator("#result-label").inner_text()
    assert page.locator("#undo").is_disabled() and page.locator("#clear").is_disabled()
    assert not page.problems, page.problems


def test_upload_shows_the_result(page, mnist, tmp_path: Path) -> None:
    """An uploaded image (dark ink on white, as a scan would be) is read and shown; a blank one is
    "nothing drawn"; a non-image gets the server's message."""
    digits = first_of_each(mnist)
    path = tmp_path / "three.png"
    path.write_bytes(png_bytes(digits[3], invert=True))
    page.set_input_files("#file", str(path))
    wait_settled(page)
    assert shown_digit(page) == "3"
    assert page.locator("#pad").evaluate("el => el.classList.contains('has-ink')")

    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    page.set_input_files("#file", str(blank))
    wait_settled(page)
    assert page.locator("#result").get_attribute("data-state") == "empty"
    assert page.locator("#result-label").inner_text() == "Nothing drawn"
    assert shown_digit(page) == "–"

    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n")
    page.set_input_files("#file", str(text))
    wait_settled(page)
    assert page.locator("#result").get_attribute("data-state") == "error"
    assert "not an image" in page.locator("#result-detail").inner_text()
    page.screenshot(path=str(tmp_path / "upload-error.png"))


def test_number_mode_reads_digits_side_by_side(page, mnist, tmp_path: Path) -> None:
    """In number mode, the first three MNIST test digits drawn side by side are read left to right, a box each."""
    page.click("#mode-number")
    assert page.locator("#number-view").is_visible()
    box = pad_box(page)
    cell = min(box["height"], box["width"] / 4.2)  # each digit in a square, with gaps between
    gap = (box["width"] - 3 * cell) / 4
    top = box["y"] + (box["height"] - cell) / 2
    for i in range(3):
        sub = {"x": box["x"] + gap + i * (cell + gap), "y": top, "width": cell, "height": cell}
        draw(page, strokes_for(mnist.x_test[i]), sub)
    wait_settled(page)
    truth = "".join(str(int(d)) for d in mnist.y_test[:3])
    assert page.locator("#result-number").inner_text().strip() == truth
    assert page.locator(".chip").count() == 3
    assert page.locator(".chip img").count() == 3
    page.screenshot(path=str(tmp_path / "number.png"))
    assert not page.problems, page.problems


def test_number_mode_says_when_marks_are_no_number(page, no_number_page, tmp_path: Path) -> None:
    """In number mode, an uploaded page with no handwriting whose print, showing through, the reader refuses as no
    number says so, and why, instead of "nothing drawn" or a number."""
    data, ext = no_number_page
    path = tmp_path / f"page{ext}"
    path.write_bytes(data)
    page.click("#mode-number")
    page.set_input_files("#file", str(path))
    wait_settled(page)
    assert page.locator("#number-label").inner_text() == "No number found"
    assert page.locator("#number-detail").inner_text().startswith("Nothing here reads as a number: the marks read as")
    assert page.locator(".chip").count() == 0
    assert not page.problems, page.problems


def test_phone_finger_drawing(browser, server, mnist, tmp_path: Path) -> None:
    """On a phone-sized screen the page fits without sideways scrolling, and a finger can draw."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    pg = context.new_page()
    try:
        pg.goto(server["url"] + "/")
        wait_settled(pg)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390
        box = pad_box(pg)
        assert box["width"] >= 300  # the pad uses the phone's width
        cdp = context.new_cdp_session(pg)
        for line in strokes_for(first_of_each(mnist)[2]):
            pts = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in line]
            cdp.send(
                "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": pts[0][0], "y": pts[0][1]}]}
            )
            for x, y in pts[1:]:
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        wait_settled(pg)
        assert shown_digit(pg) == "2"
        assert pg.evaluate("window.scrollY") == 0  # drawing did not scroll the page
        pg.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        context.close()


def test_page_is_self_contained_and_logged(page, server) -> None:
    """The page loads nothing from other hosts (it works offline), and the server logs each request."""
    page.reload()
    wait_settled(page)
    draw(page, [[(0.5, 0.2), (0.5, 0.8)]])  # a stroke of its own, so this test needs no other test's requests
    wait_settled(page)
    outside = [u for u in page.requests if not u.startswith(server["url"]) and not u.startswith("data:")]
    assert not outside, outside
    log = server["log"].read_text()
    assert "GET / 200" in log and "GET /static/app.js 200" in log and "GET /healthz 200" in log
    assert "POST /api/predict?top_k=3 200" in log
    assert not page.problems, page.problems
