"""Batched histograms of oriented gradients, equal to ``skimage.feature.hog``.

See :mod:`digitrec.kernels` for how the batch and reference versions relate.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

from digitrec.kernels._validation import _check_images, _check_pair, _check_values

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def _check_hog_params(orientations, pixels_per_cell, cells_per_block, block_norm):
    if (
        isinstance(orientations, bool)
        or not (type(orientations) is int or isinstance(orientations, numbers.Integral))
        or orientations < 1
    ):
        raise ValueError(f"orientations must be a positive integer, got {orientations!r}")
    cell = _check_pair(pixels_per_cell, "pixels_per_cell")
    block = _check_pair(cells_per_block, "cells_per_block")
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"block_norm must be one of {list(BLOCK_NORMS)}, got {block_norm!r}")
    return int(orientations), cell, block


def _hog_grid(image_shape, cell, block):
    """Numbers of cells and blocks along each axis; raise if no block fits."""
    height, width = image_shape
    n_cells = (height // cell[0], width // cell[1])
    n_blocks = (n_cells[0] - block[0] + 1, n_cells[1] - block[1] + 1)
    if n_blocks[0] <= 0 or n_blocks[1] <= 0:
        raise ValueError(
            f"images of shape {(height, width)} are too small for pixels_per_cell={cell} "
            f"and cells_per_block={block}: they must have at least {block[0] * cell[0]} "
            f"rows and {block[1] * cell[1]} columns"
        )
    return n_cells, n_blocks


def hog_n_features(
    image_shape,
    *,
    orientations: int = 9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
) -> int:
    """Length of the HOG feature vector of one image of shape ``image_shape`` (h, w)."""
    orientations, cell, block = _check_hog_params(
        orientations, pixels_per_cell, cells_per_block, "L2-Hys"
    )
    _, n_blocks = _hog_grid(tuple(image_shape), cell, block)
    return n_blocks[0] * n_blocks[1] * block[0] * block[1] * orientations


# --------------------------------------------------------------------------------------
# HOG
# --------------------------------------------------------------------------------------
#
# What scikit-image (0.26, ``_hoghistogram.pyx``) computes, and hence what is reproduced:
#
# * gradients by centred differences in the image's float dtype (float32 for float16/32
#   input, else float64), the first and last row/column set to 0, then cast to float64;
# * magnitude ``hypot(g_col, g_row)`` and orientation
#   ``o = rad2deg(arctan2(g_row, g_col)) % 180`` per pixel;
# * cell ``(i, j)`` covers rows ``i*cr .. i*cr + cr - 1`` and columns likewise (pixels
#   beyond the last whole cell are ignored); bin ``b`` of a cell is the sum of the
#   magnitudes of its pixels with ``bounds[b] <= o < bounds[b + 1]``, where
#   ``bounds[b] = (180. / orientations) * b`` in float64, divided by the cell area.
#   Pixels with ``o >= bounds[-1]`` count nowhere: ``o`` can round to exactly 180.0, and
#   ``bounds[-1]`` can be 179.99999999999997 (e.g. 39 orientations).  The sum runs in a
#   C ``float``, so scikit-image's cell values carry float32 rounding (~1e-7 relative);
#   we sum in float64, which is where the ~1e-7 differences come from;
# * blocks of ``cells_per_block`` cells at every cell offset, normalised as in
#   ``_hog_normalize_block`` with eps = 1e-5, flattened in (block_row, block_col,
#   cell_row, cell_col, orientation) order.
#
# The loop over each image's pixels is compiled (:mod:`digitrec.kernels._compiled`).
# arctan2 costs more per pixel than everything else together, so pixels are
# binned with a lookup table on the cheap folded cosine ``q = cos(o)`` instead (see
# ``_OrientationTable``); only pixels too close to a bin boundary take the exact arctan2
# route (on MNIST ~1 pixel an image with 9 orientations, ~40 with 8, where the exact
# 45/90/135 degree gradients of digit strokes sit on boundaries).  Pixels without a
# gradient (most of a digit image) add nothing and are skipped.


class _OrientationTable:
    """Exact orientation binning of scikit-image through a table lookup.

    A pixel's folded cosine ``q = g_col * sign(g_row) / |g|`` (``sign`` of a signed
    zero included) is ``cos(o)``, decreasing from 1 to -1 as ``o`` goes from 0 to 180
    degrees.  The table has one entry per interval ``floor(q*H + H) = j`` (H = size/2);
    the entry is the bin shared by all angles of that interval, or -1 ("unsure") when a
    bin boundary lies within (a margin of) the interval.

    Entry ``size`` (q == 1, up to rounding) is bin 0: an angle within ~1e-6 degree of 0
    on the "positive" side.  Entry 0 (q near -1, angles near 180 degrees, where '% 180'
    wraps to 0 or the last boundary may drop the pixel) is always unsure.
    """

    size = 4096
    margin_deg = 1e-8  # >> the ~1e-13 degree error of o and of the table's own angles

    def __init__(self, orientations: int):
        self.orientations = orientations
        per_180 = 180.0 / orientations
        self.bounds = per_180 * np.arange(orientations + 1)  # as skimage: double * int
        half = self.size // 2
        j = np.arange(self.size + 1)
        q_lo = (j - half) / half
        q_hi = (j + 1 - half) / half
        with np.errstate(invalid="ignore"):
            theta_lo = np.degrees(np.arccos(np.minimum(q_hi, 1.0)))
            theta_hi = np.degrees(np.arccos(q_lo))
        # a computed q below 1 (above -1) means an angle >= ~4e-7 degree from 0 (180)
        theta_lo = np.maximum(theta_lo, 1e-7)
        theta_hi = np.minimum(theta_hi, 180.0 - 1e-7)
        mid = 0.5 * (theta_lo + theta_hi)
        table = np.searchsorted(self.bounds, mid, side="right") - 1
        inner = self.bounds[1:]
        unsure = (
            (inner[None, :] >= theta_lo[:, None] - self.margin_deg)
            & (inner[None, :] <= theta_hi[:, None] + self.margin_deg)
        ).any(axis=1)
        table[unsure] = -1
        table[0] = -1
        table[self.size] = 0
        self.table = table.astype(np.intp)
        self.table.flags.writeable = self.bounds.flags.writeable = False  # shared


@lru_cache(maxsize=32)
def _orientation_table(orientations: int) -> _OrientationTable:
    return _OrientationTable(orientations)


def _float_dtype(dtype: np.dtype) -> np.dtype:
    """scikit-image's ``_supported_float_type``: float16/32 -> float32, else float64."""
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def hog(
    images,
    *,
    orientations: int = 9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
) -> np.ndarray:
    """Histogram-of-oriented-gradients features of a batch of grey images.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        Real-valued images (any real dtype; float32/float16 are processed in float32
        like scikit-image does, everything else in float64).
    orientations : int, default=9
        Number of orientation bins over [0, 180) degrees.
    pixels_per_cell : (int, int) or int, default=(8, 8)
        Cell size (rows, cols); an int means a square cell.  Pixels beyond the last
        whole cell are ignored.
    cells_per_block : (int, int) or int, default=(3, 3)
        Block size in cells; blocks are taken at every cell offset.
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        Block normalisation, as in ``skimage.feature.hog``.
    transform_sqrt : bool, default=False
        Take the square root of the images first (requires non-negative images).

    Returns
    -------
    features : ndarray of shape (n_images, n_features), float64
        Row ``i`` equals ``skimage.feature.hog(images[i], ..., feature_vector=True)``
        (to ~1e-7: scikit-image sums cells in float32).  ``n_features`` is
        ``hog_n_features((height, width), ...)``.
    """
    orientations, cell, block = _check_hog_params(
        orientations, pixels_per_cell, cells_per_block, block_norm
    )
    if not isinstance(transform_sqrt, (bool, np.bool_)):
        raise ValueError(f"transform_sqrt must be True or False, got {transform_sqrt!r}")
    images = _check_images(images)
    n, height, width = images.shape
    _, n_blocks = _hog_grid((height, width), cell, block)
    n_features = n_blocks[0] * n_blocks[1] * block[0] * block[1] * orientations
    out = np.empty((n, n_features), dtype=np.float64)
    if n == 0:
        return out
    from digitrec.kernels._compiled import _hog_into  # imports numba

    images = np.ascontiguousarray(images, dtype=_float_dtype(images.dtype))
    _check_values(images, non_negative=transform_sqrt, why="with transform_sqrt=True, ")
    if transform_sqrt:
        images = np.sqrt(images)
    table = _orientation_table(orientations)
    _hog_into(images, cell, block, BLOCK_NORMS.index(block_norm), table.table, table.bounds, out)
    return out


def hog_reference(
    images,
    *,
    orientations: int = 9,
    pixels_per_cell=(8, 8),
    cells_per_block=(3, 3),
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
) -> np.ndarray:
    """``skimage.feature.hog`` applied image by image (slow; the reference for ``hog``)."""
    from skimage.feature import hog as skimage_hog

    orientations, pixels_per_cell, cells_per_block = _check_hog_params(
        orientations, pixels_per_cell, cells_per_block, block_norm
    )
    images = _check_images(images)
    rows = [
        skimage_hog(
            image,
            orientations=orientations,
            pixels_per_cell=pixels_per_cell,
            cells_per_block=cells_per_block,
            block_norm=block_norm,
            transform_sqrt=transform_sqrt,
            feature_vector=True,
        )
        for image in images
    ]
    if not rows:
        n_features = hog_n_features(
            images.shape[1:],
            orientations=orientations,
            pixels_per_cell=pixels_per_cell,
            cells_per_block=cells_per_block,
        )
        return np.empty((0, n_features))
    return np.stack(rows).astype(np.float64)
