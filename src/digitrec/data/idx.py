"""Read IDX files (the format of MNIST): a big-endian header, then raw uint8 data."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from digitrec.data.errors import DataFormatError

__all__ = ["read_idx", "read_idx_gz"]

_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}


def read_idx(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Parse an uncompressed IDX file of unsigned bytes into an array of its dimensions.

    The result is a zero-copy view of ``data`` (read-only when ``data`` is ``bytes``).

    Raises:
        DataFormatError: bad magic number, a type other than 0x08 (unsigned byte), or a
            data length that is not the product of the dimensions.
    """
    buffer = memoryview(data).cast("B")
    if len(buffer) < 4:
        raise DataFormatError(
            f"IDX data is {len(buffer)} bytes long, too short for the 4-byte magic number."
        )
    magic = bytes(buffer[:4])
    if magic[:2] != b"\x00\x00":
        hint = (
            " (the data looks gzip-compressed; use read_idx_gz)" if magic[:2] == b"\x1f\x8b" else ""
        )
        raise DataFormatError(
            f"Bad IDX magic number 0x{magic.hex()}: expected two zero bytes, a type code "
            f"and a dimension count (e.g. 0x00000803){hint}."
        )
    type_code, ndim = magic[2], magic[3]
    if type_code != 0x08:
        name = _TYPE_NAMES.get(type_code, "unknown")
        raise DataFormatError(
            f"Unsupported IDX type code 0x{type_code:02x} ({name}); only 0x08 "
            "(unsigned byte) is supported."
        )
    if ndim == 0:
        raise DataFormatError("IDX header declares 0 dimensions; expected at least 1.")
    header = 4 + 4 * ndim
    if len(buffer) < header:
        raise DataFormatError(
            f"IDX header declares {ndim} dimensions ({header} header bytes) but the data "
            f"is only {len(buffer)} bytes long."
        )
    shape = tuple(int(d) for d in np.frombuffer(buffer, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape)
    actual = len(buffer) - header
    if actual != expected:
        raise DataFormatError(
            f"IDX data length mismatch: dimensions {shape} require {expected} bytes of "
            f"data, got {actual}."
        )
    return np.frombuffer(buffer, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_gz(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzip-compressed IDX file (such as MNIST's ``*-ubyte.gz``)."""
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes())
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path} is not a valid gzip file: {exc}") from None
    try:
        return read_idx(data)
    except DataFormatError as exc:
        raise DataFormatError(f"{path}: {exc}") from None
