"""Build and fit the classifier a pipeline ends with, from its validated params.

The classifiers are listed in :data:`digitrec.params.CLASSIFIERS`; the builders of the
built-in ones are the ``build_*`` functions here (named there, imported only to build).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from digitrec.models.calibration import BatchedCalibratedClassifierCV
from digitrec.models.svm import BatchedSVC
from digitrec.models.virtual import fit_with_virtual_svs
from digitrec.params import CLASSIFIERS, TrainParams


def build_svc(p, seed):
    # libsvm's fit; predictions from batched matrix products (identical, much faster)
    svc = BatchedSVC(C=p.C, kernel=p.kernel, gamma=p.gamma, degree=p.degree, coef0=p.coef0)
    if not p.calibrate:
        return svc
    # One SVC fitted on all the data; sigmoid calibrators fitted on 5-fold out-of-fold
    # scores. Labels are the argmax of the calibrated probabilities, so they always agree.
    return BatchedCalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)


# The other builders pass every field of their params model to the estimator by name: the
# params model is the one list of a classifier's hyperparameters.
def build_linear_svc(p, seed):
    return LinearSVC(**p.model_dump(), random_state=seed)


def build_logreg(p, seed):
    return LogisticRegression(**p.model_dump(), random_state=seed)


def build_knn(p, seed):
    return KNeighborsClassifier(**p.model_dump())


def build_random_forest(p, seed):
    return RandomForestClassifier(**p.model_dump(), random_state=seed, n_jobs=-1)


def build_extra_trees(p, seed):
    return ExtraTreesClassifier(**p.model_dump(), random_state=seed, n_jobs=-1)


def build_hist_gb(p, seed):
    return HistGradientBoostingClassifier(**p.model_dump(), random_state=seed)


def build_mlp(p, seed):
    layers = tuple(p.hidden_layer_sizes)
    return MLPClassifier(**p.model_dump() | {"hidden_layer_sizes": layers}, random_state=seed)


def _wrapped_has(attr: str):
    """True when the wrapped (fitted, else unfitted) estimator has ``attr``."""
    return lambda self: hasattr(getattr(self, "estimator_", self.estimator), attr)


class DigitDetector(ClassifierMixin, BaseEstimator):
    """One-vs-rest: answers "is this image the digit ``positive_digit``?" (classes 0/1).

    Wraps any classifier; labels are binarised in ``fit``, so the fitted model predicts
    1 for ``positive_digit`` and 0 for every other digit.
    """

    def __init__(self, estimator: BaseEstimator, positive_digit: int):
        self.estimator = estimator
        self.positive_digit = positive_digit

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, self.binarize(y))
        self.classes_ = self.estimator_.classes_
        return self

    def binarize(self, y) -> np.ndarray:
        return (np.asarray(y) == self.positive_digit).astype(np.int64)

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_wrapped_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_wrapped_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def score_positive(self, X) -> np.ndarray:
        """A score that grows with confidence in the positive class (for PR curves)."""
        check_is_fitted(self)
        if hasattr(self.estimator_, "decision_function"):
            return self.estimator_.decision_function(X)
        return self.estimator_.predict_proba(X)[:, 1]


def build_classifier(params: TrainParams, seed: int) -> BaseEstimator:
    """The unfitted classifier ``params`` describe; every random state comes from ``seed``."""
    classifier = CLASSIFIERS[params.model].build(params.model_params, seed)
    if params.positive_digit is not None:
        classifier = DigitDetector(classifier, params.positive_digit)
    return classifier


def fit_classifier(
    params: TrainParams, seed: int, features, labels, images=None, featurizer=None
) -> BaseEstimator:
    """Build and fit the classifier ``params`` describe on training ``features``.

    With virtual support vectors (``svc.virtual_shift``, ``virtual_rotate``,
    ``virtual_scale`` or ``virtual_thickness``), also needs the preprocessed
    training ``images`` the features came from and the fitted ``featurizer``.
    """
    classifier = build_classifier(params, seed)
    if not (params.model == "svc" and params.svc.virtual):
        return classifier.fit(features, labels)
    if images is None or featurizer is None:
        raise ValueError("virtual support vectors need the training images and featurizer")
    uncalibrated = params.svc.model_copy(update={"calibrate": False})
    probe = build_classifier(params.model_copy(update={"svc": uncalibrated}), seed)
    return fit_with_virtual_svs(
        classifier,
        probe,
        np.asarray(images),
        features,
        np.asarray(labels),
        featurizer,
        pixels=params.svc.virtual_shift,
        directions=params.svc.virtual_directions,
        rotate=params.svc.virtual_rotate,
        scale=params.svc.virtual_scale,
        thickness=params.svc.virtual_thickness,
        cascade_margin=params.svc.cascade_margin,
        cascade_features=params.svc.cascade_features,
    )


def learning_curve(classifier: BaseEstimator) -> dict[str, list[float | None]]:
    """Per-iteration training loss and validation score of an iterative model (MLP,
    gradient boosting); empty columns for other models."""
    fitted = getattr(classifier, "estimator_", classifier)
    loss: list[float] = []
    validation_loss: list[float] = []
    validation_accuracy: list[float] = []
    if isinstance(fitted, MLPClassifier):
        loss = fitted.loss_curve_
        validation_accuracy = fitted.validation_scores_ or []
    elif isinstance(fitted, HistGradientBoostingClassifier):
        loss = -fitted.train_score_  # scoring="loss" records the negative log-loss
        validation_loss = -fitted.validation_score_
    n = len(loss)
    return {
        "iteration": list(range(1, n + 1)),
        "train_loss": [float(v) for v in loss],
        "validation_loss": [float(v) for v in validation_loss] or [None] * n,
        "validation_accuracy": [float(v) for v in validation_accuracy] or [None] * n,
    }
