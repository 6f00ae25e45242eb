"""Limits and options of ``digitrec serve``, read from ``DIGITREC_SERVE_*`` variables.

=========================================  ==========  ==========================================
environment variable                       default     meaning
=========================================  ==========  ==========================================
``DIGITREC_SERVE_MAX_UPLOAD_BYTES``        10485760    request body size (10 MiB); larger -> 413
``DIGITREC_SERVE_MAX_PIXELS``              16777216    width x height of one image (4096 x 4096),
                                                       checked from the header before decoding;
                                                       larger -> 413 (decompression bombs)
``DIGITREC_SERVE_MAX_REQUEST_PIXELS``      16777216    pixels of all the images of one request
                                                       together, checked from the headers before
                                                       any is decoded; more -> 413
``DIGITREC_SERVE_SMALL_REQUEST_PIXELS``    1048576     requests of at most this many pixels run
                                                       in their own lane: they never queue
                                                       behind large ones
``DIGITREC_SERVE_MAX_BATCH``               64          images in one request; more -> 413
``DIGITREC_SERVE_FORMATS``                 PNG,JPEG    image formats accepted (Pillow names);
                                                       other formats -> 415
``DIGITREC_SERVE_MAX_CONCURRENCY``         4           requests decoded and predicted at once in
                                                       each lane (the rest wait)
``DIGITREC_SERVE_MAX_CONNECTIONS``         256         open connections; past it the oldest one
                                                       waiting for a request is closed, or, when
                                                       every one is busy, the new one gets a 503
``DIGITREC_SERVE_TIMEOUT_HEAD``            10          seconds to send a request's line and
                                                       headers (from the connection's opening or
                                                       the request's first byte); then 408
``DIGITREC_SERVE_TIMEOUT_BODY``            30          seconds to send a request's body; then 408.
                                                       Also: a client whose unread responses
                                                       fill the send buffer is dropped after
                                                       this long
``DIGITREC_SERVE_TIMEOUT_KEEP_ALIVE``      5           seconds an idle keep-alive connection stays
``DIGITREC_SERVE_MAX_HEADER_BYTES``        16384       bytes of a request's line and headers;
                                                       more -> 400
``DIGITREC_SERVE_ACCESS_LOG``              true        one log line per request
=========================================  ==========  ==========================================

Any other ``DIGITREC_SERVE_*`` variable is refused (a misspelt limit would otherwise be
silently replaced by its default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PREFIX = "DIGITREC_SERVE_"


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid")

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="request body bytes")
    max_pixels: int = Field(4096 * 4096, ge=64, description="width x height of one image")
    max_request_pixels: int = Field(
        4096 * 4096, ge=64, description="pixels of all the images of one request"
    )
    small_request_pixels: int = Field(
        1024 * 1024, ge=0, description="requests up to this many pixels have their own lane"
    )
    max_batch: int = Field(64, ge=1, le=10_000, description="images in one request")
    formats: Annotated[tuple[str, ...], NoDecode] = Field(
        ("PNG", "JPEG"), min_length=1, description="accepted image formats (Pillow names)"
    )
    max_concurrency: int = Field(4, ge=1, description="requests processed at once, per lane")
    max_connections: int = Field(256, ge=4, le=65_536, description="open connections")
    timeout_head: float = Field(10, gt=0, le=3600, description="seconds to send the head")
    timeout_body: float = Field(30, gt=0, le=3600, description="seconds to send the body")
    timeout_keep_alive: int = Field(5, ge=1, le=3600, description="idle keep-alive seconds")
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024, description="head bytes")
    access_log: bool = Field(True, description="log one line per request")

    @field_validator("formats", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):  # "PNG,JPEG" or "png jpeg" from the environment
            value = value.replace(",", " ").split()
        if isinstance(value, list | tuple):
            return tuple(str(v).upper() for v in value)
        return value

    @model_validator(mode="after")
    def _pixels_fit(self) -> ServeSettings:
        if self.max_request_pixels < self.max_pixels:
            raise ValueError(
                f"max_request_pixels = {self.max_request_pixels} is less than max_pixels = "
                f"{self.max_pixels}: one image of max_pixels could never be sent; raise "
                "DIGITREC_SERVE_MAX_REQUEST_PIXELS or lower DIGITREC_SERVE_MAX_PIXELS"
            )
        return self


def unknown_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """One line per ``DIGITREC_SERVE_*`` variable that is no setting, naming the closest
    (see :mod:`digitrec.env`, the registry of every ``DIGITREC_*`` variable)."""
    from digitrec.env import unknown

    return [line for line in unknown(environ, variables()) if line.upper().startswith(PREFIX)]


def variables() -> list[str]:
    """The environment variable of each setting."""
    return [PREFIX + name.upper() for name in ServeSettings.model_fields]
