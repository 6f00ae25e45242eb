"""Fast batch image kernels that reproduce their scikit-image / SciPy references.

Every function takes a whole batch of images, an array of shape ``(n_images, height,
width)``, and works on it with a few numpy operations per chunk of images instead of a
Python loop over images.  Each has a per-image reference (``hog_reference``,
``deskew_reference``, ``center_reference``) built on the library routine it reproduces;
the tests check that the two agree to 1e-6.  In practice HOG agrees to ~1e-7 (scikit-image
sums its cells in float32, we sum in float64) and deskew / center to ~1e-15 (the same
float64 arithmetic as SciPy, including its exact treatment of the image border).

``hog``
    Histogram of oriented gradients, equal to ``skimage.feature.hog(image, ...,
    feature_vector=True)`` for each image.
``deskew``
    Horizontal shear that makes the second-order moment ``mu11`` zero while keeping the
    centre of mass fixed (bilinear, zeros outside), equal to
    ``scipy.ndimage.affine_transform(..., order=1, mode="constant")``.
``center``
    Translation that puts the centre of mass at the geometric centre (bilinear, zeros
    outside), equal to ``scipy.ndimage.shift(..., order=1, mode="constant")``.

The functions are pure numpy; scikit-image and SciPy are only imported by the references.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

__all__ = [
    "BLOCK_NORMS",
    "center",
    "center_reference",
    "deskew",
    "deskew_reference",
    "hog",
    "hog_n_features",
    "hog_reference",
]

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")

# Pixels handled per chunk.  Small enough that a chunk's working arrays stay in the CPU
# caches (the kernels are memory-bound), large enough to amortise numpy's call overhead.
_HOG_CHUNK_PIXELS = 1 << 15
_GEOMETRY_CHUNK_PIXELS = 1 << 16
# HOG bins only the pixels with a gradient when they are at most this fraction.
_COMPRESS_BELOW = 0.5

# scikit-image's block normalisation epsilon.
_EPS = 1e-5


# --------------------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------------------


def _check_images(images, *, name: str = "images") -> np.ndarray:
    """Return ``images`` as a real-valued ndarray of shape (n, h, w).

    Values are checked chunk by chunk (``_check_values``), while the chunk is in cache.
    """
    images = np.asarray(images)
    if images.dtype == object or not (
        np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_
    ):
        raise ValueError(f"{name} must hold real numbers, got an array of dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got complex dtype {images.dtype}")
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
    if chunk.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(chunk.max())):
        raise ValueError("images contain NaN or infinite values")
    if non_negative and low < 0:
        raise ValueError(f"{why}non-negative images are required, got a value of {low:g}")


def _check_pair(value, name: str) -> tuple[int, int]:
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


def _check_hog_params(orientations, pixels_per_cell, cells_per_block, block_norm):
    if (
        not isinstance(orientations, numbers.Integral)
        or isinstance(orientations, bool)
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
        # (cell number * slots + image offset), the bincount index without the bin
        self.n_slots = ncr * ncc * (orientations + 1)  # + 1: the "no bin" slot
        rows = np.arange(grid[0]) // cell[0]
        cols = np.arange(grid[1]) // cell[1]
        cell_base = (rows[:, None] * ncc + cols[None, :]) * (orientations + 1)
        self.base = cell_base + (np.arange(step) * self.n_slots)[:, None, None]

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
        moving = mag > 0
        if np.count_nonzero(moving) <= _COMPRESS_BELOW * mag.size:
            moving = np.flatnonzero(moving)
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
        tiny = np.finfo(np.float64).tiny
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


def _block_gather(n_cells, block, orientations, n_images):
    """Flat indices into (n_images, ncr, ncc, nb) histograms, in HOG feature order."""
    cells = np.arange(n_cells[0] * n_cells[1] * orientations).reshape(*n_cells, orientations)
    # (nbr, nbc, nb, br, bc) -> (nbr, nbc, br, bc, nb)
    windows = sliding_window_view(cells, block, axis=(0, 1)).transpose(0, 1, 3, 4, 2)
    one = windows.reshape(-1)
    return (np.arange(n_images)[:, None] * cells.size + one).reshape(-1)


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


# --------------------------------------------------------------------------------------
# moments, deskew and center
# --------------------------------------------------------------------------------------


def _moments(x: np.ndarray):
    """Intensity moments of each image of a C-contiguous float64 batch (m, h, w).

    Returns ``total, r0, c0, mu02, mu11`` (each of shape (m,)): the total intensity, the
    centre of mass (row, column) and the central moments ``sum((r - r0)**2 I)`` and
    ``sum((r - r0) (c - c0) I)``.  Blank images get ``r0 = c0 = 0``.

    Every reduction runs along the last axis of one image's data, so an image's moments
    are bitwise the same whatever batch it is in (checked in the tests); the batch kernels
    and the per-image references share this function, hence use identical parameters.
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
        image, [[1.0, 0.0], [alpha, 1.0]], offset=[0.0, -alpha * r0], order=1,
        mode="constant", cval=0.0,
    )  # fmt: skip


