import pickle
from itertools import product

import numpy as np
import pytest
from scipy import sparse
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from digitrec import artifact, derived
from digitrec.models import svm
from digitrec.models.svm import BatchedSVC


@pytest.fixture(scope="module")
def data(digits):
    images, labels = digits
    x = images.reshape(len(images), -1) / 16.0
    return x[:600], labels[:600], x[600:1400], labels[600:1400]


def fit_both(x, y, **params):
    return SVC(**params).fit(x, y), BatchedSVC(**params).fit(x, y)


@pytest.mark.parametrize("kernel", ["rbf", "poly", "linear", "sigmoid"])
@pytest.mark.parametrize("binary", [False, True], ids=["10-class", "binary"])
@pytest.mark.parametrize("shape", ["ovr", "ovo"])
def test_same_decision_values_and_predictions_as_libsvm(data, kernel, binary, shape):
    x_train, y_train, x_test, _ = data
    if binary:
        y_train = (y_train == 3).astype(int)
    params = dict(kernel=kernel, C=10.0, gamma="scale", decision_function_shape=shape)
    ref, fast = fit_both(x_train, y_train, **params)
    np.testing.assert_allclose(
        fast.decision_function(x_test), ref.decision_function(x_test), rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(fast.predict(x_test), ref.predict(x_test))


def test_blocks_of_rows_give_the_same_result(data, monkeypatch):
    x_train, y_train, x_test, _ = data
    fast = BatchedSVC(C=10.0).fit(x_train, y_train)
    whole = fast.decision_function(x_test)
    monkeypatch.setattr("digitrec.models.svm.BLOCK_ROWS", 7)
    np.testing.assert_allclose(fast.decision_function(x_test), whole, rtol=0, atol=1e-12)


def test_ties_in_the_vote_go_to_the_first_class_as_in_libsvm():
    # Random labels and a narrow kernel: far from the training points the pairwise votes
    # are decided by the intercepts alone, and some form cycles (a three-way tie).
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(60, 5)), rng.integers(0, 6, 60)
    ref, fast = fit_both(x, y, C=1.0, gamma=2.0)
    far = rng.normal(size=(2000, 5)) * 1.5
    dec = ref.decision_function(far)  # ovr: votes + a confidence in (-1/3, 1/3)
    top2 = np.sort(np.round(dec), axis=1)[:, -2:]
    assert (top2[:, 0] == top2[:, 1]).any(), "no tied vote to test"
    np.testing.assert_array_equal(fast.predict(far), ref.predict(far))


def test_sparse_input_and_callable_kernels_fall_back_to_libsvm(data):
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(sparse.csr_matrix(x_train), y_train, C=10.0)
    np.testing.assert_array_equal(
        fast.predict(sparse.csr_matrix(x_test)), ref.predict(sparse.csr_matrix(x_test))
    )
    ref, fast = fit_both(x_train, y_train, kernel=lambda a, b: a @ b.T)
    np.testing.assert_array_equal(fast.predict(x_test), ref.predict(x_test))


def test_is_an_svc_with_the_same_parameters():
    fast = BatchedSVC(C=3.0, kernel="poly", degree=4)
    assert isinstance(fast, SVC)
    assert fast.get_params() == SVC(C=3.0, kernel="poly", degree=4).get_params()


@pytest.mark.parametrize("binary", [False, True], ids=["10-class", "binary"])
def test_single_precision_bound_holds_and_is_tight(data, binary):
    x_train, y_train, x_test, _ = data
    if binary:
        y_train = (y_train == 3).astype(int)
    fast = BatchedSVC(C=10.0).fit(x_train, y_train)
    dec32, bound = svm._rbf_screen(fast, svm._screening_arrays(fast), x_test)
    exact = svm._ovo_decision(fast, x_test)
    assert (np.abs(dec32 - exact) <= bound).all()
    assert np.abs(dec32 - exact).max() > 0  # it is single precision
    # tight enough that few samples need a second look
    assert np.median(bound) < 0.01 * np.median(np.abs(exact))


def test_samples_near_a_tie_are_decided_in_double_precision(data, monkeypatch):
    # A bound inflated to most decision values forces the double-precision path for most
    # samples; the labels must still be libsvm's.
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(x_train, y_train, C=10.0)
    monkeypatch.setattr(svm, "UNIT_ROUNDOFF_32", 1e-4)
    dec, bound = svm._rbf_screen(fast, svm._screening_arrays(fast), x_test)
    _, sure = svm._sure_vote(dec, np.abs(dec) <= bound, len(fast.classes_))
    assert 0 < sure.sum() < len(sure)
    monkeypatch.setattr(svm, "SCREEN_BLOCK", 7 * len(fast.support_vectors_))  # 7-row blocks
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            np.testing.assert_array_equal(fast.predict(x_test), ref.predict(x_test))


def test_a_few_rows_are_decided_in_double_precision_directly(data, monkeypatch):
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(x_train, y_train, C=10.0)
    monkeypatch.setattr(svm, "_rbf_screen", None)  # would fail if called
    work = x_test.shape[1] * len(fast.support_vectors_)
    monkeypatch.setattr(svm, "SCREEN_MIN_WORK", 16 * work)
    few = x_test[:15]
    np.testing.assert_array_equal(fast.predict(few), ref.predict(few))


