"""Batched moment-based deskewing and centring, equal to SciPy's ``affine_transform``
and ``shift`` (``order=1``, ``mode="constant"``) image by image.

``deskew`` runs a compiled loop (:mod:`digitrec.kernels._compiled`) that computes the
moments of :func:`_moments` with plain sums (equal to rounding); ``center`` is numpy,
chunk by chunk.
"""

from __future__ import annotations

import numpy as np

from digitrec.kernels._validation import _check_images, _check_values

# Pixels handled per chunk by ``center``: small enough that a chunk's working arrays stay
# in the CPU caches, large enough to amortise numpy's call overhead.
_GEOMETRY_CHUNK_PIXELS = 1 << 16


def _moments(x: np.ndarray):
    """Intensity moments of each image of a C-contiguous float64 batch (m, h, w).

    Returns ``total, r0, c0, mu02, mu11`` (each of shape (m,)): the total intensity, the
    centre of mass (row, column) and the central moments ``sum((r - r0)**2 I)`` and
    ``sum((r - r0) (c - c0) I)``.  Blank images get ``r0 = c0 = 0``.

    Every reduction runs along the last axis of one image's data, so an image's moments
    are bitwise the same whatever batch it is in (checked in the tests); ``center`` and the
    per-image references share this function, hence use identical parameters
    (``deskew``'s compiled loop computes the same moments, equal to rounding).
    """
    _, height, width = x.shape
    rows = np.arange(height, dtype=np.float64)
    cols = np.arange(width, dtype=np.float64)
    row_mass = np.einsum("ijk->ij", x)  # (m, h): sum_c I[r, c]
    row_cmass = np.einsum("ijk,k->ij", x, cols)  # (m, h): sum_c c I[r, c]
    total = np.einsum("ij->i", row_mass)
    safe_total = np.where(total > 0, total, 1.0)
    r0 = np.einsum("ij,j->i", row_mass, rows) / safe_total
    c0 = np.einsum("ij->i", row_cmass) / safe_total
    dr = rows - r0[:, None]
    mu02 = np.einsum("ij,ij->i", row_mass * dr, dr)
    mu11 = np.einsum("ij,ij->i", dr, row_cmass - c0[:, None] * row_mass)
    return total, r0, c0, mu02, mu11


def _shear_factor(total, mu02, mu11):
    """``alpha = mu11 / mu02``, or 0 for blank images and images with all ink in one row."""
    ok = (total > 0) & (mu02 > 1e-12 * total)
    return np.where(ok, mu11 / np.where(ok, mu02, 1.0), 0.0)


def _floor_frac(s):
    """``floor(s)`` and the fraction ``s - floor(s)``, in [0, 1)."""
    k = np.floor(s)
    f = s - k
    carry = f >= 1.0  # s = -tiny gives f == 1.0 after rounding
    k += carry
    f[carry] = 0.0
    return k, f


