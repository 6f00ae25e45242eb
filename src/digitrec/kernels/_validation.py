"""Argument checks shared by the batch kernels."""

from __future__ import annotations

import math
import numbers

import numpy as np

# dtype kinds of real numbers: bool, signed and unsigned integers, floats
_REAL_KINDS = "biuf"


def _check_images(images, *, name: str = "images") -> np.ndarray:
    """Return ``images`` as a real-valued ndarray of shape (n, h, w).

    Values are checked chunk by chunk (``_check_values``), while the chunk is in cache.
    """
    if (  # the common case, checked cheaply: a 3-D ndarray of a real dtype
        type(images) is np.ndarray
        and images.ndim == 3
        and images.dtype.kind in _REAL_KINDS
        and images.shape[1] >= 1
        and images.shape[2] >= 1
    ):
        return images
    images = np.asarray(images)
    if images.dtype.kind not in _REAL_KINDS:  # objects, strings, complex, dates, ...
        raise ValueError(f"{name} must hold real numbers, got an array of dtype {images.dtype}")
    if images.ndim != 3:
        hint = (
            " For a single image use image[np.newaxis]."
            if images.ndim == 2
            else " Reshape flat rows with X.reshape(n_images, height, width)."
        )
        raise ValueError(
            f"{name} must be a 3-D array of shape (n_images, height, width), "
            f"got an array of shape {images.shape}.{hint}"
        )
    if images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"{name} must have height and width >= 1, got shape {images.shape}")
    return images


def _check_values(chunk: np.ndarray, *, non_negative: bool, why: str = "") -> None:
    """Raise unless ``chunk`` is finite (and non-negative if asked)."""
    if chunk.size == 0:
        return
    low = chunk.min()
    if chunk.dtype.kind == "f" and not (math.isfinite(low) and math.isfinite(chunk.max())):
        raise ValueError("images contain NaN or infinite values")
    if non_negative and low < 0:
        raise ValueError(f"{why}non-negative images are required, got a value of {low:g}")


def _check_pair(value, name: str) -> tuple[int, int]:
    if type(value) is tuple and len(value) == 2 and type(value[0]) is type(value[1]) is int:
        if value[0] >= 1 and value[1] >= 1:  # the common case, checked cheaply
            return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(value)
    except TypeError:
        pair = None
    if (
        pair is None
        or len(pair) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair)
        or not all(v >= 1 for v in pair)
    ):
        raise ValueError(f"{name} must be a pair of positive integers (rows, cols), got {value!r}")
    return int(pair[0]), int(pair[1])
