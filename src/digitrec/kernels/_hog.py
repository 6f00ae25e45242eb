"""Batched histograms of oriented gradients, equal to ``skimage.feature.hog``.

See :mod:`digitrec.kernels` for how the batch and reference versions relate.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from digitrec.kernels._validation import _check_images, _check_pair, _check_values

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")

# Pixels handled per chunk.  Small enough that a chunk's working arrays stay in the CPU
# caches (the kernels are memory-bound), large enough to amortise numpy's call overhead.
_HOG_CHUNK_PIXELS = 1 << 15
# HOG bins only the pixels with a gradient when they are at most this fraction.
_COMPRESS_BELOW = 0.5

# scikit-image's block normalisation epsilon.
_EPS = 1e-5
_TINY = float(np.finfo(np.float64).tiny)


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
# arctan2 costs ~25 ns a pixel here, more than everything else together, so pixels are
# binned with a lookup table on the cheap folded cosine ``q = cos(o)`` instead (see
# ``_OrientationTable``); only pixels too close to a bin boundary take the exact arctan2
# route (on MNIST ~1 pixel an image with 9 orientations, ~40 with 8, where the exact
# 45/90/135 degree gradients of digit strokes sit on boundaries).  Digit images are
# mostly background, so only pixels with a gradient are binned when they are few.


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
        # Still pixels (g = 0) fall at q = 0, i.e. 90 degrees, a boundary for an even
        # number of orientations; then move them (their magnitude is 0, any bin will do)
        # to the middle of a sure interval with a numerator offset of tiny * still_q.
        self.still_q = 0.0
        if self.table[half] < 0:
            sure = np.flatnonzero(self.table[half:-1] >= 0)
            if sure.size:
                self.still_q = (sure[0] + 0.5) / half

    def exact_bins(self, g_row, g_col):
        """scikit-image's bins for given gradients; ``orientations`` means none."""
        o = np.rad2deg(np.arctan2(g_row, g_col)) % 180
        return np.searchsorted(self.bounds, o, side="right") - 1


@lru_cache(maxsize=32)
def _orientation_table(orientations: int) -> _OrientationTable:
    return _OrientationTable(orientations)


def _float_dtype(dtype: np.dtype) -> np.dtype:
    """scikit-image's ``_supported_float_type``: float16/32 -> float32, else float64."""
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