class _RowShifter:
    """Shift the rows of (m, h, w) chunks by per-row amounts, bilinear, zeros outside.

    Output column ``c`` of a row shifted by ``s`` samples input column ``s + c`` the way
    scipy's order-1 'constant' mode does: 0 unless ``0 <= s + c <= w - 1`` (evaluated
    in float64 exactly as scipy, so even rounding-level excursions give 0).
    """

    def __init__(self, max_rows: int, width: int):
        self.width = width
        self.lo = width + 1  # zero padding on each side: larger shifts give all zeros
        self.stride = width + 2 * self.lo
        self.padded = np.zeros((max_rows, self.stride))  # padding is never written
        flat = self.padded.reshape(-1)
        # every run of width + 1 consecutive values of the flattened padded rows
        self.windows = as_strided(
            flat, shape=(flat.size - width, width + 1), strides=(8, 8), writeable=False
        )
        self.edges = np.array([-1, 0, width - 2, width - 1])

    def __call__(self, x, shift, out):
        """Shifted rows of ``x`` (m*h, w) by ``shift`` (m*h,) into ``out`` (m*h, w)."""
        n_rows, width = x.shape
        k, f = _floor_frac(shift)
        np.clip(k, -(width + 1), width, out=k)
        k = k.astype(np.intp)
        self.padded[:n_rows, self.lo : self.lo + width] = x
        start = np.arange(n_rows) * self.stride + self.lo + k
        win = self.windows[start]  # (n_rows, w + 1): P[c + k], c = 0 .. w
        a, b = win[:, :width], win[:, 1:]
        # a (1 - f) + b f, written as a + f (b - a)
        np.subtract(b, a, out=out)
        out *= f[:, None]
        out += a
        # scipy gives 0 once s + c leaves [0, w - 1], even by a rounding error.  With
        # zero padding we already give 0 there, except at the columns with c + k = -1
        # (f * x[0]), c + k = w - 1 ((1 - f) * x[w-1]) and, when f was carried to 0,
        # c + k = 0 (x[0]): only rows with ink in the first or last column can differ.
        # For those, evaluate scipy's coordinate at these columns and apply its rule.
        inked = np.flatnonzero((x[:, 0] != 0) | (x[:, -1] != 0))
        if inked.size:
            k, shift = k[inked], shift[inked]
            cand = self.edges - k[:, None]  # columns c with c + k in {-1, 0, w-2, w-1}
            coord = shift[:, None] + cand
            bad = ((coord < 0) | (coord > width - 1)) & (cand >= 0) & (cand < width)
            rows, which = np.nonzero(bad)
            out[inked[rows], cand[rows, which]] = 0.0


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
        Equal to ``deskew_reference`` image by image (to ~1e-15).
    """
    images = _check_images(images)
    n, height, width = images.shape
    out = np.empty((n, height, width), dtype=np.float64)
    if n == 0:
        return out
    step = max(1, _GEOMETRY_CHUNK_PIXELS // (height * width))
    shifter = _RowShifter(min(n, step) * height, width)
    rows = np.arange(height, dtype=np.float64)
    for x, dst in _geometry_chunks(images, out):
        m = x.shape[0]
        total, r0, _, mu02, mu11 = _moments(x)
        alpha = _shear_factor(total, mu02, mu11)
        # scipy samples output (r, c) at input column (r * alpha + offset) + c with
        # offset = -alpha r0, in this order of float operations (checked: scipy 1.17)
        shift = rows * alpha[:, None] + (-alpha * r0)[:, None]
        shifter(x.reshape(m * height, width), shift.reshape(-1), dst.reshape(m * height, width))
        blank = total == 0
        if blank.any():
            dst[blank] = x[blank]
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
        self.windows = as_strided(
            flat,
            shape=(flat.size - span, height + 1, width + 1),
            strides=(8, 8 * row_stride, 8),
            writeable=False,
        )

    def _axis(self, neg_shift, length, pad):
        k, f = _floor_frac(neg_shift)
        np.clip(k, -pad, pad - 1, out=k)
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
        blank = total == 0
        if blank.any():
            dst[blank] = x[blank]
    return out
