"""Virtual support vectors: teach an SVM that a digit moved by a pixel is the same digit.

The virtual SV method (Schölkopf, Burges & Vapnik 1996; DeCoste & Schölkopf 2002, the
best classical MNIST results) trains in two rounds. A first SVM finds the support
vectors: the training images that decide the boundary. Each is then shifted by ``shift``
pixels in 4 or 8 directions, and the final classifier is trained on the support vectors
plus those shifted copies. Augmenting every training image the same way would cost
(1 + directions)^2 times the fit; the support vectors are a small fraction of the data,
and the only examples the boundary depends on.

Shifts are the classical transformation; small rotations (``rotate`` degrees each way),
scalings (by ``1 + scale`` and ``1 - scale``) and stroke thickness changes (``thickness``
of the way to a grey dilation and to a grey erosion by a 3x3 cross) add other copies,
two each (:func:`transformed_copies`). All are deterministic.

The copies are made from preprocessed images (after deskewing), which are then featurized
with the already fitted featurizer, so the final classifier sees exactly what it will see
when it predicts. Only training data is used.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator

from digitrec.models.cascade import SVCCascade

# (dy, dx) unit steps: right, left, down, up, then the diagonals
_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))


def shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate (n, h, w) images by (dy, dx) pixels; what moves in is background (0)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = slice(max(-dy, 0), h - max(dy, 0)), slice(max(dy, 0), h - max(-dy, 0))
    src_x, dst_x = slice(max(-dx, 0), w - max(dx, 0)), slice(max(dx, 0), w - max(-dx, 0))
    out[:, dst_y, dst_x] = images[:, src_y, src_x]
    return out


def shifted_copies(
    images: np.ndarray, labels: np.ndarray, pixels: int, directions: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every image moved ``pixels`` in each of ``directions`` (4: the axes, 8: and the
    diagonals), with its label; copies of one direction are contiguous."""
    if directions not in (4, 8):
        raise ValueError(f"directions must be 4 or 8, got {directions!r}")
    if pixels < 1:
        raise ValueError(f"pixels must be a positive integer, got {pixels!r}")
    steps = _STEPS[:directions]
    moved = np.concatenate([shift(images, dy * pixels, dx * pixels) for dy, dx in steps])
    return moved, np.tile(labels, len(steps))


