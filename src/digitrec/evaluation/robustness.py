"""Corrupted test images and a model's accuracy on them: pure functions, no I/O.

A fixed, seeded suite of corruptions in the spirit of MNIST-C (Mu & Gilmer 2019, "MNIST-C:
A Robustness Benchmark for Computer Vision"), built from scikit-image and SciPy, applied to
raw images of any :class:`~digitrec.imagespec.ImageSpec` (8x8 counts 0..16, 28x28 grey
0..255). Lengths are stated in units of the digit's box (``spec.box``: the side the training
digits are scaled to fit), so one severity means the same for every dataset: 0.05 box is one
pixel of a 28x28 MNIST image and 0.4 pixel of an 8x8 digit. Strokes, lines and edges are
drawn on the dataset's canvas (the 32x32 bitmap an 8x8 digit is the block sum of) and
averaged back down, so sub-pixel widths keep their meaning at 8x8.

:func:`corrupt` returns images in the dataset's own format (uint8, whole levels from 0 to
``spec.max_value``). :func:`measure` scores a model on them along the two paths images take:
``raw`` (the arrays straight into the model, as ``evaluate`` does) and ``normalized``
(each image through :func:`digitrec.transforms.imaging.normalize` first, as ``digitrec predict`` and
``digitrec serve`` do with pictures).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import draw, feature, morphology, transform
from skimage.measure import block_reduce
from skimage.util import random_noise
from sklearn.pipeline import Pipeline

from digitrec.imagespec import ImageSpec
from digitrec.transforms.imaging import ImageError, normalize

PATHS = ("raw", "normalized")
REFUSED = -1  # the prediction recorded when normalize finds no digit in a corrupted image

Apply = Callable[[np.ndarray, float, ImageSpec, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Corruption:
    """One kind of corruption: ``apply(x, severity, spec, rng)`` maps float images (n, h, w)
    in [0, 1] to images of the same shape (clipped and rounded by :func:`corrupt`)."""

    name: str
    severity: str  # what the severity number means
    apply: Apply


# ----------------------------------------------------------------------- helpers
def box_pixels(spec: ImageSpec) -> float:
    """The side of the digit's box in raw image pixels: 20 for MNIST, 8 for 8x8 digits."""
    return spec.box * spec.shape[0] / spec.canvas


def _factor(spec: ImageSpec) -> int:
    return spec.canvas // spec.shape[0]


