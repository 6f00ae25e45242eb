"""Limits and options of ``digitrec serve``, read from ``DIGITREC_SERVE_*`` variables.

=====================================  ===========  =============================================
environment variable                   default      meaning
=====================================  ===========  =============================================
``DIGITREC_SERVE_MAX_UPLOAD_BYTES``    10485760     request body size (10 MiB); larger -> 413
``DIGITREC_SERVE_MAX_PIXELS``          16777216     width x height of one image (4096 x 4096),
                                                    checked from the header before decoding;
                                                    larger -> 413 (decompression bombs)
``DIGITREC_SERVE_MAX_BATCH``           64           images in one request; more -> 413
``DIGITREC_SERVE_FORMATS``             PNG,JPEG     image formats accepted (Pillow names); other
                                                    formats -> 415
``DIGITREC_SERVE_MAX_CONCURRENCY``     4            requests decoded and predicted at once (the
                                                    rest wait): bounds memory and CPU
``DIGITREC_SERVE_ACCESS_LOG``          true         one log line per request
=====================================  ===========  =============================================
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIGITREC_SERVE_", frozen=True, extra="forbid")

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="request body bytes")
    max_pixels: int = Field(4096 * 4096, ge=64, description="width x height of one image")
    max_batch: int = Field(64, ge=1, le=10_000, description="images in one request")
    formats: Annotated[tuple[str, ...], NoDecode] = Field(
        ("PNG", "JPEG"), min_length=1, description="accepted image formats (Pillow names)"
    )
    max_concurrency: int = Field(4, ge=1, description="requests processed at once")
    access_log: bool = Field(True, description="log one line per request")

    @field_validator("formats", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):  # "PNG,JPEG" or "png jpeg" from the environment
            value = value.replace(",", " ").split()
        if isinstance(value, list | tuple):
            return tuple(str(v).upper() for v in value)
        return value
