"""An SVC that predicts with batched matrix products instead of libsvm's per-sample loop.

scikit-learn's :class:`~sklearn.svm.SVC` evaluates its decision function in libsvm, one
sample and one support vector at a time. :class:`BatchedSVC` fits exactly as ``SVC`` does
(it *is* an ``SVC``) and replaces only that evaluation: the kernel between a block of
samples and all support vectors is one matrix product (BLAS), and the one-vs-one decision
values are one small product per class. Its decision values equal libsvm's to rounding
(about 1e-12) and its labels are libsvm's vote, so predictions are identical to the
reference ``SVC``'s (tests/models/test_svm.py checks both; ``bench/predict.py`` measures the speed).

Labels of an RBF model are screened in single precision first (half the memory traffic,
twice the arithmetic rate) with a proven bound on each decision value's rounding error;
only samples whose vote could change within that bound are decided again in double
precision. See :func:`_screened_labels`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from itertools import accumulate, pairwise
from typing import NamedTuple

import numpy as np
from sklearn.svm import SVC
from threadpoolctl import ThreadpoolController, threadpool_limits

from digitrec.derived import KeepsDerived
from digitrec.sklearn_compat import SVCPredictHooks, libsvm_model

# Rows of the kernel matrix computed at once: bounds memory (rows x support vectors).
BLOCK_ROWS = 512
# Kernel entries per block in single precision (32 MB), so the block stays near the cache.
SCREEN_BLOCK = 1 << 23
# Multiply-adds of the kernel product (rows x support vectors x features) below which
# deciding in double precision directly is faster than screening: the screen's extra work
# pays only on large products (one MNIST image against tens of thousands of support
# vectors gains, one digits image against a few hundred loses).
SCREEN_MIN_WORK = 1 << 20
UNIT_ROUNDOFF_32 = float(np.finfo(np.float32).eps) / 2


class BatchedSVC(KeepsDerived, SVCPredictHooks):
    """:class:`sklearn.svm.SVC` with a batched, BLAS-backed decision function.

    Takes the same parameters and fits the same model. Dense input with the ``linear``,
    ``poly``, ``rbf`` or ``sigmoid`` kernel is evaluated here; anything else (sparse input,
    callable or precomputed kernels) falls back to libsvm.
    """

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        sv = self.support_vectors_
        # Squared norms of the support vectors, for the RBF kernel (dense fits only)
        dense = not libsvm_model(self).sparse
        self.support_sq_norms_ = np.einsum("ij,ij->i", sv, sv) if dense else None
        return self

    def _batched(self) -> bool:
        return self.kernel in ("linear", "poly", "rbf", "sigmoid") and not libsvm_model(self).sparse

    def check_predict_input(self, X):
        # The common case checked cheaply (scikit-learn's per-call checks cost about as much
        # as predicting one image with a small model):
        # a finite float64 array of the fitted width, from a model fitted without names.
        if (
            type(X) is np.ndarray
            and X.dtype == np.float64
            and X.ndim == 2
            and len(X)
            and hasattr(self, "support_vectors_")  # fitted (else scikit-learn says so)
            and self._batched()
            and not hasattr(self, "feature_names_in_")
            and X.shape[1] == self.shape_fit_[1]
            and np.isfinite(X).all()
        ):
            return np.ascontiguousarray(X)
        return super().check_predict_input(X)

    def dense_decision_values(self, X):
        if not self._batched():
            return super().dense_decision_values(X)
        return _ovo_decision(self, np.asarray(X, dtype=np.float64))

    def dense_labels(self, X):
        if not self._batched():
            return super().dense_labels(X)
        X = np.asarray(X, dtype=np.float64)
        if self._screens(X):
            return _screened_labels(self, X)
        return _ovo_vote(_ovo_decision(self, X), len(self.classes_))

    def _screens(self, X: np.ndarray) -> bool:
        """Whether to screen ``X`` in single precision first (RBF, and enough work)."""
        return self.kernel == "rbf" and X.size * len(self.support_vectors_) >= SCREEN_MIN_WORK

    def clear_winners(self, X, margin: float) -> np.ndarray:
        """For each sample, the index (into ``classes_``) of the class that wins every one
        of its one-vs-one duels by at least ``margin`` (> 0) in libsvm's decision values,
        or -1 where no class does. Such a class is the vote's winner, with every vote.
        """
        if not margin > 0:
            raise ValueError(f"margin must be a positive number, got {margin!r}")
        X = self.check_predict_input(X)
        if self._batched():
            X = np.asarray(X, dtype=np.float64)
            if self._screens(X):
                return _screened(self, X, partial(_margin_block, margin=margin))
            dec = _ovo_decision(self, X)
        elif libsvm_model(self).sparse:
            dec = self.sparse_decision_values(X)
        else:
            dec = super().dense_decision_values(X)
        return _clear_winners(dec, margin, len(self.classes_))

    def decision_function(self, X):
        # The one-vs-rest transform of the pairwise values, as SVC does it, vectorised.
        if self.decision_function_shape != "ovr" or len(self.classes_) < 3:
            return super().decision_function(X)
        dec = self.ovo_decision_values(X)
        return _ovr_from_ovo(dec < 0, -dec, len(self.classes_))


def _kernel(svc: SVC, X: np.ndarray, sv: np.ndarray, sv_sq: np.ndarray) -> np.ndarray:
    """The kernel matrix K[i, k] = k(X[i], sv[k]) as libsvm defines it."""
    dot = X @ sv.T
    gamma = libsvm_model(svc).gamma
    if svc.kernel == "linear":
        return dot
    if svc.kernel == "rbf":  # exp(-gamma (|x|^2 + |s|^2 - 2 x.s)), in place
        sq = np.add(np.einsum("ij,ij->i", X, X)[:, None], sv_sq[None, :])
        dot *= 2.0
        sq -= dot
        np.maximum(sq, 0.0, out=sq)
        sq *= -gamma
        return np.exp(sq, out=sq)
    if svc.kernel == "poly":
        return (gamma * dot + svc.coef0) ** svc.degree
    return np.tanh(gamma * dot + svc.coef0)


def _class_blocks(svc: SVC) -> tuple[slice, ...]:
    """Each class's support vectors: consecutive rows of ``support_vectors_``."""
    return _blocks(tuple(libsvm_model(svc).n_support.tolist()))


