"""PNG figures for the evaluate stage: a confusion matrix and a gallery of mistakes.

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

__all__ = ["save_confusion_matrix_png", "save_misclassified_png"]

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
