"""Turn a request body into grey images, or a precise 4xx error saying what was wrong.

Everything here checks limits before doing the work they bound: the body is read in chunks
and dropped past ``max_upload_bytes``; every image's size is read from its header and
refused past ``max_pixels``, and the images of one request together past
``max_request_pixels``, before any is decoded; the number of images is counted before any
is decoded. Pictures are decoded by :func:`digitrec.transforms.imaging.load_image`, as the CLI does.
JSON pixels are parsed by pydantic with strict numbers (no booleans, no strings), stopping
at the first wrong value.
"""

from __future__ import annotations

import io
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from digitrec.serve.settings import ServeSettings
from digitrec.transforms.imaging import ImageError, load_image

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


@dataclass(frozen=True)
class Header:
    """What an image's header says, read without decoding it."""

    upload: Upload
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


_FAIL_FAST = Field(fail_fast=True)  # stop at the first wrong value of a list


class PixelDoc(BaseModel):
    """The JSON body: ``{"images": [image, ...], "max_value": 1}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: Annotated[
        list[Annotated[list[Annotated[list[StrictFloat], _FAIL_FAST]], _FAIL_FAST]], _FAIL_FAST
    ]
    max_value: StrictFloat = 1.0


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
    """The file fields of a multipart body, in order (any field name).

    A body without its closing boundary (``--boundary--``) is truncated: 400, before parsing.
    """
    _, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if boundary and b"--" + boundary + b"--" not in body:
        raise BadInput(
            400,
            "bad_multipart",
            f"malformed multipart/form-data: the body is truncated or malformed (it has no "
            f"closing boundary --{boundary.decode('latin-1')}--)",
        )

    async def stream() -> AsyncGenerator[bytes, None]:
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


def inspect_image(upload: Upload, settings: ServeSettings) -> Header:
    """An upload's format and size, read from its header (nothing is decoded); 4xx when the
    format is not accepted or the image has more than ``max_pixels`` pixels."""
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
    fmt = _JPEG_LIKE.get(fmt or "", fmt or "unknown")
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
    return Header(upload, fmt, width, height)


def inspect_uploads(uploads: list[Upload], settings: ServeSettings) -> list[Header]:
    """Every upload's header, and 413 when together they hold more than
    ``max_request_pixels`` pixels: all before any image is decoded."""
    headers = [inspect_image(u, settings) for u in uploads]
    check_request_pixels([(h.upload.name, h.pixels) for h in headers], settings)
    return headers


def check_request_pixels(sizes: list[tuple[str, int]], settings: ServeSettings) -> int:
    """The total pixel count of one request's images, or 413 past ``max_request_pixels``."""
    total = sum(pixels for _, pixels in sizes)
    if total > settings.max_request_pixels:
        largest = max(sizes, key=lambda item: item[1])
        raise BadInput(
            413,
            "request_too_large",
            f"the {len(sizes)} images hold {total} pixels together (the largest, "
            f"{largest[0]}, {largest[1]}), more than the {settings.max_request_pixels} "
            "allowed in one request (DIGITREC_SERVE_MAX_REQUEST_PIXELS): send fewer or "
            "smaller images per request",
        )
    return total


def decode_image(header: Header) -> np.ndarray:
    """Grey levels of an upload whose header :func:`inspect_image` accepted."""
    stream = io.BytesIO(header.upload.data)
    stream.name = header.upload.name  # load_image names the file in its errors
    try:
        return load_image(stream)
    except ImageError as e:
        raise BadInput(422, "bad_image", str(e)) from None


def parse_pixels(body: bytes, settings: ServeSettings) -> list[tuple[str, np.ndarray]]:
    """``{"images": [image, ...], "max_value": 1}``: each image a list of rows of grey levels
    in [0, max_value] (0 is black; either polarity works). Returns ``(name, grey in [0, 1])``.
    """
    try:
        doc = PixelDoc.model_validate_json(body)
    except ValidationError as exc:
        raise _pixel_error(exc.errors(include_url=False)[0]) from None
    images, max_value = doc.images, doc.max_value
    if not (math.isfinite(max_value) and max_value > 0):
        raise BadInput(
            422, "bad_pixels", f"max_value must be a positive finite number, got {max_value!r}"
        )
    if not images:
        raise BadInput(400, "no_images", "'images' must be a non-empty list of images")
    if len(images) > settings.max_batch:
        raise _too_many(len(images), settings.max_batch)
    sizes = [(f"images[{i}]", sum(len(row) for row in image)) for i, image in enumerate(images)]
    check_request_pixels(sizes, settings)
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
                f"{settings.max_pixels} allowed (DIGITREC_SERVE_MAX_PIXELS)",
            )
        if not np.isfinite(a).all():
            raise BadInput(422, "bad_pixels", f"{name}: holds NaN or infinite values")
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


_SHAPE = 'expected a JSON object {"images": [image, ...], "max_value": 1}'


def _pixel_error(error: Mapping[str, Any]) -> BadInput:
    """The first problem pydantic found in a JSON pixel body, as a 4xx naming where it is."""
    kind, loc, got = error["type"], error["loc"], error.get("input")
    if kind == "json_invalid":
        return BadInput(400, "bad_json", f"the body is not valid JSON: {error['msg']}")
    if kind == "model_type" or (kind == "missing" and loc == ("images",)):
        return BadInput(422, "bad_pixels", _SHAPE)
    if kind == "extra_forbidden":
        return BadInput(
            422, "bad_pixels", f"unknown key {loc[0]!r}: use 'images' and 'max_value'; {_SHAPE}"
        )
    if loc == ("images",):
        return BadInput(400, "no_images", "'images' must be a non-empty list of images")
    where = _where(loc)
    if isinstance(got, bool):
        what = f"expected a number, got the boolean {str(got).lower()}"
    elif kind == "list_type":
        what = f"expected a list, got {_short(got)}"
    elif kind == "float_type":
        what = f"expected a number, got {_short(got)}"
    else:
        what = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {_short(got)}"
    return BadInput(422, "bad_pixels", f"{where}: {what}")


def _where(loc: tuple) -> str:
    """``("images", 0, 2, 3)`` -> ``images[0] row 2 column 3``."""
    if loc[0] != "images":
        return ".".join(str(part) for part in loc)
    parts = [f"images[{loc[1]}]"] if len(loc) > 1 else ["images"]
    parts += [f"{label} {index}" for label, index in zip(("row", "column"), loc[2:], strict=False)]
    return " ".join(parts)


def _short(value: object, limit: int = 40) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
