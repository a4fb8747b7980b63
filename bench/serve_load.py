"""Load check for ``digits serve``: N concurrent clients send real MNIST digits to the JSON API.

Bounded on purpose: a fixed number of requests (at most 5,000), a time limit (at most 300 s),
and only to this machine (the URL must resolve to a loopback address). Without ``--url`` it
starts ``digits serve`` itself on a free localhost port and stops it afterwards.

Each request is what the page sends while someone draws: a 280×280 PNG of a digit, white on
black (a real MNIST test digit, enlarged), or with ``--endpoint read`` a 3-digit number.
Reports throughput, latency percentiles, errors (must be 0) and how many answers were right.

    python bench/serve_load.py --clients 8 --requests 400
"""

from __future__ import annotations

import argparse
import http.client
import io
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

MAX_REQUESTS = 5000
MAX_CLIENTS = 64
MAX_SECONDS = 300.0


@dataclass
class Tally:
    """What the clients saw, shared between their threads under one lock."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    right: int = 0
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def loopback_only(url: str) -> tuple[str, int]:
    """Host and port of ``url``, refusing anything that is not this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"serve_load: expected http://HOST:PORT, got {url!r}")
    port = parts.port or 80
    addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"serve_load: {parts.hostname} is not a loopback address; this check only loads localhost")
    return parts.hostname, port


def payloads(endpoint: str, count: int, data_dir: str | None) -> list[tuple[bytes, str]]:
    """PNG bodies and the answer each should get, made from real MNIST test digits."""
    from digits.data import load_mnist

    mnist = load_mnist(data_dir)
    out = []
    for i in range(count):
        if endpoint == "predict":
            image, text = mnist.x_test[i], str(int(mnist.y_test[i]))
        else:
            picks = [(3 * i + k) % len(mnist.x_test) for k in range(3)]
            image = np.zeros((48, 3 * 28 + 4 * 10), dtype=np.uint8)
            for k, j in enumerate(picks):
                image[10:38, 10 + k * 38 : 38 + k * 38] = mnist.x_test[j]
            text = "".join(str(int(mnist.y_test[j])) for j in picks)
        big = Image.fromarray(image).resize((image.shape[1] * 10, image.shape[0] * 10), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        big.save(buffer, "PNG")
        out.append((buffer.getvalue(), text))
    return out


def client(
    host: str, port: int, path: str, bodies: list[tuple[bytes, str]], total: int, deadline: float, tally: Tally
) -> None:
    """One client: a keep-alive connection sending requests until the shared count or the time runs out."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        while True:
            with tally.lock:
                if tally.issued >= total or time.monotonic() >= deadline:
                    return
                n = tally.issued
                tally.issued += 1
            body, expected = bodies[n % len(bodies)]
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "image/png"})
                response = conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
                answer = json.loads(data)
                got = str(answer.get("digit")) if "digit" in answer else answer.get("text")
            except Exception as e:  # record and carry on with a fresh connection
                with tally.lock:
                    tally.errors.append(f"{type(e).__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                continue
            with tally.lock:
                tally.latencies.append(elapsed)
                tally.right += got == expected
    finally:
        conn.close()


def start_server(model: str | None, workers: int = 1) -> tuple[subprocess.Popen, str]:
    """``digits serve`` on a free localhost port; returns the process and its URL once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "digits", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if model:
        command += ["--model", model]
    if workers > 1:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve_load: digits serve exited with status {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("serve_load: digits serve did not start within 180 s")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000 (default: start one)")
    parser.add_argument("--model", help="model for the server this script starts (default: the packaged one)")
    parser.add_argument("--server-workers", type=int, default=1, help="--workers of the server it starts (default 1)")
    parser.add_argument("--endpoint", choices=["predict", "read"], default="predict")
    parser.add_argument("--clients", type=int, default=8, help=f"concurrent clients (1-{MAX_CLIENTS}, default 8)")
    parser.add_argument("--requests", type=int, default=400, help=f"requests in all (1-{MAX_REQUESTS}, default 400)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help=f"stop after this long (max {MAX_SECONDS:.0f})")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first (default 10)")
    parser.add_argument("--data-dir", help="folder with the MNIST files (default: as digits finds them)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--clients must be 1-{MAX_CLIENTS} and --requests 1-{MAX_REQUESTS}")
    if not 0 < args.max_seconds <= MAX_SECONDS:
        parser.error(f"--max-seconds must be in (0, {MAX_SECONDS:.0f}]")

    bodies = payloads(args.endpoint, min(args.requests, 1000), args.data_dir)
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.model, args.server_workers)
    try:
        host, port = loopback_only(url)
        path = "/api/predict" if args.endpoint == "predict" else "/api/read"
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", "/healthz")
        health = json.loads(conn.getresponse().read())
        conn.close()
        warm = Tally()
        client(host, port, path, bodies, min(args.warmup, args.requests), time.monotonic() + 60, warm)

        tally = Tally()
        start = time.perf_counter()
        deadline = time.monotonic() + args.max_seconds
        threads = [
            threading.Thread(target=client, args=(host, port, path, bodies, args.requests, deadline, tally))
            for _ in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    done = len(tally.latencies)
    ms = [x * 1000 for x in tally.latencies]
    figures = {
        "endpoint": path,
        "model": health.get("model", {}).get("name"),
        "engine": health.get("model", {}).get("engine"),
        "clients": args.clients,
        "requests": done + len(tally.errors),
        "ok": done,
        "errors": len(tally.errors),
        "right": tally.right,
        "seconds": round(wall, 2),
        "throughput_rps": round(done / wall, 1) if wall > 0 else None,
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "server_workers": args.server_workers if args.url is None else None,
        "cpus": os.cpu_count(),
    }
    print(
        f"{figures['requests']} requests to {path} ({figures['model']}, {figures['engine']}) from "
        f"{args.clients} clients in {wall:.1f} s: {figures['throughput_rps']} req/s; latency p50 "
        f"{figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; "
        f"errors {figures['errors']}; right answers {tally.right}/{done}"
    )
    for error in tally.errors[:5]:
        print(f"  error: {error}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 1 if tally.errors or done == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