@cache
def _blocks(counts: tuple[int, ...]) -> tuple[slice, ...]:
    starts = [0, *accumulate(counts)]
    return tuple(slice(a, b) for a, b in pairwise(starts))


@cache
def _pairs(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The one-vs-one pairs (i, j), i < j, in libsvm's order: two index arrays."""
    first, second = np.triu_indices(n_classes, k=1)
    first.flags.writeable = second.flags.writeable = False  # shared by every call
    return first, second


def _ovo_decision(svc: SVC, X: np.ndarray) -> np.ndarray:
    """libsvm's one-vs-one decision values, shape (n_samples, n_pairs), pairs (i, j) with
    i < j in class order: sum of coef * kernel over both classes' support vectors, minus rho.
    """
    sv, sv_sq = svc.support_vectors_, svc.support_sq_norms_
    blocks = _class_blocks(svc)
    model = libsvm_model(svc)
    coef = model.dual_coef  # (n_classes - 1, n_SV): libsvm's sv_coef
    n_classes = len(blocks)
    first, second = _pairs(n_classes)
    out = np.empty((len(X), len(first)))
    for start in range(0, len(X), BLOCK_ROWS):
        rows = slice(start, start + BLOCK_ROWS)
        K = _kernel(svc, X[rows], sv, sv_sq)
        # partial[:, c, m] = sum over class c's support vectors of coef[m] * K
        partial = np.stack([K[:, b] @ coef[:, b].T for b in blocks], axis=1)
        out[rows] = partial[:, first, second - 1] + partial[:, second, first]
    out += model.intercept  # libsvm's -rho
    return out


@cache
def _pair_matrices(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Indicator matrices (n_pairs, n_classes) of each pair's first and second class."""
    first, second = _pairs(n_classes)
    eye = np.eye(n_classes)
    first, second = eye[first], eye[second]
    first.flags.writeable = second.flags.writeable = False  # shared by every call
    return first, second


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


def _screened_labels(svc: SVC, X: np.ndarray) -> np.ndarray:
    """libsvm's labels for an RBF model, from single-precision decision values.

    Each one-vs-one value is computed in float32 together with a bound on its distance to
    the exact value (standard rounding-error analysis, see :func:`_rbf_screen`). A sample
    whose vote winner could change by flipping any pair whose value lies within its bound
    of zero is decided again in float64, as ``_dense_predict`` always does; every other
    sample's vote is certainly libsvm's. Returns class indices as floats, as libsvm does.
    """
    return _screened(svc, X, _vote_block)


def _screened(svc: SVC, X: np.ndarray, decide) -> np.ndarray:
    """``decide(svc, X_block, dec, bound)`` over blocks of rows of ``X``, given each
    block's single-precision decision values and their bounds (:func:`_rbf_screen`).

    Blocks run on as many threads as BLAS may use (each with one BLAS thread): ``decide``
    must give exact results, so they do not depend on it.
    """
    arrays = _screening_arrays(svc)
    rows = max(1, SCREEN_BLOCK // len(arrays.sv_aug))
    blocks = [X[start : start + rows] for start in range(0, len(X), rows)]

    def run(block: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # inputs beyond float32's range
            dec, bound = _rbf_screen(svc, arrays, block)
        return decide(svc, block, dec, bound)

    n_threads = min(len(blocks), _blas_threads()) if len(blocks) > 1 else 1
    if n_threads == 1:
        return np.concatenate([run(block) for block in blocks])
    with threadpool_limits(limits=1), ThreadPoolExecutor(n_threads) as pool:
        return np.concatenate(list(pool.map(run, blocks)))


def _vote_block(svc: SVC, X: np.ndarray, dec: np.ndarray, bound: np.ndarray) -> np.ndarray:
    n_classes = len(svc.classes_)
    # not (|dec| > bound) also holds for NaN
    winner, sure = _sure_vote(dec, ~(np.abs(dec) > bound), n_classes)
    if not sure.all():
        unsure = np.flatnonzero(~sure)
        winner[unsure] = _ovo_vote(_ovo_decision(svc, X[unsure]), n_classes)
    return winner


class _ScreeningArrays(NamedTuple):
    """The float32 arrays of the screening, made once per fitted model."""

    sv_aug: np.ndarray  # rows [s, 1, -gamma |s|^2]: times [2 gamma x, -gamma |x|^2, 1],
    # the RBF exponent -gamma |x - s|^2 in one matrix product
    coef: np.ndarray  # libsvm's sv_coef, then its magnitudes: (2 (n_classes - 1), n_SV)


def _screening_arrays(svc: BatchedSVC) -> _ScreeningArrays:
    """The float32 arrays of ``svc``'s support vectors, made on first use and kept on the
    instance (not saved with it) until ``support_vectors_`` changes, as it does on refit."""
    return svc._derived("screening", (svc.support_vectors_,), lambda: _make_screening(svc))


def _make_screening(svc: SVC) -> _ScreeningArrays:
    sv = svc.support_vectors_
    sv_aug = np.empty((len(sv), sv.shape[1] + 2), dtype=np.float32)
    sv_aug[:, :-2] = sv
    sv_aug[:, -2] = 1.0
    model = libsvm_model(svc)
    sv_aug[:, -1] = -model.gamma * svc.support_sq_norms_
    coef = model.dual_coef
    arrays = _ScreeningArrays(sv_aug, np.concatenate([coef, np.abs(coef)]).astype(np.float32))
    for array in arrays:
        array.flags.writeable = False
    return arrays


@cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _blas_threads() -> int:
    """The number of threads BLAS may use now (threadpoolctl's limits included)."""
    blas = _blas_controller().select(user_api="blas").lib_controllers
    return max(1, min((lib.get_num_threads() for lib in blas), default=1))


def _rbf_screen(svc: SVC, arrays: _ScreeningArrays, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-one RBF decision values computed in float32 (returned as float64), and for
    each a bound on its difference from the exact value. ``arrays``: from
    :func:`_screening_arrays` (``sv_aug`` holds rows [s, 1, -gamma |s|^2]).

    The exponent -gamma |x - s|^2 is one float32 product [2 gamma x, -gamma |x|^2, 1] .
    sv_aug (d + 2 terms whose magnitudes sum to at most 2 gamma (|x|^2 + |s|^2), each
    rounded once on input). With u the float32 unit roundoff and s_max the largest
    support vector norm, it is off by at most e = gamma * (2d + 32) * u * (|x|^2 + s_max^2),
    so each kernel value is off by a relative r = expm1(e) * (1 + 8u) + 8u (exp itself
    within 8 ulp). A class's part of a decision value, the float32 product sum(coef * K)
    over L support vectors, is then off by at most (r / (1 - r) + u + 1.01 * gamma_L) * A
    (for r < 1; otherwise there is no bound), with gamma_L = (L + 1) u / (1 - (L + 1) u)
    and A = sum(|coef| * K), computed alongside and enlarged by its own rounding. A 1e-9
    relative slack covers libsvm's own double-precision rounding.
    """
    sv_sq = svc.support_sq_norms_
    blocks = _class_blocks(svc)
    model = libsvm_model(svc)
    coef, gamma = model.dual_coef, model.gamma
    n_classes, m = len(blocks), len(coef)
    first, second = _pairs(n_classes)
    u = UNIT_ROUNDOFF_32
    length = max(b.stop - b.start for b in blocks) + 1
    gamma_l = length * u / (1 - length * u)

    x_sq = np.einsum("ij,ij->i", X, X)
    x_aug = np.empty((len(X), X.shape[1] + 2), dtype=np.float32)
    x_aug[:, :-2] = 2 * gamma * X
    x_aug[:, -2] = -gamma * x_sq
    x_aug[:, -1] = 1.0
    K = x_aug @ arrays.sv_aug.T  # (rows, n_SV): -gamma |x - s|^2
    np.exp(K, out=K)
    partial = np.stack([K[:, b] @ arrays.coef[:, b].T for b in blocks], axis=1)
    partial = partial.astype(np.float64)
    values, sizes = partial[:, :, :m], partial[:, :, m:]
    dec = values[:, first, second - 1] + values[:, second, first] + model.intercept
    size = sizes[:, first, second - 1] + sizes[:, second, first]

    exponent = gamma * (2 * X.shape[1] + 32) * u * (x_sq + sv_sq.max())
    r = np.expm1(exponent) * (1 + 8 * u) + 8 * u
    relative = (r / (1 - r) + u + 1.01 * gamma_l) * (1 + 2 * gamma_l + 2 * u)
    relative[~(r < 1)] = np.inf  # the analysis needs r < 1: no bound, so decide again
    slack = 1e-9 * (size + np.abs(model.intercept)) + 1e-30  # + underflowed kernel values
    return dec, relative[:, None] * size + slack


@cache
def _duels(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class's one-vs-one pairs (n_classes, n_classes - 1) and the sign that turns
    the pair's decision value into one in that class's favour."""
    first, second = _pairs(n_classes)
    pairs = np.array([np.flatnonzero((first == c) | (second == c)) for c in range(n_classes)])
    signs = np.where(first[pairs] == np.arange(n_classes)[:, None], 1.0, -1.0)
    pairs.flags.writeable = signs.flags.writeable = False
    return pairs, signs


def _weakest_duels(dec: np.ndarray, n_classes: int, slack: np.ndarray | None = None):
    """Per sample and class, its smallest one-vs-one value in its favour (less ``slack``,
    the bound of each pair's value, when given): shape (n_samples, n_classes)."""
    pairs, signs = _duels(n_classes)
    favour = dec[:, pairs] * signs
    if slack is not None:
        favour -= slack[:, pairs]
    return favour.min(axis=2)


def _clear_winners(dec: np.ndarray, margin: float, n_classes: int) -> np.ndarray:
    weakest = _weakest_duels(dec, n_classes)
    return np.where(weakest.max(axis=1) >= margin, weakest.argmax(axis=1), -1)


def _margin_block(svc: SVC, X: np.ndarray, dec: np.ndarray, bound: np.ndarray, margin: float):
    """:meth:`BatchedSVC.clear_winners` from single-precision values and their bounds: a
    class whose every duel is won by ``margin`` even at the bound's worst is certainly
    the clear winner; where some class might be one (or NaN), decide in double precision.
    """
    n_classes = len(svc.classes_)
    surely = _weakest_duels(dec, n_classes, bound)  # the exact values are at least this
    perhaps = _weakest_duels(dec, n_classes, -bound)  # and at most this
    winner = np.where(surely.max(axis=1) >= margin, surely.argmax(axis=1), -1)
    unsure = np.flatnonzero((winner < 0) & ~(perhaps.max(axis=1) < margin))
    if len(unsure):
        winner[unsure] = _clear_winners(_ovo_decision(svc, X[unsure]), margin, n_classes)
    return winner


def _sure_vote(dec: np.ndarray, unsure: np.ndarray, n_classes: int):
    """libsvm's vote from decision values some of whose signs are uncertain.

    Returns the winner of the vote as given and, per sample, whether that winner holds
    whatever the signs of the uncertain pairs are: even losing every uncertain pair it wins,
    it must still beat each other class winning every uncertain pair that class loses
    (ties go to the lower class index, as in libsvm).
    """
    first, second = _pair_matrices(n_classes)
    positive = dec > 0
    votes = positive @ first + ~positive @ second
    winner = np.argmax(votes, axis=1)
    held = (unsure & positive) @ first + (unsure & ~positive) @ second
    lost = (unsure & ~positive) @ first + (unsure & positive) @ second
    rows = np.arange(len(dec))
    worst = votes[rows, winner] - held[rows, winner]
    best = votes + lost
    classes = np.arange(n_classes)
    beats = (worst[:, None] > best) | ((worst[:, None] == best) & (winner[:, None] < classes))
    beats[rows, winner] = True
    return winner.astype(np.float64), beats.all(axis=1)
