"""The FastAPI app behind ``digits serve``: the draw-a-digit page plus a JSON API.

One :class:`~digits.inference.Predictor` is loaded when the app is made and shared by all
requests. Decoding, preprocessing and the model run in worker threads, never on the event
loop, so one slow request does not stall the others. Request bodies are read as a stream and
refused with 413 as soon as they pass :data:`MAX_UPLOAD_BYTES`, so an oversized upload is
never held in memory. Anything wrong with the input is a 4xx with a one-line ``detail``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import platform
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digits import __version__, pretrained
from digits.errors import DigitsError
from digits.inference import Predictor

#: Largest request body accepted by the upload endpoints (10 MiB); bigger ones get 413.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024

STATIC = Path(__file__).resolve().parent / "static"

#: The page loads nothing from elsewhere: this policy makes the browser hold it to that.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

log = logging.getLogger("digits.server")

T = TypeVar("T")

NOTHING_DRAWN = "nothing drawn: the image has no ink"


# ---------------------------------------------------------------------------------------
# Response shapes (they are what /docs shows)


class TopK(BaseModel):
    digit: int
    probability: float


class DigitResult(BaseModel):
    """What ``POST /api/predict`` answers. With ``nothing_drawn`` true every other field is empty."""

    nothing_drawn: bool = Field(description="true when the image has no ink: there is no digit to read")
    message: str | None = Field(None, description="why there is no digit, when there is none")
    digit: int | None = Field(None, description="the most likely digit, 0-9")
    probability: float | None = Field(None, description="the model's probability for that digit")
    unsure: bool | None = Field(None, description="true when the top probability is low: treat the answer with doubt")
    probabilities: list[float] | None = Field(None, description="the 10 probabilities, for digits 0 to 9")
    top_k: list[TopK] = Field(default_factory=list, description="the most likely digits, best first")
    input_png: str | None = Field(None, description="the 28×28 image the model saw, as a base64 PNG")


class ReadDigit(BaseModel):
    digit: int
    probability: float
    box: list[int] = Field(description="x0, y0, x1, y1 in the uploaded image's pixels")
    unsure: bool
    top_k: list[TopK] = Field(default_factory=list, description="the most likely digits here, best first")
    input_png: str | None = Field(None, description="the 28×28 image the model saw for this digit, as a base64 PNG")


class ReadSeparator(BaseModel):
    char: str = Field(description='".", "-", "/", or " " for a wide gap between digit groups')
    box: list[int] = Field(description="x0, y0, x1, y1 in the uploaded image's pixels")
    before_digit: int = Field(description="the index in its row of the digit it comes before")


class ReadRow(BaseModel):
    text: str = Field(description="the row as it reads, separators in their places (3.10, 279-1000, 12/05)")
    digits: list[ReadDigit] = Field(description="the row's digits, left to right (as in digits, without input_png)")
    separators: list[ReadSeparator] = Field(default_factory=list)


class NumberResult(BaseModel):
    """What ``POST /api/read`` answers."""

    nothing_drawn: bool = Field(
        description="true when the image has no ink, or no mark in it reads as a number: there is nothing to read"
    )
    message: str | None = Field(None, description="why nothing was read, when nothing was")
    text: str = Field("", description="the number read: rows top to bottom joined by newlines, each left to right")
    probability: float | None = Field(
        None, description="the calibrated chance that the whole number is right (every digit found and read right)"
    )
    unsure: bool | None = Field(None, description="true when that chance is below the reader's calibrated threshold")
    digits: list[ReadDigit] = Field(
        default_factory=list, description="every digit found (no separators), row by row, each left to right"
    )
    rows: list[ReadRow] = Field(default_factory=list, description="the rows, top to bottom")
    width: int = Field(description="the uploaded image's width in pixels (the boxes' frame)")
    height: int = Field(description="the uploaded image's height in pixels")


def _openapi_image_body(purpose: str) -> dict[str, Any]:
    """OpenAPI text for a body that is either a multipart ``file`` field or raw image bytes."""
    binary = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "required": True,
            "description": f"{purpose}: a PNG, JPEG, GIF, BMP, TIFF or WebP image, as a multipart field named "
            f"`file` or as the raw request body; at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB.",
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": binary}, "required": ["file"]}
                },
                "image/*": {"schema": binary},
                "application/octet-stream": {"schema": binary},
            },
        }
    }


BAD_INPUT = {
    400: {"description": "not an image, an unreadable image, or an empty body"},
    413: {"description": f"the body is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB"},
}


# ---------------------------------------------------------------------------------------
# Reading uploads


class UploadTooLarge(Exception):
    """The request body passed the size limit; raised while streaming, before it is all read."""


async def _capped(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass chunks through, stopping with :class:`UploadTooLarge` once more than ``limit`` bytes came."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge
        yield chunk


async def read_upload(request: Request, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The uploaded image's bytes: the multipart field ``file`` (no other name) or the whole raw body.

    A declared ``Content-Length`` over the limit is refused before any of the body is read; a
    chunked body is counted as it arrives and refused as soon as it passes the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(400, "bad Content-Length header") from None
        if size > limit:
            raise UploadTooLarge
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        parser = MultiPartParser(request.headers, _capped(request.stream(), limit), max_files=1, max_fields=8)
        try:
            form = await parser.parse()
        except MultiPartException as e:
            raise HTTPException(400, f"bad multipart upload: {e.message}") from None
        try:
            field = form.get("file")
            if not isinstance(field, UploadFile):
                others = [k for k, v in form.multi_items() if isinstance(v, UploadFile)]
                found = f" (it has {', '.join(repr(k) for k in others)})" if others else ""
                raise HTTPException(400, f"the multipart upload has no field 'file'{found}: send the image as 'file'")
            data = await field.read()
        finally:
            await form.close()
    else:
        parts = [chunk async for chunk in _capped(request.stream(), limit)]
        data = b"".join(parts)
    if not data:
        raise HTTPException(400, "empty upload: send an image")
    return data


# ---------------------------------------------------------------------------------------
# Helpers


def _png_base64(image: np.ndarray) -> str:
    """A float image in [0, 1] as base64 PNG text (for the page's "what the model saw" view)."""
    pixels = np.clip(np.rint(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _is_no_ink(error: DigitsError) -> bool:
    """Whether preprocessing refused the image because it is blank (a result, not an error)."""
    return str(error).startswith("no ink found")


def _is_no_number(error: DigitsError) -> bool:
    """Whether the reader refused what it read as no number (a result, not an error: the camera's empty view)."""
    return str(error).startswith("no number found")


def _version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def model_info(predictor: Predictor) -> dict[str, Any]:
    """Name, engine and test accuracy of the served model, from the ``metrics.json`` beside it."""
    path = Path(predictor.path)
    info: dict[str, Any] = {
        "name": path.name,
        "path": str(path),
        "engine": predictor.engine_name,
        "packaged": path.resolve().parent == pretrained.FOLDER,
        "test_accuracy": None,
        # calibration (docs/confidence.md): probabilities calibrated or not, and where "unsure" starts
        "calibrated": predictor.calibration is not None,
        "unsure_below": predictor.unsure_below,
    }
    metrics_file = path.parent / "metrics.json"
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text())
        except (OSError, ValueError):
            metrics = {}
        if isinstance(metrics, dict):
            for key in ("test_accuracy", "test_errors", "arch", "preset", "params"):
                if key in metrics:
                    info[key] = metrics[key]
    return info


def versions() -> dict[str, str | None]:
    """Versions of the pieces that decide the answers, for bug reports."""
    return {
        "digits": __version__,
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "pillow": _version("pillow"),
        "keras": _version("keras"),
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "onnxruntime": _version("onnxruntime"),
        "fastapi": _version("fastapi"),
        "uvicorn": _version("uvicorn"),
    }


class RequestLog:
    """ASGI middleware that logs one line per HTTP request: client, method, path, status, time, and a note."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        state = scope.setdefault("state", {})

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            client = scope.get("client")
            who = client[0] if client else "-"
            path = scope.get("path", "")
            if scope.get("query_string"):
                path += "?" + scope["query_string"].decode("latin-1")
            note = state.get("log_note")
            ms = (time.perf_counter() - start) * 1000.0
            log.info(
                "%s %s %s %d %.1f ms%s", who, scope.get("method", "-"), path, status, ms, f" {note}" if note else ""
            )


# ---------------------------------------------------------------------------------------
# The app


def create_app(
    predictor_or_model_path: Predictor | str | os.PathLike[str] | None = None,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> FastAPI:
    """Make the app around one predictor (or load one from a model path; None = the packaged model).

    The model is loaded and run once here, so a bad model file fails before the server starts
    and the first visitor does not wait for the engine to warm up.
    """
    if isinstance(predictor_or_model_path, Predictor):
        predictor = predictor_or_model_path
    else:
        predictor = Predictor(predictor_or_model_path)
    predictor.probabilities(np.zeros((1, 28, 28), dtype=np.float32))  # warm-up

    from digits import preprocess
    from digits.reading import Reader

    reader = Reader(predictor)
    info = model_info(predictor)
    # At most this many images are in the model at once; the rest wait in their worker threads.
    # More would only make the engines fight over the same cores.
    model_slots = threading.BoundedSemaphore(max(1, min(4, os.cpu_count() or 1)))

    app = FastAPI(
        docs_url=None,  # served below from local files, so /docs works offline too
        redoc_url=None,
        title="digits",
        version=__version__,
        summary="Recognize a handwritten digit, or read a handwritten number, from an image.",
        description=(
            "Send an image (PNG, JPEG, ...) as a multipart field `file` or as the raw body. "
            f"Bodies over {max_upload_bytes:,} bytes are refused with 413. The page at `/` uses this API."
        ),
    )
    app.state.predictor = predictor
    app.add_middleware(RequestLog)
    _add_one_line_errors(app)

    async def off_loop(request: Request, job: Callable[[], T]) -> T:
        """Run ``job`` in a worker thread; input problems become 400, a bug becomes a logged 500."""
        try:
            return await run_in_threadpool(job)
        except DigitsError as e:
            request.state.log_note = f"rejected: {e}"
            raise HTTPException(400, str(e)) from None
        except Exception as e:  # never let one request's surprise take the server down
            log.exception("error while handling %s %s", request.method, request.url.path)
            raise HTTPException(500, f"internal error: {type(e).__name__}") from None

    async def upload(request: Request) -> bytes:
        try:
            return await read_upload(request, max_upload_bytes)
        except UploadTooLarge:
            request.state.log_note = "upload too large"
            raise HTTPException(
                413,
                f"upload too large: the limit is {max_upload_bytes:,} bytes",
                headers={"Connection": "close"},
            ) from None
        except ClientDisconnect:
            request.state.log_note = "client went away"
            raise HTTPException(400, "the client disconnected during the upload") from None

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    @app.post(
        "/api/predict",
        response_model=DigitResult,
        response_model_exclude_none=False,
        openapi_extra=_openapi_image_body("the image of one digit"),
        responses=BAD_INPUT,
        summary="Recognize one handwritten digit",
    )
    async def predict(
        request: Request, top_k: int = Query(3, ge=1, le=10, description="how many runners-up to list")
    ) -> dict[str, Any]:
        """The digit in the image, its probability, all 10 probabilities and the 28×28 input the model saw.

        A blank image gives ``nothing_drawn: true`` and no digit.
        """
        data = await upload(request)

        def job() -> dict[str, Any]:
            image = preprocess.load_image(data)
            try:
                x = preprocess.to_mnist(image)
            except DigitsError as e:
                if _is_no_ink(e):
                    return {"nothing_drawn": True, "message": NOTHING_DRAWN}
                raise
            with model_slots:
                prediction = predictor.predict(x[None], top_k=top_k)[0]
            return {"nothing_drawn": False, **prediction.to_dict(), "input_png": _png_base64(x)}

        result = await off_loop(request, job)
        request.state.log_note = (
            "nothing drawn"
            if result["nothing_drawn"]
            else f"digit={result['digit']} p={result['probability']:.3f} bytes={len(data)}"
        )
        return result

    @app.post(
        "/api/read",
        response_model=NumberResult,
        openapi_extra=_openapi_image_body("the image of a handwritten number"),
        responses=BAD_INPUT,
        summary="Read a handwritten number (several digits)",
    )
    async def read(request: Request) -> dict[str, Any]:
        """The number in the image, with each digit's probability and box (in the image's pixels).

        A blank image gives ``nothing_drawn: true`` and an empty ``text``; so does one whose marks read as no
        number (``digits.reading.NO_NUMBER_BELOW``), with the reason in ``message``.
        """
        data = await upload(request)

        def job() -> dict[str, Any]:
            image = preprocess.load_image(data)
            size = {"width": image.width, "height": image.height}
            try:
                with model_slots:
                    reading = reader.read(image)
            except DigitsError as e:
                if _is_no_ink(e):
                    return {"nothing_drawn": True, "message": NOTHING_DRAWN, **size}
                if _is_no_number(e):
                    return {"nothing_drawn": True, "message": str(e), **size}
                raise
            found = reading.to_dict()
            for entry, digit in zip(found["digits"], reading.digits, strict=True):
                entry["input_png"] = _png_base64(digit.image) if digit.image is not None else None
            return {"nothing_drawn": False, **found, **size}

        result = await off_loop(request, job)
        request.state.log_note = "nothing drawn" if result["nothing_drawn"] else f"text={result['text']!r}"
        return result

    @app.get("/healthz", summary="Liveness, the served model and versions")
    async def healthz() -> dict[str, Any]:
        """``status: ok`` while the server answers, with the model (name, engine, test accuracy) and versions."""
        return {"status": "ok", "model": info, "max_upload_bytes": max_upload_bytes, "versions": versions()}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_offline_docs(app)
    return app


def _validation_line(error: RequestValidationError) -> str:
    """FastAPI's list of validation problems as one line, e.g. ``top_k: Input should be a valid integer``."""
    parts = []
    for item in error.errors():
        where = [str(x) for x in item.get("loc", ()) if x not in ("query", "path", "body", "header")]
        given = f" (got {item['input']!r})" if isinstance(item.get("input"), str | int | float) else ""
        parts.append(f"{'.'.join(where) or 'request'}: {item.get('msg', 'invalid')}{given}")
    return "; ".join(parts) or "invalid request"


def _add_one_line_errors(app: FastAPI) -> None:
    """Every error is ``{"detail": "one line"}``, and its log line says why."""
    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = _validation_line(error)
        request.state.log_note = f"rejected: {detail}"
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Any:
        if error.status_code >= 400 and not getattr(request.state, "log_note", None):
            request.state.log_note = f"rejected: {error.detail}"
        return await http_exception_handler(request, error)


def _add_offline_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the copy that ships in ``fastapi-offline``, not from a CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.mount("/docs-static", StaticFiles(directory=assets), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="digits API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )


# ---------------------------------------------------------------------------------------
# Running it


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket for ``host:port``, or a one-line DigitsError (port taken, unknown host)."""
    if not 0 <= port <= 65535:
        raise DigitsError(f"--port must be between 0 and 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise DigitsError(f"cannot listen on {host!r}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise DigitsError(f"cannot listen on {host}:{port}: {e.strerror or e} (is --port taken?)") from None
    return sock


def check_tls_files(certfile: str | os.PathLike[str] | None, keyfile: str | os.PathLike[str] | None) -> bool:
    """Check ``--ssl-certfile`` / ``--ssl-keyfile`` before anything starts; True when HTTPS is asked for.

    Both or neither; each must be a readable file, and the pair must load as a certificate chain
    with its private key, so that a typo is one line now rather than a traceback from uvicorn.
    """
    if certfile is None and keyfile is None:
        return False
    if certfile is None or keyfile is None:
        given, missing = ("--ssl-certfile", "--ssl-keyfile") if keyfile is None else ("--ssl-keyfile", "--ssl-certfile")
        raise DigitsError(f"{given} needs {missing} too: HTTPS needs both the certificate and its private key")
    texts = {}
    for flag, name, marker, what in (
        ("--ssl-certfile", certfile, "-----BEGIN CERTIFICATE-----", "a PEM certificate"),
        ("--ssl-keyfile", keyfile, "PRIVATE KEY-----", "a PEM private key"),
    ):
        path = Path(name)
        if not path.is_file():
            raise DigitsError(f"{flag} {name}: {'not a file' if path.exists() else 'no such file'}")
        try:
            texts[flag] = path.read_bytes()[:1_000_000].decode("ascii", errors="replace")
        except OSError as e:
            raise DigitsError(f"{flag} {name}: cannot read it ({e.strerror or e})") from None
        if marker not in texts[flag]:
            raise DigitsError(f"{flag} {name}: not {what} (no '{marker.strip('-')}' block)")
    import ssl

    def no_passphrase() -> bytes:
        raise DigitsError(f"--ssl-keyfile {keyfile}: the key is encrypted; give a key without a passphrase")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=no_passphrase)
    except DigitsError:
        raise
    except (ssl.SSLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or ""
        why = (
            "the key does not belong to the certificate"
            if "MISMATCH" in reason
            else "they do not load as a certificate and its key" + (f" ({reason})" if reason else "")
        )
        raise DigitsError(f"cannot serve HTTPS with {certfile} and {keyfile}: {why}") from None
    return True


#: ``digits serve --workers N``: each server process loads the model named here (see :func:`app_from_env`).
MODEL_ENV = "DIGITS_SERVE_MODEL"


def _log_requests() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def app_from_env() -> FastAPI:
    """The app of one of several server processes: uvicorn makes each from this factory, by name,
    so the model path travels in ``$DIGITS_SERVE_MODEL`` rather than as an argument."""
    _log_requests()
    return create_app(os.environ.get(MODEL_ENV) or None)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | os.PathLike[str] | None = None,
    *,
    workers: int = 1,
    ssl_certfile: str | os.PathLike[str] | None = None,
    ssl_keyfile: str | os.PathLike[str] | None = None,
) -> int:
    """Load the model, listen on ``host:port`` and serve until Ctrl-C; one log line per request on stderr.

    ``workers`` > 1 runs that many server processes on the one socket (uvicorn's supervisor), each with
    its own predictor, so that requests use every core instead of one process's share of the GIL.
    With ``ssl_certfile`` and ``ssl_keyfile`` it serves HTTPS, which browsers need before they let a
    page on another machine (a phone on the same network) use the camera.
    """
    import uvicorn

    https = check_tls_files(ssl_certfile, ssl_keyfile)
    sock = _listen(host, port)
    try:
        app = create_app(model)  # in every case: a bad model fails here, in one line, before any worker starts
        predictor: Predictor = app.state.predictor
        _log_requests()
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if https else "http"
        processes = f", {workers} processes" if workers > 1 else ""
        print(
            f"digits: serving {scheme}://{shown}:{bound}/ with {predictor.path} ({predictor.engine_name}{processes}); "
            "Ctrl-C stops",
            flush=True,
        )
        if not https and host not in ("127.0.0.1", "localhost", "::1"):
            print(
                "digits: note: other devices get the page but not the camera over plain http; "
                "give --ssl-certfile and --ssl-keyfile for HTTPS (docs/camera.md)",
                flush=True,
            )
        tls = {"ssl_certfile": os.fspath(ssl_certfile), "ssl_keyfile": os.fspath(ssl_keyfile)} if https else {}
        options = {"log_config": None, "access_log": False, "lifespan": "off", "server_header": False, **tls}
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            del app
            os.environ[MODEL_ENV] = str(predictor.path)
            config = uvicorn.Config("digits.server.app:app_from_env", factory=True, workers=workers, **options)
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    finally:
        sock.close()
    print("digits: stopped", flush=True)
    return 0
