"""PNG figures for the evaluate stage (a confusion matrix and a gallery of mistakes) and the
robustness stage (accuracy bars and a gallery of corrupted images).

Rendering uses matplotlib's object-oriented API (``Figure`` + the Agg canvas), never
pyplot, so no global figure state or GUI backend is touched. Every image is written
atomically (temporary sibling, then rename) and is byte-deterministic: the same inputs
give the same PNG bytes (fixed size and dpi, pinned style, no "Software" metadata).
All inputs are validated before anything is drawn, so a bad call raises ``ValueError``
and leaves ``path`` untouched.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from digitrec.io import atomic_path

__all__ = [
    "save_accuracy_bars_png",
    "save_confusion_matrix_png",
    "save_gallery_png",
    "save_misclassified_png",
]

DPI = 100
# Pinned so that a user's matplotlibrc or style cannot change the output.
_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib; has the "→" glyph
    "font.size": 10.0,
    "axes.unicode_minus": True,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "image.interpolation": "nearest",
}


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    FigureCanvasAgg(fig)  # attaches the Agg canvas to ``fig``
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})


def save_confusion_matrix_png(
    cm: np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "Confusion matrix",
) -> None:
    """Draw ``cm`` (rows: true class, columns: predicted class) with a count in each cell."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"confusion matrix must be square and non-empty, got shape {cm.shape}")
    if len(labels) != cm.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {cm.shape[0]}x{cm.shape[0]} matrix")
    if not np.issubdtype(cm.dtype, np.number) or not np.all(np.isfinite(cm)):
        raise ValueError("confusion matrix must hold finite numbers")
    labels = [str(label) for label in labels]
    n = cm.shape[0]
    side = max(4.0, 0.55 * n + 2.5)
    cell_font = max(5.0, min(11.0, 110.0 / n))
    integral = np.issubdtype(cm.dtype, np.integer) or bool(np.all(cm == np.round(cm)))

    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(side + 1.0, side), dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        vmax = float(cm.max()) if cm.max() > 0 else 1.0
        image = ax.imshow(cm, cmap="Blues", vmin=0.0, vmax=vmax)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        for i in range(n):
            for j in range(n):
                value = cm[i, j]
                text = f"{int(value)}" if integral else f"{value:.2g}"
                colour = "white" if value > vmax / 2 else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=cell_font)
        ax.set_xticks(range(n), labels)
        ax.set_yticks(range(n), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        _save(fig, path)


def save_misclassified_png(
    images: np.ndarray,
    true: Sequence,
    predicted: Sequence,
    path: str | os.PathLike[str],
    max_images: int = 64,
) -> None:
    """Draw up to ``max_images`` images of shape (h, w) in a grid, each titled "true→predicted".

    Images are shown with dark ink on white (raw images have bright ink on 0). With no
    images at all, a small PNG saying "no misclassified images" is written instead.
    """
    images = np.asarray(images)
    if len(true) != len(predicted) or len(images) != len(true):
        raise ValueError(
            f"lengths differ: {len(images)} images, {len(true)} true, "
            f"{len(predicted)} predicted labels"
        )
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    count = len(images)
    if count and images.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w), got {images.shape}")
    if count and (not np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_):
        images = images.astype(np.float64)

    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        if count == 0:
            fig = Figure(figsize=(4.0, 1.0), dpi=DPI)
            fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center", fontsize=12)
            _save(fig, path)
            return

        shown = min(count, max_images)
        cols = min(8, shown)
        rows = math.ceil(shown / cols)
        vmin = min(0.0, float(images[:shown].min()))
        vmax = float(images[:shown].max())
        if vmax <= vmin:
            vmax = vmin + 1.0
        width = max(1.2 * cols, 4.0)  # room for the title
        fig = Figure(figsize=(width, 1.3 * rows + 0.5), dpi=DPI, layout="constrained")
        fig.suptitle(f"misclassified (true→predicted): {shown} of {count} shown")
        axes = fig.subplots(rows, cols, squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if k < shown:
                ax.imshow(images[k], cmap="gray_r", vmin=vmin, vmax=vmax)
                ax.set_title(f"{true[k]}→{predicted[k]}", fontsize=10)
        _save(fig, path)


def save_accuracy_bars_png(
    names: Sequence[str],
    accuracy: dict[str, Sequence[float]],
    path: str | os.PathLike[str],
    title: str = "Accuracy",
) -> None:
    """Horizontal bars: one group per name (top to bottom), one bar per series of
    ``accuracy`` (series name -> one accuracy in [0, 1] per name), each labelled."""
    if not names or not accuracy:
        raise ValueError("nothing to draw: no names or no series")
    for series, values in accuracy.items():
        if len(values) != len(names):
            raise ValueError(f"series {series!r} has {len(values)} values for {len(names)} names")
    n, k = len(names), len(accuracy)
    height = 0.8 / k
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(figsize=(7.0, 0.3 * n * k + 1.5), dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        rows = np.arange(n)
        for j, (series, values) in enumerate(accuracy.items()):
            y = rows - 0.4 + height * (j + 0.5)
            bars = ax.barh(y, values, height=height, label=series)
            ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2, fontsize=7)
        ax.set_yticks(rows, [str(name) for name in names])
        ax.invert_yaxis()
        ax.set_xlim(0.0, 1.12)
        ax.set_xlabel("accuracy")
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=8)
        _save(fig, path)


def save_gallery_png(
    rows: Sequence[tuple[str, np.ndarray, Sequence[str], Sequence[bool]]],
    path: str | os.PathLike[str],
    title: str = "",
    vmax: float | None = None,
) -> None:
    """A grid of images: one row per ``(label, images, captions, wrong)``, each image shown
    dark on white with its caption above, in red where ``wrong``. Every row holds the same
    number of images; ``vmax`` is full ink (default: the largest value shown)."""
    if not rows:
        raise ValueError("nothing to draw: no rows")
    cols = len(rows[0][1])
    for label, images, captions, wrong in rows:
        images = np.asarray(images)
        if images.ndim != 3 or len(images) != cols or len(captions) != cols or len(wrong) != cols:
            raise ValueError(
                f"row {label!r}: expected {cols} images (n, h, w), captions and flags, got "
                f"images {images.shape}, {len(captions)} captions, {len(wrong)} flags"
            )
    if cols == 0:
        raise ValueError("nothing to draw: rows hold no images")
    top = vmax if vmax is not None else max(float(np.max(r[1])) for r in rows) or 1.0
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        fig = Figure(
            figsize=(1.6 + 0.9 * cols, 1.0 * len(rows) + 0.6), dpi=DPI, layout="constrained"
        )
        if title:
            fig.suptitle(title, fontsize=9)
        axes = fig.subplots(len(rows), cols, squeeze=False)
        for (label, images, captions, wrong), line in zip(rows, axes, strict=True):
            for ax, image, caption, bad in zip(line, images, captions, wrong, strict=True):
                ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=top)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(caption, fontsize=8, color="red" if bad else "black")
            line[0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
        _save(fig, path)
