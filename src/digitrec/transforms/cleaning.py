"""Noise and lines that are not the digit, found and taken out of grey images.

Shared by :func:`digitrec.transforms.imaging.normalize` (pictures of any size) and
:class:`digitrec.transforms.preprocessing.Clean` (a model's raw images):

- pixel noise is estimated robustly, and a noisy image is smoothed; a clean one is left as
  it is, so clean training images never change;
- rows or columns that are ink from edge to edge (a scanner's streak, ruled paper, a form's
  box) are not ink when the rest of the ink stops short of those edges; where such a line
  crosses a stroke, the stroke is kept.

Images smaller than their dataset's canvas (an 8x8 digit) have too few pixels to tell noise
or lines from strokes: callers leave them alone (:func:`roomy`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from digitrec.imagespec import ImageSpec

NOISY = 0.05  # images whose pixel noise (standard deviation, of the full range) exceeds this ...
SMOOTHING = 1.0  # ... are smoothed by a Gaussian of this standard deviation, in pixels
LINE_MARGIN = 0.05  # edge-to-edge lines are not ink when the rest keeps this far from the edges

# A 3x3 kernel that cancels any plane: flat paper and ink give zero (Immerkaer 1996).
_LAPLACE = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
_MAD_TO_SIGMA = 1 / (0.6745 * np.sqrt((_LAPLACE**2).sum()))  # median |N(0, 1)| is 0.6745


def roomy(shape: tuple[int, ...], spec: ImageSpec) -> bool:
    """Whether images of ``shape`` (h, w) are large enough to clean: at least ``spec.canvas``."""
    return min(shape[-2:]) >= spec.canvas


def noise_sigma(images: np.ndarray) -> np.ndarray:
    """The standard deviation of the pixel noise of each image of ``images`` (..., h, w), an
    array of shape (...): the median absolute response to a kernel that cancels any plane,
    in which flat paper and ink give zero and strokes' edges are a minority of pixels."""
    x = np.asarray(images, dtype=np.float64)
    if min(x.shape[-2:]) < 3:
        return np.zeros(x.shape[:-2])
    kernel = _LAPLACE.reshape((1,) * (x.ndim - 2) + _LAPLACE.shape)
    response = np.abs(ndimage.convolve(x, kernel, mode="reflect"))
    return np.median(response.reshape(*x.shape[:-2], -1), axis=-1) * _MAD_TO_SIGMA


def smooth(image: np.ndarray) -> np.ndarray:
    """``image`` (h, w) smoothed by a Gaussian of ``SMOOTHING`` pixels."""
    return ndimage.gaussian_filter(image, SMOOTHING, mode="nearest")


def ruled_lines(ink: np.ndarray) -> np.ndarray:
    """The pixels of ``ink`` (a boolean (h, w) mask) in rows or columns that are ink from edge
    to edge while the rest of the ink keeps ``LINE_MARGIN`` of the image away from both of
    those edges (the strokes of a tightly cropped digit reach its edges); without the pixels
    where a line crosses a stroke (ink right beside the line on both sides)."""
    full = [np.asarray(ink.all(axis=axis)) for axis in (0, 1)]  # columns, rows
    across = [full[0][None, :], full[1][:, None]]
    others = ink & ~(across[0] | across[1])  # what lines may cross: neither rows nor columns
    lines = np.zeros_like(ink)
    for axis in (0, 1):
        if not full[axis].any():
            continue
        rest = ink & ~across[axis]
        reach = np.flatnonzero(rest.any(axis=1 - axis))
        side = ink.shape[axis]
        margin = LINE_MARGIN * side
        if len(reach) == 0 or reach[0] < margin or reach[-1] >= side - margin:
            continue
        lines |= np.broadcast_to(across[axis], ink.shape) & ~_bridged(others, full[axis], axis)
    return lines


def _bridged(rest: np.ndarray, full: np.ndarray, axis: int) -> np.ndarray:
    """The pixels of each band of ``full`` lines with ``rest`` ink right beside the band on
    both sides (a stroke the band crosses)."""
    if axis == 1:
        return _bridged(rest.T, full, 0).T
    out = np.zeros_like(rest)
    padded = np.concatenate([[False], full, [False]])
    starts = np.flatnonzero(padded[1:-1] & ~padded[:-2])
    ends = np.flatnonzero(padded[1:-1] & ~padded[2:])
    for a, b in zip(starts, ends, strict=True):
        if a > 0 and b + 1 < rest.shape[1]:
            out[:, a : b + 1] = (rest[:, a - 1] & rest[:, b + 1])[:, None]
    return out


def clean(images: np.ndarray) -> np.ndarray:
    """Raw-format images (n, h, w) in [0, 1], ink bright on a dark background: the noisy
    ones smoothed, with the background's level (the median) stretched back to 0; and
    edge-to-edge lines erased from the others (ink = any value above 0). Clean images come
    back unchanged (the same array when none needs work)."""
    x = np.asarray(images, dtype=np.float64)
    noisy = noise_sigma(x) > NOISY
    ink = x > 0
    full_columns, full_rows = np.all(ink, axis=1), np.all(ink, axis=2)
    lined = ~noisy & (np.any(full_columns, axis=1) | np.any(full_rows, axis=1))
    if not (noisy.any() or lined.any()):
        return x
    out = x.copy()
    for i in np.flatnonzero(noisy):
        smoothed = smooth(x[i])
        background = np.median(smoothed)
        out[i] = np.clip((smoothed - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    for i in np.flatnonzero(lined):
        out[i][ruled_lines(ink[i])] = 0.0
    return out
