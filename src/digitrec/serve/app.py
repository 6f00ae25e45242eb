"""The HTTP service: predictions, what is loaded, and a page to draw digits on.

``create_app(model_path, settings)`` loads and verifies the model once (an unverified or
tampered file stops it before anything is served) and returns a FastAPI app:

- ``POST /predict``: one or several PNG/JPEG images (multipart file fields, or one bare
  ``image/png``/``image/jpeg`` body), or grey pixels as JSON
  ``{"images": [[[...row...], ...], ...], "max_value": 1}``. Each picture goes through
  :func:`digitrec.predict.prepare` (:func:`digitrec.transforms.imaging.normalize`), exactly as in
  ``digitrec predict``. ``?include_input=true`` adds the normalised image the model saw.
- ``GET /health``, ``GET /model``: what is loaded, and its provenance.
- ``GET /``: the drawing page (``static/``, no external resources).
- ``GET /openapi.json``: the API description.

Each prediction response carries ``Server-Timing: decode;dur=…, prepare;dur=…,
model;dur=…`` (milliseconds spent decoding, normalising, and in the model).

Client errors are JSON ``{"error": code, "detail": message}`` with a 4xx status; see
:mod:`digitrec.serve.inputs` for the checks and :mod:`digitrec.serve.settings` for limits.
Every image's header is read, and the request's total pixel count checked, before any
image is decoded. Decoding and prediction run in worker threads, in two lanes of
``max_concurrency`` slots each: requests of at most ``small_request_pixels`` pixels never
wait behind large ones. Connection limits and read timeouts are in
:mod:`digitrec.serve.protocol` (run the app with :func:`digitrec.serve.server.config`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from digitrec.artifact import Artifact, load_artifact
from digitrec.pipeline import image_spec
from digitrec.predict import predict, prepare
from digitrec.serve import inputs
from digitrec.serve.info import describe
from digitrec.serve.settings import ServeSettings
from digitrec.transforms.imaging import ImageError

STATIC = Path(__file__).parent / "static"
# The page loads only what we serve; the browser refuses anything else.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
log = logging.getLogger("digitrec.serve")
SIZES = ("small", "large")  # the two lanes of worker slots


class DigitPrediction(BaseModel):
    image: str = Field(description="the file name, or images[i] for JSON pixels")
    digit: int
    probability: float | None = Field(
        description="probability of `digit` (null: no model probabilities)"
    )
    probabilities: dict[str, float] | None = Field(description="every class's probability")
    input: list[list[float]] | None = Field(
        None, description="with include_input=true: the normalised image the model saw"
    )


class PredictResponse(BaseModel):
    model_sha256: str | None
    predictions: list[DigitPrediction]


class ErrorResponse(BaseModel):
    error: str = Field(description="a short code, e.g. not_an_image, upload_too_large")
    detail: str = Field(description="what was wrong, for a person")


class PixelImages(BaseModel):
    images: list[list[list[float]]] = Field(description="images as lists of rows")
    max_value: float = Field(1.0, gt=0, description="the value of white (0 is black)")


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "empty or malformed body, no image",
        408: "the request head or body did not arrive in time",
        413: "body, image, batch or the request's total pixels larger than the limits",
        415: "content type or image format not accepted",
        422: "not an image, truncated image, bad pixels, no digit found",
        503: "the server holds its maximum of open connections",
    }.items()
}
_IMAGE = {"schema": {"type": "string", "format": "binary"}}
_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
            "image/png": _IMAGE,
            "image/jpeg": _IMAGE,
            "application/json": {"schema": PixelImages.model_json_schema()},
        },
    }
}


def create_app(
    model_path: str | os.PathLike[str], settings: ServeSettings | None = None
) -> FastAPI:
    """Load and verify the model at ``model_path``, then build the app serving it.

    Raises :class:`digitrec.artifact.ArtifactError` when the model cannot be trusted.
    """
    settings = settings or ServeSettings()
    artifact = load_artifact(model_path)
    # The first prediction in a process compiles the image kernels, or loads them from
    # numba's cache: pay for it here (once, on a blank image), not on the first request.
    artifact.model.predict(np.zeros((1, *image_spec(artifact.model).shape)))
    info = describe(artifact)
    started = time.time()
    lanes: dict[str, anyio.CapacityLimiter] = {}  # made in the event loop, on first use

    app = FastAPI(
        title="digitrec",
        summary="Recognise handwritten digits with the model the DVC pipeline trained.",
        version=_version(),
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN: the spec is enough
        redoc_url=None,
    )
    app.state.artifact = artifact
    app.state.settings = settings
    _add_error_handlers(app)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", summary="Liveness, and which model is loaded")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model_sha256": artifact.sha256,
            "dataset": (info["dataset"] or {}).get("dataset"),
            "image_shape": info["model"]["image_spec"]["shape"],
            "uptime_seconds": round(time.time() - started, 3),
        }

    @app.get("/model", summary="The loaded model and its provenance")
    def model_info() -> dict[str, Any]:
        return info

    @app.post(
        "/predict",
        summary="Predict the digit in one or several images",
        response_model=PredictResponse,
        responses=_ERRORS,
        openapi_extra=_PREDICT_BODY,
    )
    async def predict_endpoint(
        request: Request,
        include_input: bool = Query(False, description="return the normalised model input"),
    ) -> JSONResponse:
        try:
            kind = inputs.check_content_type(request.headers.get("content-type"), settings)
        except inputs.BadInput:
            await inputs.drain(request.stream())  # so the client reads the 415
            raise
        body = await inputs.read_body(request, settings.max_upload_bytes)
        if not body:
            raise inputs.BadInput(400, "empty_body", "the request body is empty")
        headers: list[inputs.Header] | None = None
        if kind in inputs.JSON_TYPES:
            cost = len(body) // 2  # a pixel takes at least two bytes ("0,")
        else:
            if kind in inputs.MULTIPART_TYPES:
                uploads = await inputs.parse_multipart(request.headers, body, settings)
            else:
                uploads = [inputs.Upload("body", body)]
            headers = inputs.inspect_uploads(uploads, settings)
            cost = sum(h.pixels for h in headers)
        lane = "small" if cost <= settings.small_request_pixels else "large"
        if not lanes:
            lanes.update({k: anyio.CapacityLimiter(settings.max_concurrency) for k in SIZES})
        result, timing = await anyio.to_thread.run_sync(
            _predict, artifact, settings, headers, body, include_input, limiter=lanes[lane]
        )
        server_timing = ", ".join(f"{k};dur={1000 * v:.3f}" for k, v in timing.items())
        return JSONResponse(result, headers={"Server-Timing": server_timing})

    return app


def _predict(
    artifact: Artifact,
    settings: ServeSettings,
    headers: list[inputs.Header] | None,
    body: bytes,
    include_input: bool,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Decode, normalise and predict (in a worker thread: all of it is CPU work).

    ``headers``: the inspected uploads; None: ``body`` is JSON pixels.
    Returns the response and the seconds each phase took (for ``Server-Timing``).
    """
    model = artifact.model
    decoding = preparing = 0.0
    names, ready = [], []

    def add(name: str, grey: np.ndarray) -> None:
        nonlocal preparing
        t = time.perf_counter()
        try:
            ready.append(prepare(model, grey))
        except ImageError as e:
            raise inputs.BadInput(422, "no_digit", f"{name}: {e}") from None
        names.append(name)
        preparing += time.perf_counter() - t

    t = time.perf_counter()
    if headers is None:
        greys = inputs.parse_pixels(body, settings)
        decoding = time.perf_counter() - t
        for name, grey in greys:
            add(name, grey)
    else:
        # One picture at a time, decoded then normalised: a request holds one full-size
        # image in memory at most, however many it sends.
        for h in headers:
            t = time.perf_counter()
            grey = inputs.decode_image(h)
            decoding += time.perf_counter() - t
            add(h.upload.name, grey)
            del grey
    batch = np.stack(ready)
    t = time.perf_counter()
    results = predict(model, batch)
    modelling = time.perf_counter() - t
    predictions = []
    for name, p, x in zip(names, results, batch, strict=True):
        record: dict[str, Any] = {
            "image": name,
            "digit": p.label,
            "probability": None if p.probability is None else round(p.probability, 6),
            "probabilities": None
            if p.probabilities is None
            else {str(k): round(v, 6) for k, v in p.probabilities.items()},
        }
        if include_input:
            record["input"] = x.tolist()
        predictions.append(record)
    timing = {"decode": decoding, "prepare": preparing, "model": modelling}
    return {"model_sha256": artifact.sha256, "predictions": predictions}, timing


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "upload_too_large",
    415: "unsupported_media_type",
}


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(inputs.BadInput)
    async def bad_input(request: Request, exc: inputs.BadInput) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        # The client closed the connection (or the body timed out): nobody reads this.
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _error(422, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = _error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"unexpected {type(exc).__name__}; see the log")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitrec")
    except PackageNotFoundError:
        return "0"