def _about_centre(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(n, h, w) images mapped by the 2x2 ``matrix`` (output to input coordinates) about
    the image centre; bilinear, background (0) outside."""
    centre = (np.array(images.shape[1:], dtype=float) - 1) / 2
    full = np.eye(3)
    full[1:, 1:] = matrix
    offset = np.concatenate([[0.0], centre - matrix @ centre])
    return ndimage.affine_transform(
        np.asarray(images, dtype=np.float64), full, offset, order=1, mode="constant", cval=0.0
    )


def rotated(images: np.ndarray, degrees: float) -> np.ndarray:
    """(n, h, w) images rotated by ``degrees`` about the image centre (anticlockwise as
    displayed, rows running down)."""
    a = np.deg2rad(degrees)
    return _about_centre(images, np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]))


def scaled(images: np.ndarray, factor: float) -> np.ndarray:
    """(n, h, w) images scaled by ``factor`` (> 0) about the image centre."""
    return _about_centre(images, np.eye(2) / factor)


_CROSS = ndimage.generate_binary_structure(2, 1)[np.newaxis]  # 3x3 cross, image by image


def thickened(images: np.ndarray, amount: float) -> np.ndarray:
    """Strokes ``amount`` (0 to 1) of the way to a grey dilation by a 3x3 cross."""
    images = np.asarray(images, dtype=np.float64)
    return images + amount * (ndimage.grey_dilation(images, footprint=_CROSS) - images)


def thinned(images: np.ndarray, amount: float) -> np.ndarray:
    """Strokes ``amount`` (0 to 1) of the way to a grey erosion by a 3x3 cross."""
    images = np.asarray(images, dtype=np.float64)
    return images - amount * (images - ndimage.grey_erosion(images, footprint=_CROSS))


def transformed_copies(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    pixels: int = 0,
    directions: int = 8,
    rotate: float = 0.0,
    scale: float = 0.0,
    thickness: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Virtual copies of every image, with its label, one transformation per copy, in
    contiguous blocks: the shifts of :func:`shifted_copies` (``pixels`` > 0), then rotations
    by +``rotate`` and -``rotate`` degrees, scalings by 1 + ``scale`` and 1 - ``scale``,
    strokes thickened and thinned by ``thickness`` (each pair only when its amount is not
    0). No copies at all is an error."""
    if pixels < 0:
        raise ValueError(f"pixels must be a non-negative integer, got {pixels!r}")
    if not 0 <= rotate <= 90:
        raise ValueError(f"rotate must be from 0 to 90 degrees, got {rotate!r}")
    if not 0 <= scale < 1:
        raise ValueError(f"scale must be in [0, 1), got {scale!r}")
    if not 0 <= thickness <= 1:
        raise ValueError(f"thickness must be in [0, 1], got {thickness!r}")
    blocks = []
    if pixels:
        blocks.append(shifted_copies(images, labels, pixels, directions)[0])
    if rotate:
        blocks += [rotated(images, rotate), rotated(images, -rotate)]
    if scale:
        blocks += [scaled(images, 1 + scale), scaled(images, 1 - scale)]
    if thickness:
        blocks += [thickened(images, thickness), thinned(images, thickness)]
    if not blocks:
        raise ValueError("no virtual copies: set pixels, rotate, scale or thickness")
    moved = np.concatenate([b.astype(images.dtype, copy=False) for b in blocks])
    copies = (directions if pixels else 0) + 2 * (bool(rotate) + bool(scale) + bool(thickness))
    return moved, np.tile(labels, copies)


def support_indices(fitted: BaseEstimator) -> np.ndarray:
    """Indices of the training samples that are support vectors of a fitted SVC (possibly
    inside a wrapper with an ``estimator_``, such as a one-digit detector)."""
    inner = getattr(fitted, "estimator_", fitted)
    if not hasattr(inner, "support_"):
        raise TypeError(f"{type(inner).__name__} has no support vectors")
    return np.sort(inner.support_)


def fit_with_virtual_svs(
    classifier: BaseEstimator,
    probe: BaseEstimator,
    images: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    featurizer,
    *,
    pixels: int = 1,
    directions: int = 8,
    rotate: float = 0.0,
    scale: float = 0.0,
    thickness: float = 0.0,
    cascade_margin: float | None = None,
    cascade_features: int | None = None,
) -> BaseEstimator:
    """Fit ``probe`` (an SVC) on all the training data, then a clone of ``classifier`` on
    its support vectors and their virtual copies (:func:`transformed_copies`: shifted by
    ``pixels`` in ``directions`` directions, rotated, scaled, thickened and thinned).

    ``images`` are the preprocessed training images whose rows of ``features`` are
    ``featurizer.transform(images)`` (``featurizer`` is already fitted). With a
    ``cascade_margin``, returns an :class:`~digitrec.models.cascade.SVCCascade` of both rounds:
    the fitted probe labels the samples it is clear about by that margin. With
    ``cascade_features`` too, a clone of ``probe`` fitted on only that many leading
    feature columns takes the probe's place there.
    """
    fitted_probe = clone(probe).fit(features, labels)
    sv = support_indices(fitted_probe)
    moved, moved_labels = transformed_copies(
        images[sv], labels[sv], pixels=pixels, directions=directions,
        rotate=rotate, scale=scale, thickness=thickness,
    )  # fmt: skip
    X = np.concatenate([features[sv], featurizer.transform(moved)])
    y = np.concatenate([labels[sv], moved_labels])
    final = clone(classifier).fit(X, y)
    if cascade_margin is None:
        return final
    first = fitted_probe
    if cascade_features is not None:
        first = clone(probe).fit(features[:, :cascade_features], labels)
    cascade = SVCCascade(
        FrozenEstimator(first), FrozenEstimator(final), cascade_margin, cascade_features
    )
    return cascade.fit(X, y)  # both already fitted: this checks and ties them together
