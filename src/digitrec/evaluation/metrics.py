"""Scores of a fitted model on labelled images: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics
from sklearn.pipeline import Pipeline

from digitrec.models.registry import DigitDetector


@dataclass(frozen=True)
class Evaluation:
    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    class_names: list[str]
    precision_recall: dict[str, list[float]]


def _round(x: float) -> float:
    return round(float(x), 6)


def _scores(model: Pipeline, images: np.ndarray) -> np.ndarray:
    """Per-class confidence scores (probabilities when the model has them)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(images)
    return model.decision_function(images)


def _curve(y_true: np.ndarray, scores: np.ndarray, max_points: int = 200) -> dict:
    """A precision-recall curve thinned to at most ``max_points`` (kept small enough to
    commit and diff; the area is computed on the full curve)."""
    precision, recall, _ = metrics.precision_recall_curve(y_true, scores)
    keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), max_points)).round())
    keep = keep.astype(int)
    return {
        "recall": [_round(v) for v in recall[keep]],
        "precision": [_round(v) for v in precision[keep]],
    }


def evaluate(model: Pipeline, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Measure ``model`` (raw image -> label) on raw ``images`` with true digit ``labels``.

    A multi-class model gets accuracy, balanced accuracy, macro precision/recall/F1 and
    per-class F1. A one-vs-rest :class:`~digitrec.models.registry.DigitDetector` gets precision,
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
    # Micro-averaged over the ten one-vs-rest problems.
    onehot = (np.asarray(labels)[:, None] == model.classes_[None, :]).ravel()
    scores = _scores(model, images).ravel()
    report["average_precision_micro"] = _round(metrics.average_precision_score(onehot, scores))
    curve = _curve(onehot, scores)
    return Evaluation(report, np.asarray(labels), y_pred, [str(d) for d in digits], curve)


def _evaluate_detector(model, detector, images, labels, y_pred) -> Evaluation:
    y_true = detector.binarize(labels)
    scores = detector.score_positive(model[:-1].transform(images))
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
    names = [f"not {digit}", str(digit)]
    return Evaluation(report, y_true, np.asarray(y_pred), names, _curve(y_true, scores))


def confusion(evaluation: Evaluation) -> np.ndarray:
    """Counts: rows are true classes, columns predicted, in ``class_names`` order."""
    n = len(evaluation.class_names)
    return metrics.confusion_matrix(evaluation.y_true, evaluation.y_pred, labels=np.arange(n))
