"""Predict digits in arbitrary pictures with a saved model (shared by the CLI and services)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline

from digitrec.pipeline import image_spec
from digitrec.transforms.imaging import normalize


@dataclass(frozen=True)
class Prediction:
    label: int
    probability: float | None
    probabilities: dict[int, float] | None


def prepare(model: Pipeline, grey: np.ndarray) -> np.ndarray:
    """Bring one grey picture (any size or polarity, values in [0, 1]) to the raw format
    the model was trained on, exactly as training images look."""
    return normalize(grey, image_spec(model))


def predict(model: Pipeline, batch: np.ndarray) -> list[Prediction]:
    """Label (and, when the model gives probabilities, probabilities) for raw images.

    Runs the pipeline once: with probabilities the label is their argmax, which is what
    ``predict`` returns for every classifier in :mod:`digitrec.models.registry`.
    """
    try:
        probabilities = model.predict_proba(batch)
    except AttributeError:  # no probabilities (e.g. LinearSVC, DigitDetector over an SVC)
        return [Prediction(int(label), None, None) for label in model.predict(batch)]
    classes = [int(c) for c in model.classes_]
    return [
        Prediction(
            classes[int(i)],
            float(row[i]),
            {c: float(p) for c, p in zip(classes, row, strict=True)},
        )
        for i, row in zip(probabilities.argmax(axis=1), probabilities, strict=True)
    ]
