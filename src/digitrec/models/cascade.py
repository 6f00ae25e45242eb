"""A cascade of two SVCs: a small one labels the samples it is clear about, a large one the rest.

The virtual SV method (:mod:`digitrec.models.virtual`) trains two SVMs: a first one on the
training set, whose support vectors are then shifted to train the final one. The final
SVM is the more accurate, but it has several times the support vectors, and an RBF SVM's
prediction costs one kernel evaluation per support vector. Most digits are not close
calls: where the first SVM's vote is won by a class that beats every other class by at
least ``margin`` in its one-vs-one decision values (``margin=1`` is the SVM's own margin),
:class:`SVCCascade` takes that label, and only the remaining samples go to the final SVM.

The cascade is a model of its own, with its own accuracy: ``studies/cascade.py`` measures,
on a validation split of the training data, how often it departs from the final SVM and
how many samples reach the final SVM, for a range of margins.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy import sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_array, check_is_fitted


class SVCCascade(ClassifierMixin, BaseEstimator):
    """Predict with ``first`` where its vote is clear by ``margin``, else with ``second``.

    Parameters
    ----------
    first : BatchedSVC
        The fast classifier; a sample gets its label when one class wins each of its
        one-vs-one duels by at least ``margin`` (:meth:`BatchedSVC.clear_winners`).
    second : classifier
        Labels every other sample.
    margin : float, default=1.0
        Positive; larger sends more samples to ``second``.
    first_features : int or None, default=None
        ``first`` sees only the first this many columns of ``X`` (with PCA features, the
        leading components): a smaller ``first`` that reads less per sample. None: all.

    ``fit`` fits clones of both on the same data. To cascade classifiers fitted on
    different data (as the virtual SV method does), wrap them in
    :class:`sklearn.frozen.FrozenEstimator`.
    """

    def __init__(
        self,
        first: BaseEstimator,
        second: BaseEstimator,
        margin: float = 1.0,
        first_features: int | None = None,
    ):
        self.first = first
        self.second = second
        self.margin = margin
        self.first_features = first_features

    def fit(self, X, y):
        margin = self.margin
        if isinstance(margin, bool) or not (isinstance(margin, Real) and margin > 0):
            raise ValueError(f"margin must be a positive number, got {margin!r}")
        k = self.first_features
        if k is not None and not (isinstance(k, Integral) and 1 <= k <= np.shape(X)[1]):
            raise ValueError(
                f"first_features must be None or an integer from 1 to the {np.shape(X)[1]} "
                f"features, got {k!r}"
            )
        first = clone(self.first).fit(_columns(X, k), y)
        if not hasattr(first, "clear_winners"):
            raise TypeError(f"first must be a BatchedSVC, got {type(first).__name__}")
        second = clone(self.second).fit(X, y)
        if not np.array_equal(first.classes_, second.classes_):
            raise ValueError(
                f"first and second must have the same classes, got {first.classes_} "
                f"and {second.classes_}"
            )
        self.first_: BaseEstimator = first
        self.second_: BaseEstimator = second
        self.classes_: np.ndarray = first.classes_
        return self

    def _routes(self, X):
        """``X`` validated, and the class indices from ``first`` (-1: left to ``second``)."""
        if not hasattr(self, "first_"):
            check_is_fitted(self)  # raises NotFittedError
        if not (type(X) is np.ndarray or sp.issparse(X)):  # the SVCs check arrays themselves
            X = check_array(X, accept_sparse="csr")
        return X, self.first_.clear_winners(_columns(X, self.first_features), self.margin)

    def predict(self, X):
        X, winners = self._routes(X)
        return self._labels(winners, lambda rows: X[rows])

    def predict_through(self, projection, X):
        """``predict(projection.transform(X))``, projecting only what each sample needs.

        With ``first_features`` set and a ``projection`` that can compute leading columns
        alone (``transform_leading``, as :class:`digitrec.transforms.features.PCA` can), ``first``
        gets those columns and only the samples it leaves to ``second`` are projected in
        full. In a pipeline whose PCA step comes right before the cascade,
        :class:`digitrec.pipeline.DigitPipeline` predicts this way: for one MNIST image, a
        fifth of the PCA's components is read instead of all of them.

        The leading columns are the same arithmetic on fewer components, which BLAS may
        round differently by an ulp: a sample could route differently only if one of its
        one-vs-one values lies within that rounding of ``margin``.
        """
        k = self.first_features
        if k is None or not hasattr(projection, "transform_leading") or type(X) is not np.ndarray:
            return self.predict(projection.transform(X))
        if not hasattr(self, "first_"):
            check_is_fitted(self)  # raises NotFittedError
        winners = self.first_.clear_winners(projection.transform_leading(X, k), self.margin)
        return self._labels(winners, lambda rows: projection.transform(X[rows]))

    def _labels(self, winners, second_input):
        """Labels from ``first``'s clear winners; ``second`` labels the rest, given
        ``second_input(rows)``, its input for those rows."""
        labels = self.classes_[np.maximum(winners, 0)]
        rest = winners < 0
        if rest.any():
            labels[rest] = self.second_.predict(second_input(rest))
        return labels

    def decision_function(self, X):
        """Scores of whichever classifier labels each sample (both must have the same
        kind of ``decision_function``, such as two SVCs' one-vs-rest votes)."""
        X, winners = self._routes(X)
        rest = winners < 0
        scores = None
        first = _columns(X, self.first_features)
        for x, rows, model in ((first, ~rest, self.first_), (X, rest, self.second_)):
            if rows.any():
                part = model.decision_function(x[rows])
                if scores is None:
                    scores = np.empty((len(winners), *part.shape[1:]), dtype=part.dtype)
                scores[rows] = part
        return scores

    def routed_to_second(self, X) -> np.ndarray:
        """Whether each sample is labelled by ``second``."""
        return self._routes(X)[1] < 0


def _columns(X, k: int | None):
    return X if k is None else X[:, :k]