class _HogWorkspace:
    """Buffers for one ``hog`` call, reused from chunk to chunk."""

    def __init__(self, step, image_shape, cell, n_cells, orientations):
        height, width = image_shape
        self.cell = cell
        self.n_cells = n_cells
        self.orientations = orientations
        self.table = _orientation_table(orientations)
        ncr, ncc = n_cells
        grid = (ncr * cell[0], ncc * cell[1])  # pixels beyond the last cell are ignored
        self.grid = grid
        self.r_hi = min(grid[0], height - 1)  # rows 1 .. r_hi-1 get a gradient
        self.c_hi = min(grid[1], width - 1)
        shape = (step, *grid)
        # borders are never written, so they stay 0
        self.g_row = np.zeros(shape)
        self.g_col = np.zeros(shape)
        self.mag = np.empty(shape)
        self.tmp = np.empty(shape)
        self.den = np.empty(shape)
        self.bins = np.empty(shape, dtype=np.intp)
        self.index = np.empty(shape, dtype=np.intp)
        self.n_slots = ncr * ncc * (orientations + 1)  # + 1: the "no bin" slot
        self.base = _bin_base(step, cell, n_cells, orientations)

    def _gradients(self, chunk):
        """Centred differences into the g_row/g_col buffers (0 on the image border).

        Computed in the chunk's dtype (float32 or float64, as scikit-image does) and
        stored as float64.
        """
        m, height, width = chunk.shape
        g_row, g_col = self.g_row[:m], self.g_col[:m]
        grid_h, grid_w = self.grid
        if (grid_h, grid_w) == (height, width) and height > 2 and width > 2:
            # whole image: one long subtraction each, then re-zero the border
            flat = chunk.reshape(-1)
            np.subtract(flat[2 * width :], flat[: -2 * width], out=g_row.reshape(-1)[width:-width])
            g_row[:, 0] = 0.0
            g_row[:, -1] = 0.0
            np.subtract(flat[2:], flat[:-2], out=g_col.reshape(-1)[1:-1])
            g_col[:, :, 0] = 0.0
            g_col[:, :, -1] = 0.0
            return g_row, g_col
        r_hi, c_hi = self.r_hi, self.c_hi
        if r_hi > 1:
            np.subtract(
                chunk[:, 2 : r_hi + 1, :grid_w], chunk[:, : r_hi - 1, :grid_w],
                out=g_row[:, 1:r_hi],
            )  # fmt: skip
        if c_hi > 1:
            np.subtract(
                chunk[:, :grid_h, 2 : c_hi + 1], chunk[:, :grid_h, : c_hi - 1],
                out=g_col[:, :, 1:c_hi],
            )  # fmt: skip
        return g_row, g_col

    def histograms(self, chunk):
        """Cell histograms (m, n_cell_rows, n_cell_cols, orientations), float64."""
        m = chunk.shape[0]
        g_row, g_col = self._gradients(np.ascontiguousarray(chunk))
        g_row, g_col = g_row.reshape(-1), g_col.reshape(-1)
        mag, tmp = self.mag[:m].reshape(-1), self.tmp[:m].reshape(-1)
        np.multiply(g_col, g_col, out=mag)
        np.multiply(g_row, g_row, out=tmp)
        mag += tmp  # squared magnitude for now
        base = self.base[:m].reshape(-1)

        # Digit images are mostly flat background: when few pixels have a gradient,
        # bin only those; otherwise bin all pixels in place.
        moving = mag.nonzero()[0]  # mag >= 0: the pixels with a gradient
        if len(moving) <= _COMPRESS_BELOW * mag.size:
            g_row, g_col, mag, base = g_row[moving], g_col[moving], mag[moving], base[moving]
            tmp, den = np.empty_like(mag), np.empty_like(mag)
            index = np.empty(mag.shape, dtype=np.intp)
            bins = np.empty(mag.shape, dtype=np.intp)
            still = False
        else:
            den = self.den[:m].reshape(-1)
            index, bins = self.index[:m].reshape(-1), self.bins[:m].reshape(-1)
            still = True
        np.sqrt(mag, out=mag)  # == hypot(g_col, g_row) to an ulp

        # Table index floor(q * H + H) with q = g_col * sign(g_row) / |g|.  sign(+-0) is
        # taken as +1 (the "+ 0.0" turns -0 into +0): o is then exactly 0 and q = 1, a
        # sure entry, instead of -1.
        table = self.table
        half = table.size // 2
        tiny = _TINY
        np.multiply(g_col, g_row, out=tmp)
        tmp += 0.0
        np.copysign(g_col, tmp, out=tmp)
        if still and table.still_q:
            tmp += tiny * table.still_q
        tmp *= half
        np.add(mag, tiny, out=den)  # still pixels: 0 / tiny
        tmp /= den
        np.add(tmp, half, out=index, casting="unsafe")
        np.take(table.table, index, out=bins, mode="clip")

        unsure = np.flatnonzero(bins < 0)
        if unsure.size:
            # the extra bin `orientations` means "in no bin"
            bins[unsure] = table.exact_bins(g_row[unsure], g_col[unsure])

        np.add(bins, base, out=index)
        nb = self.orientations + 1
        sums = np.bincount(index, weights=mag, minlength=m * self.n_slots)
        ncr, ncc = self.n_cells
        hist = sums.reshape(m, ncr, ncc, nb)[..., : self.orientations]
        return hist / (self.cell[0] * self.cell[1])


