"""Scores of a fitted model on labelled images: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics
from sklearn.pipeline import Pipeline

from digitrec.models import DigitDetector


@dataclass(frozen=True)
class Evaluation:
    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    class_names: list[str]
    precision_recall: dict[str, list[float]] | None = None


def _round(x: float) -> float:
    return round(float(x), 6)


def evaluate(model: Pipeline, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Measure ``model`` (raw image -> label) on raw ``images`` with true digit ``labels``.

    A multi-class model gets accuracy, balanced accuracy, macro precision/recall/F1 and
    per-class F1. A one-vs-rest :class:`~digitrec.models.DigitDetector` gets precision,
    recall and F1 of the positive digit, average precision and a precision-recall curve.
    """
    detector = model.steps[-1][1]
    y_pred = model.predict(images)
    if isinstance(detector, DigitDetector):
        return _evaluate_detector(model, detector, images, labels, y_pred)
    digits = np.arange(10)
    f1 = metrics.f1_score(labels, y_pred, labels=digits, average=None, zero_division=0)
    report = {
        "n_test": len(labels),
        "accuracy": _round(metrics.accuracy_score(labels, y_pred)),
        "balanced_accuracy": _round(metrics.balanced_accuracy_score(labels, y_pred)),
        "precision_macro": _round(
            metrics.precision_score(labels, y_pred, average="macro", zero_division=0)
        ),
        "recall_macro": _round(
            metrics.recall_score(labels, y_pred, average="macro", zero_division=0)
        ),
        "f1_macro": _round(metrics.f1_score(labels, y_pred, average="macro", zero_division=0)),
        "f1_per_class": {str(d): _round(v) for d, v in zip(digits, f1, strict=True)},
    }
    return Evaluation(report, np.asarray(labels), y_pred, [str(d) for d in digits])


def _evaluate_detector(model, detector, images, labels, y_pred) -> Evaluation:
    y_true = detector.binarize(labels)
    scores = model[:-1].transform(images)
    scores = detector.score_positive(scores)
    precision, recall, thresholds = metrics.precision_recall_curve(y_true, scores)
    digit = detector.positive_digit
    report = {
        "n_test": len(labels),
        "n_positive": int(y_true.sum()),
        "positive_digit": int(digit),
        "accuracy": _round(metrics.accuracy_score(y_true, y_pred)),
        "precision": _round(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": _round(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": _round(metrics.f1_score(y_true, y_pred, zero_division=0)),
        "average_precision": _round(metrics.average_precision_score(y_true, scores)),
    }
    curve = {
        "precision": [_round(v) for v in precision[:-1]],
        "recall": [_round(v) for v in recall[:-1]],
        "threshold": [_round(v) for v in thresholds],
    }
    return Evaluation(report, y_true, np.asarray(y_pred), [f"not {digit}", str(digit)], curve)


def confusion(evaluation: Evaluation) -> np.ndarray:
    """Counts: rows are true classes, columns predicted, in ``class_names`` order."""
    n = len(evaluation.class_names)
    return metrics.confusion_matrix(evaluation.y_true, evaluation.y_pred, labels=np.arange(n))