def _to_canvas(x: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Each raw pixel repeated over its block of the canvas (block means give ``x`` back)."""
    k = _factor(spec)
    return x if k == 1 else np.stack([transform.rescale(img, k, order=0) for img in x])


def _from_canvas(x: np.ndarray, spec: ImageSpec) -> np.ndarray:
    k = _factor(spec)
    return x if k == 1 else block_reduce(x, (1, k, k), np.mean)


def _canvas_pixels(fraction: float, spec: ImageSpec) -> int:
    """``fraction`` of the box as a whole number of canvas pixels, at least one."""
    return max(1, round(fraction * spec.box))


def _warp(x: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """Each image moved by its forward affine ``matrix`` (pixel coordinates, x then y)
    about the image centre, bilinear, zero outside."""
    h, w = x.shape[1:]
    centre = transform.AffineTransform(translation=((w - 1) / 2, (h - 1) / 2)).params
    uncentre = np.linalg.inv(centre)
    out = np.empty_like(x)
    for i, (img, m) in enumerate(zip(x, matrices, strict=True)):
        forward = transform.AffineTransform(matrix=centre @ m @ uncentre)
        out[i] = transform.warp(img, forward.inverse, order=1, mode="constant", cval=0.0)
    return out


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=n)


# ------------------------------------------------------------------- corruptions
def _gaussian_noise(x, sigma, spec, rng):
    return x + rng.normal(0.0, sigma, size=x.shape)


def _impulse_noise(x, amount, spec, rng):
    return random_noise(x, mode="s&p", amount=amount, rng=rng)


def _gaussian_blur(x, sigma, spec, rng):
    s = sigma * box_pixels(spec)
    return ndimage.gaussian_filter(x, sigma=(0.0, s, s), mode="constant")


def _motion_blur(x, length, spec, rng):
    """Averaged along a line of ``length`` in a random direction (per image), on the canvas."""
    canvas = _to_canvas(x, spec)
    half = length * spec.box / 2
    side = 2 * math.ceil(half) + 1
    out = np.empty_like(canvas)
    for i, angle in enumerate(rng.uniform(0.0, np.pi, size=len(x))):
        kernel = np.zeros((side, side))
        c = side // 2
        dy, dx = half * np.sin(angle), half * np.cos(angle)
        rr, cc, val = draw.line_aa(round(c - dy), round(c - dx), round(c + dy), round(c + dx))
        kernel[rr, cc] = np.maximum(kernel[rr, cc], val)
        out[i] = ndimage.convolve(canvas[i], kernel / kernel.sum(), mode="constant")
    return _from_canvas(out, spec)


def _rotate(x, degrees, spec, rng):
    """Turned by +-``degrees`` (the sign at random per image)."""
    return np.stack(
        [
            transform.rotate(img, sign * degrees, order=1, mode="constant", cval=0.0)
            for img, sign in zip(x, _signs(rng, len(x)), strict=True)
        ]
    )


def _shear(x, shear, spec, rng):
    """Sheared horizontally by +-``shear`` (x moves by shear * y; the sign at random)."""
    matrices = []
    for sign in _signs(rng, len(x)):
        m = np.eye(3)
        m[0, 1] = sign * shear
        matrices.append(m)
    return _warp(x, matrices)


def _scale(x, factor, spec, rng):
    """Shrunk (factor < 1) or grown (> 1) about the centre."""
    return _warp(x, [np.diag([factor, factor, 1.0])] * len(x))


def _translate(x, distance, spec, rng):
    """Moved by ``distance`` box in one of eight directions (at random per image)."""
    d = distance * box_pixels(spec)
    matrices = []
    for k in rng.integers(0, 8, size=len(x)):
        m = np.eye(3)
        m[0, 2], m[1, 2] = d * np.cos(k * np.pi / 4), d * np.sin(k * np.pi / 4)
        matrices.append(m)
    return _warp(x, matrices)


def _thicken(x, radius, spec, rng):
    footprint = morphology.disk(_canvas_pixels(radius, spec))
    canvas = _to_canvas(x, spec)
    return _from_canvas(np.stack([morphology.dilation(c, footprint) for c in canvas]), spec)


def _thin(x, radius, spec, rng):
    footprint = morphology.disk(_canvas_pixels(radius, spec))
    canvas = _to_canvas(x, spec)
    return _from_canvas(np.stack([morphology.erosion(c, footprint) for c in canvas]), spec)


def _stripes(x, count, spec, rng):
    """``count`` full-height vertical stripes of full ink, 0.05 box wide, at random columns
    of the middle half."""
    canvas = _to_canvas(x, spec)
    size = canvas.shape[2]
    width = _canvas_pixels(0.05, spec)
    for img in canvas:
        for left in rng.integers(size // 4, 3 * size // 4 - width + 1, size=int(count)):
            img[:, left : left + width] = 1.0
    return _from_canvas(canvas, spec)


def _dotted_lines(x, count, spec, rng):
    """``count`` dotted lines of full ink (dashes and gaps 0.1 box, 0.05 box wide) from a
    random point of the left edge to one of the right edge."""
    canvas = _to_canvas(x, spec)
    size = canvas.shape[1]
    dash = _canvas_pixels(0.1, spec)
    footprint = morphology.footprint_rectangle((_canvas_pixels(0.05, spec),) * 2)
    for img in canvas:
        mask = np.zeros(img.shape, dtype=bool)
        for r0, r1 in rng.integers(0, size, size=(int(count), 2)):
            rr, cc = draw.line(int(r0), 0, int(r1), size - 1)
            on = (np.arange(len(rr)) // dash) % 2 == 0
            mask[rr[on], cc[on]] = True
        img[morphology.dilation(mask, footprint)] = 1.0
    return _from_canvas(canvas, spec)


def _canny_edges(x, sigma, spec, rng):
    """Only the strokes' outlines: Canny's edges at Gaussian ``sigma`` (box), on the canvas."""
    canvas = _to_canvas(x, spec)
    s = sigma * spec.box
    edges = np.stack([feature.canny(c, sigma=s).astype(np.float64) for c in canvas])
    return _from_canvas(edges, spec)


def _fog(x, amount, spec, rng):
    """Smooth random haze (white noise blurred at 0.25 box, stretched to [0, 1] per image)
    scaled by ``amount`` and added."""
    s = 0.25 * box_pixels(spec)
    haze = ndimage.gaussian_filter(rng.random(x.shape), sigma=(0.0, s, s), mode="wrap")
    lo = haze.min(axis=(1, 2), keepdims=True)
    hi = haze.max(axis=(1, 2), keepdims=True)
    return x + amount * (haze - lo) / np.maximum(hi - lo, 1e-12)


def _brightness(x, level, spec, rng):
    """``level`` added to every pixel (the background turns grey; full ink stays full)."""
    return x + level


SUITE: dict[str, Corruption] = {
    c.name: c
    for c in [
        Corruption("gaussian_noise", "standard deviation, of the full range", _gaussian_noise),
        Corruption("impulse_noise", "fraction of pixels set to 0 or full", _impulse_noise),
        Corruption("gaussian_blur", "standard deviation, in boxes", _gaussian_blur),
        Corruption("motion_blur", "length of the blur, in boxes", _motion_blur),
        Corruption("rotate", "degrees, either way", _rotate),
        Corruption("shear", "horizontal shear, either way", _shear),
        Corruption("scale", "scale factor about the centre", _scale),
        Corruption("translate", "distance, in boxes", _translate),
        Corruption("thicken", "dilation radius, in boxes", _thicken),
        Corruption("thin", "erosion radius, in boxes", _thin),
        Corruption("stripes", "number of vertical stripes", _stripes),
        Corruption("dotted_lines", "number of dotted lines", _dotted_lines),
        Corruption("canny_edges", "Canny's Gaussian standard deviation, in boxes", _canny_edges),
        Corruption("fog", "haze strength, of the full range", _fog),
        Corruption("brightness", "level added, of the full range", _brightness),
    ]
}


def corrupt(
    images: np.ndarray, name: str, severity: float, spec: ImageSpec, seed: int
) -> np.ndarray:
    """``images`` (n, h, w) in ``spec``'s raw format with corruption ``name`` applied at
    ``severity``: uint8 of the same shape, whole levels in [0, ``spec.max_value``].

    The random draws come from ``seed`` and ``name`` only (crc32 of the name, not Python's
    salted ``hash``), so a corruption gives the same images whatever else the suite holds.
    """
    if name not in SUITE:
        raise ValueError(f"unknown corruption {name!r}; expected one of {', '.join(SUITE)}")
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != spec.shape:
        raise ValueError(
            f"expected images of shape (n, {spec.shape[0]}, {spec.shape[1]}), got {images.shape}"
        )
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    x = images.astype(np.float64) / spec.max_value
    y = SUITE[name].apply(x, float(severity), spec, rng)
    return np.rint(np.clip(y, 0.0, 1.0) * spec.max_value).astype(np.uint8)


# -------------------------------------------------------------------- measuring
def predict_normalized(model: Pipeline, images: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Labels for raw ``images`` brought through
    :func:`~digitrec.transforms.imaging.normalize` first, as pictures are by ``digitrec
    predict``; :data:`REFUSED` where it finds no digit."""
    ready, kept = [], []
    for i, img in enumerate(images):
        try:
            ready.append(normalize(img.astype(np.float64) / spec.max_value, spec))
            kept.append(i)
        except ImageError:
            pass
    labels = np.full(len(images), REFUSED, dtype=np.int64)
    if ready:
        labels[kept] = model.predict(np.stack(ready))
    return labels


@dataclass(frozen=True)
class Condition:
    """One test condition (``clean`` or a corruption) and the model's answers on it."""

    name: str
    severity: float | None
    images: np.ndarray
    predictions: dict[str, np.ndarray]  # by path


def targets(model: Pipeline, labels: np.ndarray) -> np.ndarray:
    """What ``model`` should answer for true digits ``labels``: the digits, or 1/0 for a
    one-vs-rest :class:`~digitrec.models.registry.DigitDetector`."""
    last = model.steps[-1][1]
    return last.binarize(labels) if hasattr(last, "binarize") else np.asarray(labels)


def _round(x: float) -> float:
    return round(float(x), 6)


def measure(
    model: Pipeline,
    images: np.ndarray,
    labels: np.ndarray,
    spec: ImageSpec,
    severities: Mapping[str, float],
    seed: int,
) -> tuple[dict, list[Condition]]:
    """Score ``model`` on raw test ``images`` (true digits ``labels``), clean and with each
    corruption of ``severities`` (name -> severity), along both :data:`PATHS`.

    Returns the metrics (accuracy per condition and path, how many images normalize
    refused, and the mean corruption error: the mean over corruptions of 1 - accuracy,
    per path) and the conditions, clean first, with their images and predictions.
    """
    truth = targets(model, labels)
    conditions = [Condition("clean", None, np.asarray(images), {})]
    for name, severity in severities.items():
        conditions.append(
            Condition(name, severity, corrupt(images, name, severity, spec, seed), {})
        )
    accuracy, refused = {}, {}
    for c in conditions:
        c.predictions["raw"] = np.asarray(model.predict(c.images))
        c.predictions["normalized"] = predict_normalized(model, c.images, spec)
        accuracy[c.name] = {p: float(np.mean(c.predictions[p] == truth)) for p in PATHS}
        refused[c.name] = int(np.sum(c.predictions["normalized"] == REFUSED))
    corrupted = [c.name for c in conditions[1:]]
    mce = {
        p: _round(float(np.mean([1 - accuracy[n][p] for n in corrupted]))) if corrupted else None
        for p in PATHS
    }
    metrics = {
        "n_images": len(truth),
        "accuracy": {n: {p: _round(a) for p, a in acc.items()} for n, acc in accuracy.items()},
        "normalize_refused": refused,
        "mean_corruption_error": mce,
    }
    return metrics, conditions


def accuracy_table(metrics: dict) -> dict[str, list]:
    """The accuracy per condition as CSV columns: ``condition``, ``raw``, ``normalized``."""
    names = list(metrics["accuracy"])
    table: dict[str, list] = {"condition": names}
    for p in PATHS:
        table[p] = [metrics["accuracy"][n][p] for n in names]
    return table


GALLERY_TITLE = (
    "corrupted test images: r = prediction from the raw array, n = through normalize "
    "('-': no digit found); red = a wrong one"
)


def gallery_rows(
    conditions: list[Condition], truth: np.ndarray, count: int
) -> list[tuple[str, np.ndarray, list[str], list[bool]]]:
    """The first ``count`` images of each condition, captioned with both paths' predictions,
    as :func:`digitrec.evaluation.plots.save_gallery_png` draws them (the clean row names the truth:
    :func:`targets`)."""
    truth = np.asarray(truth)[:count]
    rows = []
    for c in conditions:
        raw, norm = (c.predictions[p][:count] for p in PATHS)
        shown = ["-" if v == REFUSED else str(v) for v in norm]
        captions = [f"r{a} n{b}" for a, b in zip(raw, shown, strict=True)]
        if c.severity is None:
            label = c.name
            captions = [f"{t}: {text}" for t, text in zip(truth, captions, strict=True)]
        else:
            label = f"{c.name}\n{c.severity:g}"
        wrong = [bool(a != t or b != t) for a, b, t in zip(raw, norm, truth, strict=True)]
        rows.append((label, c.images[:count], captions, wrong))
    return rows
