"""Every private scikit-learn API that digitrec relies on, in one place.

digitrec's fast paths reach into scikit-learn where it offers no public hook: libsvm's
fitted model inside :class:`~sklearn.svm.SVC`, the methods ``SVC.predict`` calls, the
steps a :class:`~sklearn.pipeline.Pipeline` or :class:`~sklearn.pipeline.FeatureUnion`
iterates over, the sigmoid calibrators inside
:class:`~sklearn.calibration.CalibratedClassifierCV`, the output configuration of
``set_output`` and the base class of the model-selection searches. Each is a function or
class here, named for what it gives. ``tests/test_sklearn_compat.py`` checks every one
against the installed scikit-learn, so an upgrade that changes one fails there, by name,
instead of somewhere in a fast path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import SVC
from sklearn.utils._set_output import _get_output_config

__all__ = [
    "BaseSearchCV",
    "SVCPredictHooks",
    "dense_output_config",
    "final_step",
    "libsvm_model",
    "pipeline_transforms",
    "sigmoid_calibration",
    "union_parts",
    "union_stack",
]

# --- SVC ----------------------------------------------------------------------------------


class LibsvmModel:
    """libsvm's fitted model as :class:`~sklearn.svm.SVC` keeps it (private attributes).

    Attributes:
        gamma: the kernel coefficient as a number (``"scale"`` and ``"auto"`` resolved).
        n_support: support vectors per class, in class order (rows of
            ``support_vectors_`` are grouped by class).
        dual_coef: libsvm's ``sv_coef``, shape (n_classes - 1, n_SV), in libsvm's sign
            convention (scikit-learn's public ``dual_coef_`` flips it for two classes).
        intercept: libsvm's ``-rho``, one per one-vs-one pair (public ``intercept_``
            flips it for two classes).
        sparse: whether the model was fitted on sparse input.
    """

    __slots__ = ("dual_coef", "gamma", "intercept", "n_support", "sparse")

    def __init__(self, svc: SVC):
        self.gamma: float = svc._gamma
        self.n_support: np.ndarray = svc._n_support
        self.dual_coef: np.ndarray = svc._dual_coef_
        self.intercept: np.ndarray = svc._intercept_
        self.sparse: bool = svc._sparse


def libsvm_model(svc: SVC) -> LibsvmModel:
    """The fitted libsvm model inside ``svc``."""
    return LibsvmModel(svc)


class SVCPredictHooks(SVC):
    """An :class:`~sklearn.svm.SVC` whose predict path calls methods a subclass may
    replace, each defaulting to scikit-learn's own:

    - ``check_predict_input(X)``: validate ``X`` (``SVC._validate_for_predict``), which
      ``predict``, ``decision_function`` and the others call first;
    - ``dense_decision_values(X)``: the one-vs-one decision values of validated dense
      input (``SVC._dense_decision_function``);
    - ``dense_labels(X)``: the labels of validated dense input, as class indices
      (``SVC._dense_predict``).

    ``ovo_decision_values(X)`` and ``sparse_decision_values(X)`` give scikit-learn's own
    one-vs-one values, validated and for sparse input.
    """

    def _validate_for_predict(self, X):
        return self.check_predict_input(X)

    def _dense_decision_function(self, X):
        return self.dense_decision_values(X)

    def _dense_predict(self, X):
        return self.dense_labels(X)

    def check_predict_input(self, X):
        return SVC._validate_for_predict(self, X)

    def dense_decision_values(self, X):
        return SVC._dense_decision_function(self, X)

    def dense_labels(self, X):
        return SVC._dense_predict(self, X)

    def sparse_decision_values(self, X):
        return self._sparse_decision_function(X)

    def ovo_decision_values(self, X):
        return self._decision_function(X)


# --- Pipeline and FeatureUnion ------------------------------------------------------------


def pipeline_transforms(pipeline: Pipeline) -> list[Any]:
    """The transforms a fitted pipeline applies before its last step, in order
    (``"passthrough"`` and ``None`` steps left out)."""
    return [transform for _, _, transform in pipeline._iter(with_final=False)]


def final_step(pipeline: Pipeline) -> Any:
    """The pipeline's last step (``"passthrough"`` when it has none)."""
    return pipeline._final_estimator


def union_parts(union: FeatureUnion) -> list[tuple[Any, float | None]]:
    """The union's active transformers and their weights, in order (dropped ones left
    out)."""
    return [(transformer, weight) for _, transformer, weight in union._iter()]


def union_stack(union: FeatureUnion, parts: list[Any]) -> Any:
    """The union's own joining of its parts' outputs (dense, sparse or dataframes)."""
    return union._hstack(parts)


def dense_output_config(estimator: Any, method: str = "transform") -> str:
    """What ``set_output`` asks ``method`` to return for dense data: ``"default"``
    (arrays), ``"pandas"`` or ``"polars"``."""
    return _get_output_config(method, estimator)["dense"]


# --- CalibratedClassifierCV ---------------------------------------------------------------


def sigmoid_calibration(calibrated: Any) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """For a fitted ``CalibratedClassifierCV(method="sigmoid", ensemble=False)``: the
    classifier fitted on all the data and the sigmoid coefficients of each class, ``a`` and
    ``b`` (the probability is ``expit(-(a * score + b))``, then normalised). None for any
    other configuration (several calibrated classifiers, or no sigmoid calibrators)."""
    classifiers = getattr(calibrated, "calibrated_classifiers_", None)
    if calibrated.method != "sigmoid" or not classifiers or len(classifiers) != 1:
        return None
    (one,) = classifiers
    a = np.array([c.a_ for c in one.calibrators])
    b = np.array([c.b_ for c in one.calibrators])
    return one.estimator, a, b
