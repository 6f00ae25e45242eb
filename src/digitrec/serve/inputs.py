"""Turn a request body into grey images, or a precise 4xx error saying what was wrong.

Everything here checks limits before doing the work they bound: the body is read in chunks
and dropped past ``max_upload_bytes``; an image's size is read from its header and refused
past ``max_pixels`` before it is decoded; the number of images is counted before any is
decoded. Pictures are decoded by :func:`digitrec.imaging.load_image`, as the CLI does.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from digitrec.imaging import ImageError, load_image
from digitrec.serve.settings import ServeSettings

DRAIN_BYTES = 64 * 1024 * 1024  # read (and drop) this much of a too-large body to answer 413
JSON_TYPES = frozenset({"application/json"})
MULTIPART_TYPES = frozenset({"multipart/form-data"})
_JPEG_LIKE = {"MPO": "JPEG"}  # phones write multi-picture JPEGs; Pillow calls them MPO


class BadInput(Exception):
    """A client error: HTTP ``status``, a short machine ``code`` and a human ``message``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Upload:
    """An uploaded picture, still encoded."""

    name: str
    data: bytes


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def image_types(settings: ServeSettings) -> frozenset[str]:
    """Content types accepted for a bare image body."""
    types = {f"image/{f.lower()}" for f in settings.formats}
    if "JPEG" in settings.formats:
        types.add("image/jpg")
    return frozenset(types)


