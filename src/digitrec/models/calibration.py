"""Sigmoid-calibrated probabilities computed in one vectorised step.

scikit-learn's :class:`~sklearn.calibration.CalibratedClassifierCV` applies its per-class
sigmoid calibrators one at a time, each re-validating its input; on one image that
bookkeeping costs more than the classifier itself. :class:`BatchedCalibratedClassifierCV`
fits exactly as its parent does and, for the case digitrec uses (``method="sigmoid"``,
``ensemble=False``, several classes), computes the same probabilities with one array
expression. Every other case is the parent's code. tests/models/test_calibration.py checks the
results against the parent's.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.utils.validation import check_is_fitted

from digitrec.sklearn_compat import sigmoid_calibration


class BatchedCalibratedClassifierCV(CalibratedClassifierCV):
    """:class:`sklearn.calibration.CalibratedClassifierCV` with a vectorised sigmoid
    ``predict_proba``; same parameters, same fit, same probabilities."""

    def predict_proba(self, X):
        check_is_fitted(self)
        sigmoid = sigmoid_calibration(self)
        if sigmoid is None or len(self.classes_) < 3:
            return super().predict_proba(X)
        estimator, a, b = sigmoid
        if not np.array_equal(estimator.classes_, self.classes_):
            return super().predict_proba(X)
        scores = estimator.decision_function(X)  # (n_samples, n_classes), one-vs-rest
        proba = expit(-(a * scores + b))
        total = proba.sum(axis=1, keepdims=True)
        # All calibrators at exactly 0 (never in practice): the uniform distribution, as
        # the parent does.
        proba = np.divide(
            proba, total, out=np.full_like(proba, 1 / len(self.classes_)), where=total != 0
        )
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba
