"""Bring any picture of a digit to the raw image format a model was trained on.

``load_image`` reads a file into grey levels in [0, 1]; ``normalize`` turns grey levels of
any size and polarity into an array shaped like the dataset's raw images (its
:class:`~digitrec.imagespec.ImageSpec`). ``predict`` on files and the drawing canvas both go
through ``normalize``, so a picture is treated the same whichever way it arrives.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage
from skimage.filters import threshold_otsu

from digitrec.imagespec import ImageSpec
from digitrec.transforms import cleaning

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm"}
)
MAX_SIDE = 2048  # larger pictures are box-averaged down on load: a digit needs far fewer pixels
MIN_CONTRAST = 0.1  # ink must differ from the paper by this much (of the full grey range) ...
NOISE_MARGIN = 2.0  # ... and by this many times the paper's spread (noise, JPEG ringing)
# Strokes thinner than THIN of spec.box once scaled (a fine pen on a big photo; MNIST's own are
# 0.05 at the thinnest) are thickened to PEN, a typical width, so they survive the downscale.
THIN, PEN = 0.05, 0.1
MIN_PART = 0.02  # ink blobs smaller than this fraction of the largest one are specks

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity, so thin diagonal strokes hold together
# Ordered-dither thresholds: a 4x4 cell of uniform grey g gets round(16 g) pixels on.
_BAYER = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) + 0.5) / 16


class ImageError(ValueError):
    """A picture that cannot be read, is not supported, or holds no digit."""


def load_image(source: str | os.PathLike[str] | IO[bytes]) -> np.ndarray:
    """Read a picture as grey levels: a 2-D float64 array in [0, 1] (0 black, 1 white).

    Any format Pillow reads (first frame of animations); EXIF orientation is applied.
    Transparency is composited on white when the visible pixels are mostly dark (dark strokes
    on a transparent canvas), else on black (light strokes), so the strokes keep contrast.
    16-bit and float pictures are stretched to their own range. Pictures of more than
    ``PIL.Image.MAX_IMAGE_PIXELS`` pixels are refused; ones wider or taller than
    ``MAX_SIDE`` are box-averaged down. Raises :class:`ImageError`, naming the file.
    """
    name = (
        os.fspath(source)
        if isinstance(source, str | os.PathLike)
        else getattr(source, "name", "<stream>")
    )
    try:
        with contextlib.ExitStack() as stack, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            fh = (
                stack.enter_context(open(source, "rb"))
                if isinstance(source, str | os.PathLike)
                else source
            )
            im = stack.enter_context(Image.open(fh))
            w, h = im.size
            if max(w, h) > MAX_SIDE:  # JPEG: decode at 1/2, 1/4 or 1/8 size right away
                im.draft(None, (w * MAX_SIDE // max(w, h), h * MAX_SIDE // max(w, h)))
            grey = _to_grey(ImageOps.exif_transpose(im))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: image too large: {e}") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not an image, or an image format Pillow cannot read") from e
    except OSError as e:
        raise ImageError(f"{name}: cannot read image: {e.strerror or e}") from e
    except Exception as e:  # malformed files make decoders raise all sorts of errors
        raise ImageError(f"{name}: cannot read image: {e!r}") from e
    if grey.size == 0:
        raise ImageError(f"{name}: empty image")
    return grey


def normalize(grey: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Turn grey levels of one digit into a raw image of ``spec``'s dataset.

    ``grey``: 2-D floats in [0, 1] (clipped), any size, dark-on-light or light-on-dark.
    Returns float64 of ``spec.shape`` in [0, ``spec.max_value``] (whole levels, ink bright):

    0. A noisy picture is smoothed (:mod:`~digitrec.transforms.cleaning`); a clean one is
       left as it is. So is a picture smaller than ``spec.canvas`` (an 8x8 digit), here
       and in the lines' step: it has too few pixels to tell noise and lines from strokes.
    1. Otsu's threshold splits ink from paper; the paper is whichever side the border's
       median falls on, so dark-on-light is inverted.
    2. Ink = pixels further from the paper's median than the paper's own spread (noise,
       JPEG ringing: measured on the side away from the ink, which anti-aliasing never
       reaches) and connected to pixels past Otsu's threshold (hysteresis: keeps faint
       edges, drops paper texture), minus lines from edge to edge of the picture (ruled
       paper, scanner streaks; not where they cross a stroke) and minus blobs under
       ``MIN_PART`` of the largest (dust). Grey levels are kept, stretched so paper -> 0
       and the ink's 90th percentile -> 1.
    3. Crop to the ink's bounding box; thicken strokes that would end up thinner than
       ``THIN * spec.box`` (pen on a big photo); scale to fit ``spec.box`` keeping
       the aspect ratio (area averaging when shrinking).
    4. Place on the ``spec.canvas`` square, centring the box or the centre of mass; when
       ``spec.binary``, binarize by ordered dithering (each 4x4 cell keeps its ink
       coverage); average blocks down to ``spec.shape`` and scale to ``spec.max_value``.

    Raises :class:`ImageError` when no ink stands out of the paper.
    """
    img = _as_grey(grey)
    roomy = cleaning.roomy(img.shape, spec)
    if roomy and float(cleaning.noise_sigma(img)) > cleaning.NOISY:
        img = cleaning.smooth(img)
    q = (img * 255 + 0.5).astype(np.uint8)  # 8-bit levels for the statistics (np.rint is slow)
    hist = np.bincount(q.ravel(), minlength=256)
    if np.count_nonzero(hist) < 2:
        raise ImageError("no ink found: the image is uniform")
    t = int(threshold_otsu(hist=hist))  # the two classes: q <= t and q > t
    border = np.concatenate([q[0], q[-1], q[:, 0], q[:, -1]])
    inverted = bool(np.median(border) > t)  # light paper, dark ink: work on 255 - q
    if inverted:
        q, hist, t = 255 - q, hist[::-1], 254 - t

    paper = _quantile(hist[: t + 1], 0.5)
    # How far the paper strays from its level away from the ink (noise, JPEG ringing); as
    # much towards the ink is not ink either. Anti-aliased edges stray towards the ink only.
    away = hist[:paper][::-1]  # counts at 1, 2, ... levels below the paper
    spread = 1 + _quantile(away, 0.999) if away.any() else 0
    ink = t + 1 + _quantile(hist[t + 1 :], 0.9)
    if ink - paper < max(MIN_CONTRAST * 255, NOISE_MARGIN * spread):
        raise ImageError("no ink found: nothing stands out of the background")
    low = min(paper + max(spread, 2), t)

    weak = q > low
    if roomy:
        weak &= ~cleaning.ruled_lines(weak)
    mask = _ink_mask(weak, q > t)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    mask = mask[crop]
    bright = 1 - img[crop] if inverted else img[crop]
    digit = np.clip((bright * 255 - low) / (ink - low), 0.0, 1.0) * mask

    width = _stroke_width(mask & (q[crop] > t))
    if width < THIN * max(digit.shape) and (need := PEN * max(digit.shape) - width) >= 1:
        r = math.ceil(need / 2)
        digit = ndimage.maximum_filter(np.pad(digit, r), size=2 * r + 1)
    scale = spec.box / max(digit.shape)
    h, w = (max(1, round(n * scale)) for n in digit.shape)
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(digit.astype(np.float32)).resize((w, h), resample)
    small = np.asarray(resized, dtype=np.float64).clip(0.0, 1.0)

    size = spec.canvas
    if spec.center == "mass":
        total = small.sum()
        cy = small.sum(axis=1) @ np.arange(h) / total
        cx = small.sum(axis=0) @ np.arange(w) / total
        top = int(np.clip(round(size / 2 - cy), 0, size - h))
        left = int(np.clip(round(size / 2 - cx), 0, size - w))
    elif spec.center == "box":
        top, left = (size - h) // 2, (size - w) // 2
    else:
        raise ValueError(f"unknown ImageSpec.center {spec.center!r}")
    canvas = np.zeros((size, size))
    canvas[top : top + h, left : left + w] = small
    if spec.binary:
        canvas = (canvas > _dither_thresholds(size)).astype(np.float64)
    (out_h, out_w), (bh, bw) = spec.shape, (size // spec.shape[0], size // spec.shape[1])
    blocks = canvas[: out_h * bh, : out_w * bw].reshape(out_h, bh, out_w, bw)
    return np.round(blocks.mean(axis=(1, 3)) * spec.max_value)


def iter_image_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; folders expanded to their image files (by extension, sorted, not
    recursive, hidden files skipped). Raises :class:`ImageError` on a missing path or a
    folder without images."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            images = sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in IMAGE_EXTENSIONS
                and not f.name.startswith(".")
                and f.is_file()
            )
            if not images:
                kinds = " ".join(sorted(IMAGE_EXTENSIONS))
                raise ImageError(f"{p}: folder holds no image files ({kinds})")
            found += images
        elif p.exists():
            found.append(p)
        else:
            raise ImageError(f"{p}: no such file or folder")
    return found


def _to_grey(im: Image.Image) -> np.ndarray:
    """Grey levels in [0, 1] of a Pillow image: transparency composited, at most MAX_SIDE."""
    transparent = im.mode in _ALPHA_MODES or "transparency" in im.info
    if im.mode in _HIGH_DEPTH_MODES:
        im = im.convert("F")
    else:
        im = im.convert("RGBA").convert("LA") if transparent else im.convert("L")
    factor = math.ceil(max(im.size) / MAX_SIDE)
    if factor > 1:
        im = im.reduce(factor)  # box average; partial blocks at the edges average what is there
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":  # 16-bit or float: stretch to its own range
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.ones_like(a)
    if not transparent:
        return a / 255
    grey, alpha = a[..., 0] / 255, a[..., 1] / 255
    seen = alpha.sum()
    paper = 1.0 if seen == 0 or (grey * alpha).sum() / seen < 0.5 else 0.0
    return alpha * grey + (1 - alpha) * paper


def _as_grey(grey: np.ndarray) -> np.ndarray:
    img = np.asarray(grey)
    if img.dtype.kind not in "fb":
        raise ImageError(f"expected grey levels as floats in [0, 1], got {img.dtype}")
    if img.ndim != 2 or img.size == 0:
        raise ImageError(f"expected a non-empty 2-D grey image, got shape {img.shape}")
    img = img.astype(np.float64, copy=False)
    lo, hi = img.min(), img.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ImageError("the image holds NaN or infinite values")
    return img.clip(0.0, 1.0) if lo < 0 or hi > 1 else img