def check_content_type(content_type: str | None, settings: ServeSettings) -> str:
    """The request's media type if /predict accepts it, else 415."""
    kind = media_type(content_type)
    if kind in JSON_TYPES | MULTIPART_TYPES | image_types(settings):
        return kind
    accepted = ", ".join(sorted(image_types(settings)))
    shown = f"Content-Type {kind!r}" if kind else "a request without Content-Type"
    raise BadInput(
        415,
        "unsupported_media_type",
        f"{shown} is not accepted: send images as multipart/form-data file fields, as a "
        f'bare body ({accepted}), or pixels as application/json {{"images": [...]}}',
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it exceeds ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await drain(request.stream())
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await drain(stream)
            raise _too_large(None, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_multipart(headers: Headers, body: bytes, settings: ServeSettings) -> list[Upload]:
    """The file fields of a multipart body, in order (any field name)."""

    async def stream() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(
        headers,
        stream(),
        max_files=settings.max_batch,
        max_fields=32,
        max_part_size=settings.max_upload_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        if str(e).startswith("Too many files"):
            raise _too_many(None, settings.max_batch) from None
        raise BadInput(400, "bad_multipart", f"malformed multipart/form-data: {e}") from None
    try:
        uploads = []
        for i, (_, value) in enumerate(form.multi_items()):
            if isinstance(value, UploadFile):
                uploads.append(Upload(value.filename or f"file[{i}]", await value.read()))
    finally:
        await form.close()
    if not uploads:
        raise BadInput(400, "no_images", "the form holds no file: send each image as a file field")
    return uploads


def decode_image(upload: Upload, settings: ServeSettings) -> np.ndarray:
    """Grey levels of an uploaded PNG/JPEG, after checking its format and pixel count."""
    name = upload.name
    if not upload.data:
        raise BadInput(400, "empty_image", f"{name}: empty file")
    try:
        with Image.open(io.BytesIO(upload.data)) as im:  # reads the header only
            fmt, (width, height) = im.format, im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadInput(413, "image_too_large", f"{name}: {e}") from None
    except UnidentifiedImageError:
        raise BadInput(
            422,
            "not_an_image",
            f"{name}: not an image (expected {' or '.join(settings.formats)})",
        ) from None
    except Exception as e:  # a header Pillow recognises but cannot parse
        raise BadInput(422, "bad_image", f"{name}: cannot read image: {e}") from None
    fmt = _JPEG_LIKE.get(fmt or "", fmt)
    if fmt not in settings.formats:
        raise BadInput(
            415,
            "unsupported_format",
            f"{name}: {fmt} images are not accepted (send {' or '.join(settings.formats)})",
        )
    if width * height > settings.max_pixels:
        raise BadInput(
            413,
            "image_too_large",
            f"{name}: {width}x{height} is {width * height} pixels, more than the "
            f"{settings.max_pixels} allowed (DIGITREC_SERVE_MAX_PIXELS)",
        )
    stream = io.BytesIO(upload.data)
    stream.name = name  # load_image names the file in its errors
    try:
        return load_image(stream)
    except ImageError as e:
        raise BadInput(422, "bad_image", str(e)) from None


def parse_pixels(body: bytes, settings: ServeSettings) -> list[tuple[str, np.ndarray]]:
    """``{"images": [image, ...], "max_value": 1}``: each image a list of rows of grey levels
    in [0, max_value] (0 is black; either polarity works). Returns ``(name, grey in [0, 1])``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise BadInput(400, "bad_json", f"the body is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or "images" not in doc:
        raise BadInput(
            422, "bad_pixels", 'expected a JSON object {"images": [image, ...], "max_value": 1}'
        )
    unknown = sorted(set(doc) - {"images", "max_value"})
    if unknown:
        raise BadInput(422, "bad_pixels", f"unknown keys {unknown}: use 'images', 'max_value'")
    images, max_value = doc["images"], doc.get("max_value", 1)
    if isinstance(max_value, bool) or not isinstance(max_value, int | float):
        raise BadInput(422, "bad_pixels", f"max_value must be a number, got {max_value!r}")
    if not (math.isfinite(max_value) and max_value > 0):
        raise BadInput(422, "bad_pixels", f"max_value must be positive, got {max_value!r}")
    if not isinstance(images, list) or not images:
        raise BadInput(400, "no_images", "'images' must be a non-empty list of images")
    if len(images) > settings.max_batch:
        raise _too_many(len(images), settings.max_batch)
    out = []
    for i, image in enumerate(images):
        name = f"images[{i}]"
        try:
            a = np.array(image, dtype=np.float64)
        except (ValueError, TypeError):
            raise BadInput(
                422, "bad_pixels", f"{name}: must be a list of equal-length rows of numbers"
            ) from None
        if a.ndim != 2 or a.size == 0:
            raise BadInput(
                422, "bad_pixels", f"{name}: must be a non-empty list of rows, got shape {a.shape}"
            )
        if a.size > settings.max_pixels:
            raise BadInput(
                413,
                "image_too_large",
                f"{name}: {a.shape[1]}x{a.shape[0]} pixels is more than the "
                f"{settings.max_pixels} allowed",
            )
        if not np.isfinite(a).all():
            raise BadInput(422, "bad_pixels", f"{name}: holds NaN, infinite or null values")
        low, high = float(a.min()), float(a.max())
        if low < 0 or high > max_value:
            raise BadInput(
                422,
                "bad_pixels",
                f"{name}: pixel values must lie in [0, {max_value:g}], "
                f"got values in [{low:g}, {high:g}]",
            )
        out.append((name, a / max_value))
    return out


def _too_many(count: int | None, limit: int) -> BadInput:
    got = f"{count} images, more" if count is not None else "more images"
    return BadInput(
        413,
        "too_many_images",
        f"{got} than the {limit} allowed in one request (DIGITREC_SERVE_MAX_BATCH)",
    )


def _too_large(declared: int | None, limit: int) -> BadInput:
    size = f" ({declared} bytes)" if declared is not None else ""
    return BadInput(
        413,
        "upload_too_large",
        f"the body{size} is larger than the {limit} bytes allowed "
        "(DIGITREC_SERVE_MAX_UPLOAD_BYTES)",
    )


async def drain(stream: AsyncIterator[bytes]) -> None:
    """Read what the client still sends (up to DRAIN_BYTES) so it gets to read our 413."""
    drained = 0
    async for chunk in stream:
        drained += len(chunk)
        if drained > DRAIN_BYTES:
            break
