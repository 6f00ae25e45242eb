"""Read UCI optdigits files: one digit per line, 64 block counts (0..16) then the label."""

from __future__ import annotations

import numpy as np

from digitrec.data.errors import DataFormatError

__all__ = ["read_optdigits"]

_PIXELS = 64
_FIELDS = _PIXELS + 1
_MAX_COUNT = 16
_UPPER = np.array([_MAX_COUNT] * _PIXELS + [9])


def read_optdigits(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse optdigits text into images ``(n, 8, 8)`` (0..16) and labels ``(n,)`` (0..9).

    Blank lines are skipped; line numbers in errors count them.

    Raises:
        DataFormatError: naming the first bad line and what is wrong with it.
    """
    numbers, rows = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            numbers.append(number)
            rows.append(line.split(","))
    if not rows:
        raise DataFormatError(
            f"optdigits text has no data lines; expected lines of {_FIELDS} "
            "comma-separated integers."
        )
    counts = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
    (wrong,) = np.nonzero(counts != _FIELDS)
    if wrong.size:
        i = wrong[0]
        raise DataFormatError(
            f"optdigits line {numbers[i]}: expected {_FIELDS} comma-separated fields "
            f"({_PIXELS} pixel counts and a label), got {counts[i]}."
        )
    try:
        values = np.array(rows).astype(np.int64)
    except (ValueError, OverflowError):
        raise _first_bad_field(rows, numbers) from None
    bad = np.argwhere((values < 0) | (values > _UPPER))
    if bad.size:
        i, j = bad[0]
        raise _out_of_range(numbers[i], j, int(values[i, j]))
    pixels, labels = values[:, :_PIXELS], values[:, _PIXELS]
    images = pixels.astype(np.uint8).reshape(-1, 8, 8)
    return images, labels.astype(np.uint8)


def _out_of_range(number: int, column: int, value: int) -> DataFormatError:
    """The error for ``value`` at 0-based ``column`` of line ``number``."""
    if column == _PIXELS:
        what, upper = "label", 9
    else:
        what, upper = "pixel count", _MAX_COUNT
    return DataFormatError(
        f"optdigits line {number}, field {column + 1}: {what} {value} is out of range; "
        f"expected 0..{upper}."
    )


def _first_bad_field(rows: list[list[str]], numbers: list[int]) -> DataFormatError:
    """The error for the first field that is not an integer in range (slow path)."""
    for number, fields in zip(numbers, rows, strict=True):
        for column, field in enumerate(fields):
            try:
                value = int(field)
            except ValueError:
                return DataFormatError(
                    f"optdigits line {number}, field {column + 1}: {field.strip()!r} is not "
                    "an integer."
                )
            if not 0 <= value <= _UPPER[column]:
                return _out_of_range(number, column, value)
    return DataFormatError("optdigits text could not be parsed as integers.")