@lru_cache(maxsize=16)
def _bin_base(step, cell, n_cells, orientations):
    """(step, grid rows, grid cols): cell number * slots + image offset, the bincount
    index of each pixel without its bin. Read-only, shared between calls."""
    ncr, ncc = n_cells
    n_slots = ncr * ncc * (orientations + 1)
    rows = np.arange(ncr * cell[0]) // cell[0]
    cols = np.arange(ncc * cell[1]) // cell[1]
    cell_base = (rows[:, None] * ncc + cols[None, :]) * (orientations + 1)
    base = cell_base + (np.arange(step) * n_slots)[:, None, None]
    base.flags.writeable = False
    return base


@lru_cache(maxsize=16)
def _block_gather(n_cells, block, orientations, n_images):
    """Flat indices into (n_images, ncr, ncc, nb) histograms, in HOG feature order.
    Read-only, shared between calls."""
    cells = np.arange(n_cells[0] * n_cells[1] * orientations).reshape(*n_cells, orientations)
    # (nbr, nbc, nb, br, bc) -> (nbr, nbc, br, bc, nb)
    windows = sliding_window_view(cells, block, axis=(0, 1)).transpose(0, 1, 3, 4, 2)
    one = windows.reshape(-1)
    gather = (np.arange(n_images)[:, None] * cells.size + one).reshape(-1)
    gather.flags.writeable = False
    return gather


def _normalize_blocks(hist, gather, block, n_blocks, block_norm, out):
    """Write the normalised blocks of ``hist`` (m, ncr, ncc, nb) into ``out`` (m, d).

    ``gather`` is ``_block_gather(...)`` for at least m images.
    """
    m, nb = hist.shape[0], hist.shape[3]
    br, bc = block
    nbr, nbc = n_blocks
    l1 = block_norm in ("L1", "L1-sqrt")
    # block sums from per-cell sums (hist >= 0, so |h| = h)
    cell_sums = hist.sum(axis=3) if l1 else np.einsum("ijkl,ijkl->ijk", hist, hist)
    sums = np.zeros((m, nbr, nbc))
    for a in range(br):
        for b in range(bc):
            sums += cell_sums[:, a : a + nbr, b : b + nbc]
    sums = sums.reshape(m, nbr * nbc, 1)
    if l1:
        norm = sums + _EPS
    else:
        norm = np.sqrt(sums + _EPS**2)
    flat = out.reshape(m, nbr * nbc, br * bc * nb)
    np.take(hist.reshape(-1), gather[: out.size], out=out.reshape(-1), mode="clip")
    if block_norm == "L2-Hys":
        # min(v / norm, 0.2) / norm2 computed as min(v, 0.2 norm) * (1 / (norm norm2))
        np.minimum(flat, 0.2 * norm, out=flat)
        sums = np.einsum("ijk,ijk->ij", flat, flat)[:, :, None]
        norm *= np.sqrt(sums / (norm * norm) + _EPS**2)
    flat *= 1.0 / norm
    if block_norm == "L1-sqrt":
        np.sqrt(out, out=out)


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
    n_cells, n_blocks = _hog_grid((height, width), cell, block)
    n_features = n_blocks[0] * n_blocks[1] * block[0] * block[1] * orientations
    out = np.empty((n, n_features), dtype=np.float64)
    if n == 0:
        return out
    work_dtype = _float_dtype(images.dtype)
    step = min(n, max(1, _HOG_CHUNK_PIXELS // (height * width)))
    workspace = _HogWorkspace(step, (height, width), cell, n_cells, orientations)
    gather = _block_gather(n_cells, block, orientations, step)
    for start in range(0, n, step):
        chunk = images[start : start + step].astype(work_dtype, copy=False)
        _check_values(chunk, non_negative=transform_sqrt, why="with transform_sqrt=True, ")
        if transform_sqrt:
            chunk = np.sqrt(chunk)
        hist = workspace.histograms(chunk)
        _normalize_blocks(hist, gather, block, n_blocks, block_norm, out[start : start + step])
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
