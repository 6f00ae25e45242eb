"""Predict digits in arbitrary pictures with a saved model (shared by the CLI and services)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import Pipeline

from digitrec.imaging import normalize
from digitrec.pipeline import image_spec


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
    """Label (and, when the model has ``predict_proba``, probabilities) for raw images."""
    labels = model.predict(batch)
    if not hasattr(model, "predict_proba"):
        return [Prediction(int(label), None, None) for label in labels]
    probabilities = model.predict_proba(batch)
    classes = [int(c) for c in model.classes_]
    return [
        Prediction(
            int(label),
            float(row[classes.index(int(label))]),
            {c: float(p) for c, p in zip(classes, row, strict=True)},
        )
        for label, row in zip(labels, probabilities, strict=True)
    ]
