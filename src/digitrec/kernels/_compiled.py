"""The per-image loops of ``deskew`` and ``hog``, compiled with numba.

One image's deskew or HOG is a few hundred arithmetic operations per row: as numpy calls
they cost numpy's fixed overhead per call dozens of times per batch chunk, and for one
image that overhead is nearly all the time.  Compiled loops do the same
arithmetic in one pass over each image, with no temporary arrays.

Sums are plain loops, added in index order.  numba compiles without fast-math, so no
operation is fused or reordered: the same input gives the same bytes on every run (the
results agree with scikit-image and SciPy to rounding, see :mod:`digitrec.kernels`).
The functions are compiled on first call and cached on disk (``cache=True``, in
``__pycache__``, or numba's user-wide cache directory where that is read-only); importing
this module imports numba, so the public kernels import it only when they run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# scikit-image's block normalisation epsilon, and its square.
_EPS = 1e-5
_EPS2 = _EPS**2
_TINY = float(np.finfo(np.float64).tiny)
_DEGREES = 180.0 / math.pi  # numpy's rad2deg: x * (180 / pi)

# block_norm codes of _hog_into: indices into digitrec.kernels._hog.BLOCK_NORMS
L1, L1_SQRT, L2, L2_HYS = range(4)


def _compile(function):
    """``numba.njit(function)``, its machine code cached on disk; where numba finds no
    writable place for the cache (it raises RuntimeError), every process compiles."""
    try:
        return njit(cache=True)(function)
    except RuntimeError:
        return njit(function)


# --------------------------------------------------------------------------------------
# Deskew
# --------------------------------------------------------------------------------------


@_compile
def _deskew_one(x, out):
    """Deskew one C-contiguous float64 (h, w) image into ``out`` (see ``deskew``)."""
    height, width = x.shape
    row_mass = np.empty(height)  # sum_c I[r, c]
    row_cmass = np.empty(height)  # sum_c c I[r, c]
    total = 0.0
    for r in range(height):
        mass = 0.0
        cmass = 0.0
        for c in range(width):
            mass += x[r, c]
            cmass += c * x[r, c]
        row_mass[r] = mass
        row_cmass[r] = cmass
        total += mass
    if total == 0:  # blank: unchanged
        for r in range(height):
            for c in range(width):
                out[r, c] = x[r, c]
        return
    r_sum = 0.0
    c_sum = 0.0
    for r in range(height):
        r_sum += r * row_mass[r]
        c_sum += row_cmass[r]
    r0 = r_sum / total
    c0 = c_sum / total
    mu02 = 0.0  # sum (r - r0)^2 I
    mu11 = 0.0  # sum (r - r0) (c - c0) I
    for r in range(height):
        dr = r - r0
        mu02 += row_mass[r] * dr * dr
        mu11 += dr * (row_cmass[r] - c0 * row_mass[r])
    alpha = mu11 / mu02 if mu02 > 1e-12 * total else 0.0  # ink in one row: unchanged
    offset = -alpha * r0
    for r in range(height):
        # scipy samples output (r, c) at input column (r * alpha + offset) + c
        shift = r * alpha + offset
        k = float(math.floor(shift))
        f = shift - k
        if f >= 1.0:  # shift = -tiny gives f == 1.0 after rounding
            k += 1.0
            f = 0.0
        k = int(min(max(k, -(width + 1.0)), float(width)))
        for c in range(width):
            j = c + k
            a = x[r, j] if 0 <= j < width else 0.0
            b = x[r, j + 1] if 0 <= j + 1 < width else 0.0
            out[r, c] = (b - a) * f + a  # a (1 - f) + b f
        # scipy gives 0 once shift + c leaves [0, w - 1], even by a rounding error; the
        # zeros outside the image already do, except where the row's first or last pixel
        # is sampled: at c + k in {-1, 0, w - 2, w - 1}.
        if x[r, 0] != 0 or x[r, width - 1] != 0:
            for e in range(4):
                c = (-1, 0, width - 2, width - 1)[e] - k
                if 0 <= c < width and not (0 <= shift + c <= width - 1):
                    out[r, c] = 0.0


@_compile
def _deskew_into(images, out):
    for i in range(images.shape[0]):
        _deskew_one(images[i], out[i])


# --------------------------------------------------------------------------------------
# HOG
# --------------------------------------------------------------------------------------


@_compile
def _orientation_bin(g_row, g_col, magnitude, table, bounds):
    """scikit-image's orientation bin of a pixel with a gradient (see
    ``_OrientationTable``); ``len(bounds) - 1`` means none."""
    size = table.shape[0] - 1
    half = size // 2
    # table index floor(q * H + H), q = g_col * sign(g_row) / |g|, with sign(+-0) = +1
    q = math.copysign(g_col, g_col * g_row + 0.0) * half / (magnitude + _TINY)
    index = min(max(int(q + half), 0), size)
    b = table[index]
    if b >= 0:
        return b
    # unsure: scikit-image's own computation, o = rad2deg(arctan2(g_row, g_col)) % 180
    o = (math.atan2(g_row, g_col) * _DEGREES) % 180.0
    b = -1
    for j in range(bounds.shape[0]):  # searchsorted(bounds, o, side="right") - 1
        if bounds[j] > o:
            break
        b = j
    return b


@_compile
def _hog_one(x, cell, block, block_norm, table, bounds, out):
    """HOG of one C-contiguous (h, w) image (float32 or float64) into ``out``."""
    height, width = x.shape
    orientations = bounds.shape[0] - 1
    n_cell_rows, n_cell_cols = height // cell[0], width // cell[1]
    grid_h, grid_w = n_cell_rows * cell[0], n_cell_cols * cell[1]
    r_hi, c_hi = min(grid_h, height - 1), min(grid_w, width - 1)
    # the extra bin `orientations` collects pixels in no bin
    sums = np.zeros((n_cell_rows, n_cell_cols, orientations + 1))
    for r in range(grid_h):
        for c in range(grid_w):
            # centred differences in the image's dtype, as scikit-image computes them
            g_row = float(x[r + 1, c] - x[r - 1, c]) if 1 <= r < r_hi else 0.0
            g_col = float(x[r, c + 1] - x[r, c - 1]) if 1 <= c < c_hi else 0.0
            squared = g_col * g_col + g_row * g_row
            if squared == 0.0:  # no gradient, nothing to add
                continue
            magnitude = math.sqrt(squared)
            b = _orientation_bin(g_row, g_col, magnitude, table, bounds)
            sums[r // cell[0], c // cell[1], b] += magnitude  # in pixel order, as bincount

    area = float(cell[0] * cell[1])
    hist = np.empty((n_cell_rows, n_cell_cols, orientations))
    cell_sums = np.empty((n_cell_rows, n_cell_cols))
    l1 = block_norm == L1 or block_norm == L1_SQRT
    for i in range(n_cell_rows):
        for j in range(n_cell_cols):
            cell_sum = 0.0  # of the bins (L1 norms) or of their squares (L2 norms)
            for o in range(orientations):
                v = sums[i, j, o] / area
                hist[i, j, o] = v
                cell_sum += v if l1 else v * v
            cell_sums[i, j] = cell_sum

    n_values = block[0] * block[1] * orientations
    values = np.empty(n_values)
    start = 0
    for i in range(n_cell_rows - block[0] + 1):
        for j in range(n_cell_cols - block[1] + 1):
            total = 0.0
            p = 0
            for a in range(block[0]):
                for b in range(block[1]):
                    total += cell_sums[i + a, j + b]
                    for o in range(orientations):
                        values[p] = hist[i + a, j + b, o]
                        p += 1
            norm = total + _EPS if l1 else math.sqrt(total + _EPS2)
            if block_norm == L2_HYS:
                # min(v / norm, 0.2) / norm2 computed as min(v, 0.2 norm) / (norm norm2)
                clip = 0.2 * norm
                clipped = 0.0  # sum of the clipped values' squares
                for p in range(n_values):
                    v = min(values[p], clip)
                    values[p] = v
                    clipped += v * v
                norm *= math.sqrt(clipped / (norm * norm) + _EPS2)
            scale = 1.0 / norm
            for p in range(n_values):
                v = values[p] * scale
                out[start + p] = math.sqrt(v) if block_norm == L1_SQRT else v
            start += n_values


@_compile
def _hog_into(images, cell, block, block_norm, table, bounds, out):
    for i in range(images.shape[0]):
        _hog_one(images[i], cell, block, block_norm, table, bounds, out[i])
