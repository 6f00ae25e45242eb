"""An SVC that predicts with batched matrix products instead of libsvm's per-sample loop.

scikit-learn's :class:`~sklearn.svm.SVC` evaluates its decision function in libsvm, one
sample and one support vector at a time. :class:`BatchedSVC` fits exactly as ``SVC`` does
(it *is* an ``SVC``) and replaces only that evaluation: the kernel between a block of
samples and all support vectors is one matrix product (BLAS), and the one-vs-one decision
values are one small product per class. Its decision values equal libsvm's to rounding
(about 1e-12) and its labels are libsvm's vote, so predictions are identical to the
reference ``SVC``'s (tests/test_svm.py checks both; ``bench/svm.py`` measures the speed).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from sklearn.svm import SVC

# Rows of the kernel matrix computed at once: bounds memory (rows x support vectors).
BLOCK_ROWS = 512


class BatchedSVC(SVC):
    """:class:`sklearn.svm.SVC` with a batched, BLAS-backed decision function.

    Takes the same parameters and fits the same model. Dense input with the ``linear``,
    ``poly``, ``rbf`` or ``sigmoid`` kernel is evaluated here; anything else (sparse input,
    callable or precomputed kernels) falls back to libsvm.
    """

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        sv = self.support_vectors_
        # Squared norms of the support vectors, for the RBF kernel (dense fits only)
        self.support_sq_norms_ = None if self._sparse else np.einsum("ij,ij->i", sv, sv)
        return self

    def _batched(self) -> bool:
        return self.kernel in ("linear", "poly", "rbf", "sigmoid") and not self._sparse

    def _dense_decision_function(self, X):
        if not self._batched():
            return super()._dense_decision_function(X)
        return _ovo_decision(self, np.asarray(X, dtype=np.float64))

    def _dense_predict(self, X):
        if not self._batched():
            return super()._dense_predict(X)
        return _ovo_vote(_ovo_decision(self, np.asarray(X, dtype=np.float64)), len(self.classes_))

    def decision_function(self, X):
        # The one-vs-rest transform of the pairwise values, as SVC does it, vectorised.
        if self.decision_function_shape != "ovr" or len(self.classes_) < 3:
            return super().decision_function(X)
        dec = self._decision_function(X)
        return _ovr_from_ovo(dec < 0, -dec, len(self.classes_))


def _kernel(svc: SVC, X: np.ndarray, sv: np.ndarray, sv_sq: np.ndarray) -> np.ndarray:
    """The kernel matrix K[i, k] = k(X[i], sv[k]) as libsvm defines it."""
    dot = X @ sv.T
    if svc.kernel == "linear":
        return dot
    if svc.kernel == "rbf":
        sq = np.einsum("ij,ij->i", X, X)[:, None] + sv_sq[None, :] - 2.0 * dot
        np.maximum(sq, 0.0, out=sq)
        return np.exp(-svc._gamma * sq, out=sq)
    if svc.kernel == "poly":
        return (svc._gamma * dot + svc.coef0) ** svc.degree
    return np.tanh(svc._gamma * dot + svc.coef0)


def _ovo_decision(svc: SVC, X: np.ndarray) -> np.ndarray:
    """libsvm's one-vs-one decision values, shape (n_samples, n_pairs), pairs (i, j) with
    i < j in class order: sum of coef * kernel over both classes' support vectors, minus rho.
    """
    sv, sv_sq = svc.support_vectors_, svc.support_sq_norms_
    starts = np.concatenate([[0], np.cumsum(svc._n_support)])
    blocks = [slice(int(a), int(b)) for a, b in pairwise(starts)]
    coef = svc._dual_coef_  # (n_classes - 1, n_SV): libsvm's sv_coef
    n_classes = len(blocks)
    first, second = np.triu_indices(n_classes, k=1)  # the pairs (i, j), i < j, in order
    out = np.empty((len(X), len(first)))
    for start in range(0, len(X), BLOCK_ROWS):
        rows = slice(start, start + BLOCK_ROWS)
        K = _kernel(svc, X[rows], sv, sv_sq)
        # partial[:, c, m] = sum over class c's support vectors of coef[m] * K
        partial = np.stack([K[:, b] @ coef[:, b].T for b in blocks], axis=1)
        out[rows] = partial[:, first, second - 1] + partial[:, second, first]
    out += svc._intercept_  # libsvm's -rho
    return out


def _pair_matrices(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Indicator matrices (n_pairs, n_classes) of each pair's first and second class."""
    first, second = np.triu_indices(n_classes, k=1)
    eye = np.eye(n_classes)
    return eye[first], eye[second]


def _ovr_from_ovo(predictions: np.ndarray, confidences: np.ndarray, n_classes: int):
    """``sklearn.utils.multiclass._ovr_decision_function`` as two matrix products: votes
    plus the summed confidences squashed into (-1/3, 1/3)."""
    first, second = _pair_matrices(n_classes)
    votes = (predictions == 0) @ first + (predictions == 1) @ second
    confidence = confidences @ (second - first)
    return votes + confidence / (3 * (np.abs(confidence) + 1))


def _ovo_vote(dec: np.ndarray, n_classes: int) -> np.ndarray:
    """libsvm's vote: pair (i, j) votes i when its value is > 0, else j; the first class
    with the most votes wins. Returns class indices as floats, as libsvm.predict does."""
    first, second = _pair_matrices(n_classes)
    positive = dec > 0
    votes = positive @ first + ~positive @ second
    return np.argmax(votes, axis=1).astype(np.float64)