def test_sure_vote_is_sound_against_every_sign_flip():
    rng = np.random.default_rng(0)
    n_classes = 4
    first, second = np.triu_indices(n_classes, k=1)

    def libsvm_winner(dec):
        votes = np.zeros(n_classes, int)
        for p, v in enumerate(dec):
            votes[first[p] if v > 0 else second[p]] += 1
        return int(np.argmax(votes))

    dec = rng.normal(size=(400, len(first)))
    unsure = rng.random(dec.shape) < 0.25
    unsure[:20] = False
    winner, sure = svm._sure_vote(dec, unsure, n_classes)
    assert sure[:20].all()
    assert 0 < sure.sum() < len(sure)
    for row, flags, w, certain in zip(dec, unsure, winner, sure, strict=True):
        assert libsvm_winner(row) == w
        if certain:
            pairs = np.flatnonzero(flags)
            for signs in product([-1.0, 1.0], repeat=len(pairs)):
                flipped = row.copy()
                flipped[pairs] = signs
                assert libsvm_winner(flipped) == w


def test_inputs_beyond_single_precision_fall_back(data, monkeypatch):
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(x_train, y_train, C=10.0)
    monkeypatch.setattr(svm, "SCREEN_MIN_WORK", 0)  # screen even one row
    huge = x_test[:16] * 1e39  # inf in float32
    np.testing.assert_array_equal(fast.predict(huge), ref.predict(huge))


def test_one_row_is_screened_with_arrays_kept_until_refit(data, monkeypatch):
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(x_train, y_train, C=10.0)
    monkeypatch.setattr(svm, "SCREEN_MIN_WORK", 0)
    labels = [fast.predict(x_test[i : i + 1])[0] for i in range(40)]
    np.testing.assert_array_equal(labels, ref.predict(x_test[:40]))
    arrays = svm._screening_arrays(fast)
    assert svm._screening_arrays(fast) is arrays  # made once
    # a refit on other data makes them again
    ref.fit(x_train[:300], y_train[:300])
    fast.fit(x_train[:300], y_train[:300])
    assert svm._screening_arrays(fast) is not arrays
    np.testing.assert_array_equal(fast.predict(x_test), ref.predict(x_test))


def test_screening_arrays_are_not_saved(data):
    x_train, y_train, x_test, _ = data
    fast = BatchedSVC(C=10.0).fit(x_train, y_train)
    before = pickle.dumps(fast), artifact.model_bytes(fast)
    fast.predict(x_test)
    assert derived.KEY in vars(fast)
    assert (pickle.dumps(fast), artifact.model_bytes(fast)) == before


@pytest.mark.parametrize("kernel", ["rbf", "poly"])
@pytest.mark.parametrize("binary", [False, True], ids=["10-class", "binary"])
@pytest.mark.parametrize("margin", [0.5, 1.0])
@pytest.mark.parametrize("screen", [True, False], ids=["float32-screen", "float64"])
def test_clear_winners_are_libsvms(
    data, kernel, binary, margin, screen, monkeypatch, libsvm_clear_winners
):
    x_train, y_train, x_test, _ = data
    if binary:
        y_train = (y_train == 3).astype(int)
    ref, fast = fit_both(x_train, y_train, kernel=kernel, C=10.0)
    monkeypatch.setattr(svm, "SCREEN_MIN_WORK", 0 if screen else np.inf)
    expected = libsvm_clear_winners(ref, x_test, margin)
    assert 0 < (expected < 0).sum() < len(expected)  # both outcomes are tested
    np.testing.assert_array_equal(fast.clear_winners(x_test, margin), expected)
    one = [fast.clear_winners(x_test[i : i + 1], margin)[0] for i in range(20)]
    np.testing.assert_array_equal(one, expected[:20])


def test_clear_winners_near_the_margin_are_decided_in_double_precision(
    data, monkeypatch, libsvm_clear_winners
):
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(x_train, y_train, C=10.0)
    monkeypatch.setattr(svm, "SCREEN_MIN_WORK", 0)
    monkeypatch.setattr(svm, "UNIT_ROUNDOFF_32", 1e-4)  # many samples re-checked
    rechecked = []
    decide = svm._ovo_decision
    monkeypatch.setattr(svm, "_ovo_decision", lambda s, x: rechecked.append(len(x)) or decide(s, x))
    expected = libsvm_clear_winners(ref, x_test, 1.0)
    np.testing.assert_array_equal(fast.clear_winners(x_test, 1.0), expected)
    assert 0 < sum(rechecked) < len(x_test)


def test_clear_winners_of_sparse_input_and_a_bad_margin(data, libsvm_clear_winners):
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(sparse.csr_matrix(x_train), y_train, C=10.0)
    np.testing.assert_array_equal(
        fast.clear_winners(sparse.csr_matrix(x_test), 1.0),
        libsvm_clear_winners(ref, sparse.csr_matrix(x_test), 1.0),
    )
    with pytest.raises(ValueError, match="margin must be a positive number, got 0"):
        fast.clear_winners(x_test, 0)


def test_no_bound_when_the_rounding_analysis_does_not_apply(
    data, monkeypatch, libsvm_clear_winners
):
    # A unit roundoff so large that the kernel's relative error bound reaches 1: the
    # analysis gives no bound, so every sample is decided in double precision.
    x_train, y_train, x_test, _ = data
    ref, fast = fit_both(x_train, y_train, C=10.0)
    monkeypatch.setattr(svm, "UNIT_ROUNDOFF_32", 1e-3)
    _, bound = svm._rbf_screen(fast, svm._screening_arrays(fast), x_test)
    assert np.isinf(bound).any()
    monkeypatch.setattr(svm, "SCREEN_MIN_WORK", 0)
    np.testing.assert_array_equal(fast.predict(x_test), ref.predict(x_test))
    expected = libsvm_clear_winners(ref, x_test, 1.0)
    np.testing.assert_array_equal(fast.clear_winners(x_test, 1.0), expected)
