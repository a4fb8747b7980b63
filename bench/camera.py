"""How fast the Camera mode reads: frames read per second, and the delay from frame to answer.

    python bench/camera.py [--seconds 20] [--part api|page|both]

It starts ``digits serve`` on a free localhost port and films a handwritten number made of real
MNIST test digits (tests/test_camera_video.py), then measures two ways:

* ``api``: the frames as the page sends them (640 px on the longer side, JPEG quality 85),
  POSTed to /api/read one after another, one in flight, as fast as the server answers: the most
  frames a second this machine can read, and each request's time.
* ``page``: the real page in headless Chromium with the fake camera playing the video: frames
  answered per second (the page sends at most 4 a second), the delay from taking a frame to
  showing its answer (encoding, upload, reading), how many answers were right, how long until
  the reading settled, and how smooth the page stayed (gaps between animation frames).

The load on the machine is printed before and after (``uptime``): figures taken while other
work runs are not final figures.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MAX_SECONDS = 120.0
CHROMIUM = "/usr/bin/chromium"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "uptime unavailable"


def start_server() -> tuple[subprocess.Popen, int]:
    """``digits serve`` on a free localhost port; returns the process and the port once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "digits", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"camera bench: digits serve exited with status {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("camera bench: digits serve did not start within 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), without rounding up."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def as_sent(frame: Image.Image, side: int = 640, quality: int = 85) -> bytes:
    """A camera frame as the page sends it: scaled to ``side`` px on its longer side, JPEG."""
    s = min(1.0, side / max(frame.size))
    small = frame.resize((round(frame.width * s), round(frame.height * s)), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def bench_api(port: int, bodies: list[bytes], text: str, seconds: float) -> dict:
    """Send the frames back to back, one in flight, for ``seconds``; time each answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in bodies[:2]:  # warm-up: connection, threads, caches
        conn.request("POST", "/api/read", body=body, headers={"Content-Type": "image/jpeg"})
        conn.getresponse().read()
    times, right, n = [], 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        body = bodies[n % len(bodies)]
        t = time.perf_counter()
        conn.request("POST", "/api/read", body=body, headers={"Content-Type": "image/jpeg"})
        response = conn.getresponse()
        data = response.read()
        times.append(time.perf_counter() - t)
        if response.status != 200:
            raise SystemExit(f"camera bench: /api/read answered {response.status}: {data[:200]!r}")
        right += json.loads(data).get("text") == text
        n += 1
    wall = time.perf_counter() - start
    conn.close()
    ms = [1000 * t for t in times]
    return {
        "frames": n,
        "frames_per_second": n / wall,
        "ms_p50": pct(ms, 50),
        "ms_p90": pct(ms, 90),
        "ms_max": max(ms),
        "right": right,
        "jpeg_bytes": round(statistics.mean(len(b) for b in bodies)),
    }


def bench_page(port: int, video: Path, text: str, seconds: float) -> dict:
    """The real page with the fake camera: poll what it shows for ``seconds``."""
    from playwright.sync_api import sync_playwright

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--use-fake-ui-for-media-stream",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 820})
            # Gaps between animation frames: long ones mean the page stalled.
            page.add_init_script(
                """(() => {
                  window.frameGaps = [];
                  let last = 0;
                  const tick = (t) => {
                    if (last) window.frameGaps.push(t - last);
                    last = t;
                    requestAnimationFrame(tick);
                  };
                  requestAnimationFrame(tick);
                })();"""
            )
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#model-info:not(:has-text('loading'))")
            t0 = time.monotonic()
            page.click("#mode-camera")
            settled_after = None
            delays, texts = [], []
            seen = 0
            first_answer = None
            page.evaluate("() => { window.frameGaps = []; }")
            while time.monotonic() - t0 < seconds:
                state = page.evaluate(
                    """() => { const d = document.getElementById('cam-result').dataset;
                               return [Number(d.frames || 0), Number(d.delayMs || 0), d.text || '', d.state]; }"""
                )
                frames, delay, shown, card = state
                if frames > seen:
                    if first_answer is None:
                        first_answer = (time.monotonic(), frames)
                    if frames == seen + 1 or seen == 0:
                        delays.append(delay)  # the newest answer's delay (none skipped between polls)
                    texts.extend([shown] * (frames - seen))
                    seen = frames
                if settled_after is None and card == "settled":
                    settled_after = time.monotonic() - t0
                page.wait_for_timeout(40)
            gaps = page.evaluate("() => window.frameGaps")
            span = time.monotonic() - first_answer[0] if first_answer else 0.0
            answered_in_span = seen - first_answer[1] if first_answer else 0
        finally:
            browser.close()
    return {
        "frames": seen,
        "frames_per_second": answered_in_span / span if span > 0 else 0.0,
        "delay_ms_p50": pct(delays, 50) if delays else None,
        "delay_ms_p90": pct(delays, 90) if delays else None,
        "delay_ms_max": max(delays) if delays else None,
        "right": sum(t == text for t in texts),
        "settled_after_s": settled_after,
        "frame_gap_ms_p50": pct(gaps, 50) if gaps else None,
        "frame_gap_ms_p99": pct(gaps, 99) if gaps else None,
        "frame_gap_ms_max": max(gaps) if gaps else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each part runs (default 20, max 120)")
    parser.add_argument("--part", choices=["api", "page", "both"], default="both")
    parser.add_argument("--text", default="3071", help="the number filmed (default 3071)")
    parser.add_argument("--seed", type=int, default=1, help="the look of the film (default 1)")
    parser.add_argument("--data-dir", help="MNIST folder (default: ../shared/data/mnist, else the usual search)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:.0f}]")
    if not args.text.isdigit():
        parser.error("--text must be digits")

    from test_camera_video import film_number, write_y4m

    from digits.data import load_mnist
    from digits.errors import DigitsError

    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"  # where the tests find them
    data_dir = args.data_dir or (str(beside) if (beside / "t10k-images-idx3-ubyte.gz").is_file() else None)
    try:
        mnist = load_mnist(data_dir)
    except DigitsError as e:
        raise SystemExit(f"camera bench: {e}") from None
    film = film_number(mnist.x_test, mnist.y_test, args.text, frames=10, seed=args.seed)
    report: dict = {"text": args.text, "frame_size": list(film.frames[0].size), "uptime_before": uptime()}
    proc, port = start_server()
    try:
        if args.part in ("api", "both"):
            report["api"] = bench_api(port, [as_sent(f) for f in film.frames], args.text, args.seconds)
        if args.part in ("page", "both"):
            with tempfile.TemporaryDirectory() as folder:
                video = write_y4m(film.frames, Path(folder) / "number.y4m")
                report["page"] = bench_page(port, video, args.text, args.seconds)
    finally:
        stop_server(proc)
    report["uptime_after"] = uptime()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"film: {args.text}, {film.frames[0].width}×{film.frames[0].height} frames, sent at 640 px (JPEG q85)")
    print(f"load before: {report['uptime_before']}")
    if "api" in report:
        a = report["api"]
        print(
            f"api  /api/read back to back: {a['frames']} frames, {a['frames_per_second']:.2f} frames/s, "
            f"{a['ms_p50']:.0f} ms median, {a['ms_p90']:.0f} ms p90, {a['ms_max']:.0f} ms max, "
            f"{a['right']}/{a['frames']} right, {a['jpeg_bytes']} bytes a frame"
        )
    if "page" in report:
        g = report["page"]
        settled = f"{g['settled_after_s']:.1f} s" if g["settled_after_s"] is not None else "never"
        delay = (
            f"{g['delay_ms_p50']:.0f} ms median, {g['delay_ms_p90']:.0f} ms p90, {g['delay_ms_max']:.0f} ms max"
            if g["delay_ms_p50"] is not None
            else "no answers"
        )
        print(
            f"page with the fake camera: {g['frames']} frames answered, {g['frames_per_second']:.2f} frames/s "
            f"(the page sends at most 4/s); frame to answer {delay}; {g['right']}/{g['frames']} right; "
            f"settled after {settled}"
        )
        if g["frame_gap_ms_p50"] is not None:
            print(
                f"page smoothness: animation frames {g['frame_gap_ms_p50']:.0f} ms apart (median), "
                f"{g['frame_gap_ms_p99']:.0f} ms p99, {g['frame_gap_ms_max']:.0f} ms longest"
            )
    print(f"load after:  {report['uptime_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
