"""Batched gradient-direction features (directional gradient planes, Gaussian-pooled).

The classical feature of handwritten digit recognisers (Liu, Nakashima, Sako & Fujisawa,
"Handwritten digit recognition: benchmarking of state-of-the-art techniques", Pattern
Recognition 36, 2003): the gradient of each pixel is split between the two nearest of
``directions`` standard directions, each direction plane is blurred by a Gaussian and
sampled on a ``grid`` x ``grid`` lattice, and a power transform (``power`` = 0.5) makes the
values more Gaussian-like. Unlike HOG's hard cells, the Gaussian pooling varies smoothly
as a stroke moves, which is what makes the feature tolerant of writer-to-writer variation.

Small images (8x8 block counts) are first upsampled by cubic-spline interpolation
(``upsample``), so the gradients follow the strokes rather than the block boundaries.

See :mod:`digitrec.kernels` for how the batch and reference versions relate:
``gradient_directions_reference`` works image by image with ``scipy.ndimage.zoom`` and
``scipy.ndimage.sobel``; the batch version does the same with array products.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

from digitrec.kernels._validation import _check_images, _check_values

# Images handled per chunk: bounds the working arrays (directions planes of the upsampled
# images) to a few MB.
_GRADIENT_CHUNK_PIXELS = 1 << 18


def _check_gradient_params(directions, grid, upsample, blur, power):
    def positive_int(value, name, low=1):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or int(value) < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        return int(value)

    directions = positive_int(directions, "directions", 2)
    grid = positive_int(grid, "grid")
    upsample = positive_int(upsample, "upsample")
    if not isinstance(blur, numbers.Real) or not float(blur) > 0:
        raise ValueError(f"blur must be a positive number, got {blur!r}")
    if not isinstance(power, numbers.Real) or not 0 < float(power) <= 1:
        raise ValueError(f"power must be in (0, 1], got {power!r}")
    return directions, grid, upsample, float(blur), float(power)


def gradient_n_features(*, directions: int = 8, grid: int = 8) -> int:
    """Length of the feature vector of one image (any image size)."""
    return directions * grid * grid


@lru_cache(maxsize=32)
def _zoom_matrix(n: int, factor: int) -> np.ndarray:
    """(n * factor, n) matrix of ``scipy.ndimage.zoom(x, factor, order=3,
    mode="grid-constant", grid_mode=True)`` for 1-D ``x`` of length n.

    The zoom is separable, so ``Z_rows @ image @ Z_cols.T`` is the 2-D zoom of an image.
    """
    from scipy import ndimage  # only needed to build the matrix, once per size

    eye = np.eye(n)
    columns = [ndimage.zoom(e, factor, order=3, mode="grid-constant", grid_mode=True) for e in eye]
    return np.stack(columns, axis=1)


@lru_cache(maxsize=32)
def _pool_matrix(size: int, grid: int, blur: float) -> np.ndarray:
    """(grid, size) Gaussian weights: row i pools around the centre of the i-th of
    ``grid`` equal cells, with a standard deviation of ``blur`` cells."""
    cell = size / grid
    centres = (np.arange(grid) + 0.5) * cell - 0.5
    sigma = blur * cell
    offsets = np.arange(size)[None, :] - centres[:, None]
    return np.exp(-0.5 * (offsets / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)


def _sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column Sobel derivatives of (n, h, w) images, zeros outside (as
    ``scipy.ndimage.sobel(..., mode="constant")`` on each image)."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    d_row = p[:, 2:, :] - p[:, :-2, :]  # (n, h, w + 2)
    d_col = p[:, :, 2:] - p[:, :, :-2]  # (n, h + 2, w)
    g_row = d_row[:, :, :-2] + 2 * d_row[:, :, 1:-1] + d_row[:, :, 2:]
    g_col = d_col[:, :-2, :] + 2 * d_col[:, 1:-1, :] + d_col[:, 2:, :]
    return g_row, g_col


def _split_directions(g_row, g_col, directions):
    """Each pixel's gradient magnitude split between its two nearest standard directions
    (linearly in the angle): the lower direction index, and the weights of both."""
    magnitude = np.hypot(g_row, g_col)
    position = (np.arctan2(g_row, g_col) % (2 * np.pi)) * (directions / (2 * np.pi))
    lower = np.floor(position)
    upper_share = position - lower
    lower = lower.astype(np.intp) % directions
    return lower, magnitude * (1 - upper_share), magnitude * upper_share


def gradient_directions(
    images,
    *,
    directions: int = 8,
    grid: int = 8,
    upsample: int = 4,
    blur: float = 0.5,
    power: float = 0.5,
) -> np.ndarray:
    """Gradient-direction features of a batch of grey images.

    Parameters
    ----------
    images : array-like of shape (n_images, height, width)
        Real-valued images, ink bright.
    directions : int, default=8
        Standard directions over [0, 360) degrees (the gradient's sign is kept: a
        stroke's two edges count in opposite directions).
    grid : int, default=8
        Pooling lattice: ``grid`` x ``grid`` Gaussian-weighted samples per direction.
    upsample : int, default=4
        Cubic-spline upsampling factor applied first (1: none).
    blur : float, default=0.5
        Standard deviation of the pooling Gaussian, in cells (a cell is 1/grid of the
        image side).
    power : float, default=0.5
        Exponent applied to the pooled values (variance-stabilising).

    Returns
    -------
    features : ndarray of shape (n_images, directions * grid * grid), float64
        In (direction, row, column) order.
    """
    directions, grid, upsample, blur, power = _check_gradient_params(
        directions, grid, upsample, blur, power
    )
    images = _check_images(images)
    n, height, width = images.shape
    z_rows = _zoom_matrix(height, upsample) if upsample > 1 else None
    z_cols = _zoom_matrix(width, upsample) if upsample > 1 else None
    big = (height * upsample, width * upsample)
    pool_rows = _pool_matrix(big[0], grid, blur)
    pool_cols_t = _pool_matrix(big[1], grid, blur).T.copy()
    out = np.empty((n, directions, grid, grid))
    step = max(1, _GRADIENT_CHUNK_PIXELS // (big[0] * big[1]))
    for start in range(0, n, step):
        chunk = images[start : start + step]
        _check_values(chunk, non_negative=False)
        x = chunk.astype(np.float64, copy=False)
        if z_rows is not None and z_cols is not None:
            x = z_rows @ x @ z_cols.T
        lower, lower_weight, upper_weight = _split_directions(*_sobel(x), directions)
        upper = (lower + 1) % directions
        for d in range(directions):
            plane = np.where(lower == d, lower_weight, 0.0)
            plane += np.where(upper == d, upper_weight, 0.0)
            out[start : start + step, d] = pool_rows @ (plane @ pool_cols_t)
    np.maximum(out, 0.0, out=out)  # pooled sums of non-negative values; clear -0.0 / -eps
    return (out**power).reshape(n, directions * grid * grid)


def gradient_directions_reference(
    image,
    *,
    directions: int = 8,
    grid: int = 8,
    upsample: int = 4,
    blur: float = 0.5,
    power: float = 0.5,
) -> np.ndarray:
    """One image, with SciPy's zoom and Sobel and explicit loops (for the tests)."""
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    if upsample > 1:
        image = ndimage.zoom(image, upsample, order=3, mode="grid-constant", grid_mode=True)
    g_row = ndimage.sobel(image, axis=0, mode="constant")
    g_col = ndimage.sobel(image, axis=1, mode="constant")
    planes = np.zeros((directions, *image.shape))
    for (r, c), gr in np.ndenumerate(g_row):
        gc = g_col[r, c]
        angle = np.arctan2(gr, gc) % (2 * np.pi)
        position = angle / (2 * np.pi) * directions
        lower = int(np.floor(position))
        share = position - lower
        magnitude = np.hypot(gr, gc)
        planes[lower % directions, r, c] += magnitude * (1 - share)
        planes[(lower + 1) % directions, r, c] += magnitude * share
    features = np.empty((directions, grid, grid))
    for i in range(grid):
        for j in range(grid):
            wr = _gauss(image.shape[0], grid, blur, i)
            wc = _gauss(image.shape[1], grid, blur, j)
            features[:, i, j] = np.einsum("r,drc,c->d", wr, planes, wc)
    return np.maximum(features, 0.0).ravel() ** power


def _gauss(size, grid, blur, i):
    cell = size / grid
    centre = (i + 0.5) * cell - 0.5
    sigma = blur * cell
    x = np.arange(size) - centre
    return np.exp(-0.5 * (x / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