@functools.cache
def _dither_thresholds(size: int) -> np.ndarray:
    """The ordered-dither threshold of each pixel of a ``size`` x ``size`` canvas."""
    reps = math.ceil(size / len(_BAYER))
    thresholds = np.tile(_BAYER, (reps, reps))[:size, :size]
    thresholds.flags.writeable = False
    return thresholds


def _quantile(counts: np.ndarray, q: float) -> int:
    """The bin holding the ``q``-quantile of a histogram."""
    cum = np.cumsum(counts)
    return int(np.searchsorted(cum, q * cum[-1]))


def _ink_mask(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Blobs of ``weak`` that hold a ``strong`` pixel and are not specks."""
    labels, n = ndimage.label(weak, structure=_EIGHT)
    if n == 1:  # a clean drawing: nothing to sort out
        return weak
    area = np.bincount(labels.ravel(), minlength=n + 1)
    area[np.bincount(labels[strong], minlength=n + 1) == 0] = 0  # no strong pixel: noise
    area[0] = 0
    keep = area >= MIN_PART * area.max()
    keep[0] = False
    return keep.take(labels)


def _stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: area over half the outline (2 for 1-px lines)."""
    p = np.pad(mask, 1)
    inner = mask & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    area = int(np.count_nonzero(mask))
    return 2 * area / max(area - int(np.count_nonzero(inner)), 1)