def _view(flat: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """A read-only strided view of the contiguous float64 array ``flat``: what
    ``numpy.lib.stride_tricks.as_strided`` returns, without its argument handling, which
    costs more than making the view and is paid on every call."""
    view = np.ndarray(shape, dtype=np.float64, buffer=flat, strides=strides)
    view.flags.writeable = False
    return view


def _geometry_chunks(images, out):
    """Yield (float64 C-contiguous chunk, matching slice of ``out``) pairs."""
    n, height, width = images.shape
    step = max(1, _GEOMETRY_CHUNK_PIXELS // (height * width))
    for start in range(0, n, step):
        chunk = np.ascontiguousarray(images[start : start + step], dtype=np.float64)
        _check_values(chunk, non_negative=True, why="intensities are weights: ")
        yield chunk, out[start : start + step]


def deskew_reference(image) -> np.ndarray:
    """Deskew one (h, w) image with ``scipy.ndimage.affine_transform`` (the reference).

    ``output(r, c) = input(r, c + alpha * (r - r0))`` with ``alpha = mu11 / mu02``,
    bilinear interpolation and zeros outside the image.
    """
    from scipy import ndimage

    image = np.ascontiguousarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (height, width), got shape {image.shape}")
    total, r0, _, mu02, mu11 = _moments(image[np.newaxis])
    if total[0] == 0:
        return image.copy()
    alpha = float(_shear_factor(total, mu02, mu11)[0])
    r0 = float(r0[0])
    return ndimage.affine_transform(
        image,
        [[1.0, 0.0], [alpha, 1.0]],
        offset=[0.0, -alpha * r0],
        order=1,
        mode="constant",
        cval=0.0,
    )


def deskew(images) -> np.ndarray:
    """Deskew a batch of images: shear rows so that ``mu11`` becomes 0.

    Each image is sheared horizontally about its centre-of-mass row ``r0``:
    ``output(r, c) = input(r, c + alpha * (r - r0))`` with ``alpha = mu11 / mu02``
    (intensity-weighted central moments), bilinear interpolation and zeros outside.  The
    centre of mass stays put.  Blank images (total intensity 0) and images whose ink lies
    in a single row are returned unchanged.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        Non-negative intensities.

    Returns
    -------
    ndarray of shape (n_images, height, width), float64
        Equal to ``deskew_reference`` image by image (to ~1e-14).
    """
    from digitrec.kernels._compiled import _deskew_into  # imports numba

    images = _check_images(images)
    out = np.empty(images.shape, dtype=np.float64)
    if len(images) == 0:
        return out
    images = np.ascontiguousarray(images, dtype=np.float64)
    _check_values(images, non_negative=True, why="intensities are weights: ")
    _deskew_into(images, out)
    return out


def center_reference(image) -> np.ndarray:
    """Centre one (h, w) image with ``scipy.ndimage.shift`` (the reference)."""
    from scipy import ndimage

    image = np.ascontiguousarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (height, width), got shape {image.shape}")
    total, r0, c0, _, _ = _moments(image[np.newaxis])
    if total[0] == 0:
        return image.copy()
    height, width = image.shape
    shift = ((height - 1) / 2 - float(r0[0]), (width - 1) / 2 - float(c0[0]))
    return ndimage.shift(image, shift, order=1, mode="constant", cval=0.0)


class _Translator:
    """Translate (m, h, w) chunks by per-image amounts, bilinear, zeros outside.

    Output pixel (r, c) samples input coordinates (r + dr, c + dc) the way scipy's
    order-1 'constant' mode does: 0 unless both lie in the image (coordinates evaluated
    in float64 exactly as scipy), else the bilinear mix of the 4 neighbours.  The
    validity of each output row and column is folded into the 1-D weights.
    """

    def __init__(self, max_images: int, height: int, width: int):
        # centring moves by at most (size - 1) / 2; larger shifts are clipped (and then
        # wrong), which cannot happen for non-negative images
        self.pad = (height // 2 + 2, width // 2 + 2)
        self.padded_shape = (height + 2 * self.pad[0], width + 2 * self.pad[1])
        self.padded = np.zeros((max_images, *self.padded_shape))  # padding never written
        flat = self.padded.reshape(-1)
        row_stride = self.padded_shape[1]
        span = height * row_stride + width  # offset of a window's last element
        self.windows = _view(
            flat, shape=(flat.size - span, height + 1, width + 1), strides=(8, 8 * row_stride, 8)
        )

    def _axis(self, neg_shift, length, pad):
        k, f = _floor_frac(neg_shift)
        np.minimum(np.maximum(k, -pad, out=k), pad - 1, out=k)  # np.clip, cheaper
        coord = np.arange(length, dtype=np.float64) + neg_shift[:, None]
        valid = (coord >= 0) & (coord <= length - 1)
        return k.astype(np.intp), (1.0 - f)[:, None] * valid, f[:, None] * valid

    def __call__(self, x, neg_r, neg_c, out):
        """``out[i, r, c] = x[i]`` sampled at ``(r + neg_r[i], c + neg_c[i])``."""
        m, height, width = x.shape
        kr, w_top, w_bottom = self._axis(neg_r, height, self.pad[0])
        kc, w_left, w_right = self._axis(neg_c, width, self.pad[1])
        ph, pw = self.pad
        self.padded[:m, ph : ph + height, pw : pw + width] = x
        size = self.padded_shape[0] * self.padded_shape[1]
        start = np.arange(m) * size + (ph + kr) * self.padded_shape[1] + (pw + kc)
        win = self.windows[start]  # (m, h + 1, w + 1)
        rows = win[:, :, :width] * w_left[:, None, :]
        rows += win[:, :, 1:] * w_right[:, None, :]
        np.multiply(rows[:, :height], w_top[:, :, None], out=out)
        bottom = rows[:, 1:]
        bottom *= w_bottom[:, :, None]
        out += bottom


def center(images) -> np.ndarray:
    """Translate each image so its centre of mass lands on the image centre.

    The centre of mass moves to ``((h - 1) / 2, (w - 1) / 2)``; bilinear interpolation,
    zeros outside.  Blank images (total intensity 0) are returned unchanged.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        Non-negative intensities.

    Returns
    -------
    ndarray of shape (n_images, height, width), float64
        Equal to ``center_reference`` image by image (to ~1e-15).
    """
    images = _check_images(images)
    n, height, width = images.shape
    out = np.empty((n, height, width), dtype=np.float64)
    if n == 0:
        return out
    step = max(1, _GEOMETRY_CHUNK_PIXELS // (height * width))
    translate = _Translator(min(n, step), height, width)
    for x, dst in _geometry_chunks(images, out):
        total, r0, c0, _, _ = _moments(x)
        # scipy.ndimage.shift samples output index i at input coordinate i + (-shift)
        translate(x, -((height - 1) / 2 - r0), -((width - 1) / 2 - c0), dst)
        if not total.all():
            blank = total == 0
            dst[blank] = x[blank]
    return out
