"""Each private scikit-learn API in digitrec.sklearn_compat, checked against the installed
scikit-learn: if an upgrade changes one, the test named for it fails here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, RandomizedSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from digitrec import sklearn_compat as compat


@pytest.fixture(scope="module")
def data(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    return x_train, y_train, x_test[:20]


@pytest.mark.parametrize("gamma", ["scale", "auto", 0.02])
def test_libsvm_model_holds_the_fitted_libsvm_arrays(data, gamma):
    x, y, _ = data
    svc = SVC(gamma=gamma).fit(x, y)
    model = compat.libsvm_model(svc)
    expected_gamma = {"scale": 1 / (x.shape[1] * x.var()), "auto": 1 / x.shape[1]}
    assert model.gamma == pytest.approx(expected_gamma.get(gamma, gamma))
    assert model.n_support.tolist() == svc.n_support_.tolist()
    assert model.dual_coef.shape == (len(svc.classes_) - 1, len(svc.support_vectors_))
    np.testing.assert_array_equal(model.dual_coef, svc.dual_coef_)  # several classes
    np.testing.assert_array_equal(model.intercept, svc.intercept_)
    assert model.sparse is False
    assert compat.libsvm_model(SVC().fit(scipy.sparse.csr_matrix(x), y)).sparse is True


def test_libsvm_model_keeps_libsvm_signs_for_two_classes(data):
    x, y, _ = data
    binary = y == 3
    svc = SVC().fit(x, binary)
    model = compat.libsvm_model(svc)
    np.testing.assert_array_equal(model.dual_coef, -svc.dual_coef_)
    np.testing.assert_array_equal(model.intercept, -svc.intercept_)


class Recording(compat.SVCPredictHooks):
    """Records which hook each public method reaches."""

    def check_predict_input(self, X):
        self.calls.append("check")
        return super().check_predict_input(X)

    def dense_decision_values(self, X):
        self.calls.append("decision")
        return super().dense_decision_values(X)

    def dense_labels(self, X):
        self.calls.append("labels")
        return super().dense_labels(X)


@pytest.mark.parametrize(
    ("method", "hooks"),
    [("predict", ["check", "labels"]), ("decision_function", ["check", "decision"])],
)
def test_svc_predict_paths_go_through_the_hooks(data, method, hooks):
    x, y, x_new = data
    svc = Recording().fit(x, y)
    svc.calls = []
    result = getattr(svc, method)(x_new)
    assert svc.calls == hooks
    np.testing.assert_array_equal(result, getattr(SVC().fit(x, y), method)(x_new))


def test_svc_ovo_and_sparse_decision_values(data):
    x, y, x_new = data
    svc = compat.SVCPredictHooks(decision_function_shape="ovo").fit(x, y)
    np.testing.assert_array_equal(svc.ovo_decision_values(x_new), svc.decision_function(x_new))
    sparse = compat.SVCPredictHooks().fit(scipy.sparse.csr_matrix(x), y)
    values = sparse.sparse_decision_values(scipy.sparse.csr_matrix(x_new))
    assert values.shape == (len(x_new), 45)


def test_pipeline_transforms_and_final_step(data):
    x, y, _ = data
    scaler, pca, svc = StandardScaler(), PCA(5, random_state=0), SVC()
    pipeline = Pipeline([("s", scaler), ("skip", "passthrough"), ("p", pca), ("c", svc)])
    pipeline.fit(x, y)
    assert compat.pipeline_transforms(pipeline) == [scaler, pca]
    assert compat.final_step(pipeline) is svc
    assert compat.final_step(Pipeline([("s", scaler), ("c", "passthrough")])) == "passthrough"


def test_feature_union_parts_and_stack(data):
    x, _, _ = data
    first, second = FunctionTransformer(), FunctionTransformer(np.square)
    union = FeatureUnion(
        [("a", first), ("dropped", "drop"), ("b", second)], transformer_weights={"b": 2.0}
    )
    assert compat.union_parts(union) == [(first, None), (second, 2.0)]
    parts = [x[:3, :2], x[:3, 2:4]]
    np.testing.assert_array_equal(compat.union_stack(union, parts), np.hstack(parts))


def test_dense_output_config_follows_set_output():
    scaler = StandardScaler()
    assert compat.dense_output_config(scaler) == "default"
    scaler.set_output(transform="pandas")
    assert compat.dense_output_config(scaler) == "pandas"
    scaler.set_output(transform="default")
    assert compat.dense_output_config(scaler) == "default"


def test_sigmoid_calibration_gives_the_parents_probabilities(data):
    x, y, x_new = data
    calibrated = CalibratedClassifierCV(SVC(), method="sigmoid", cv=3, ensemble=False)
    calibrated.fit(x, y)
    estimator, a, b = compat.sigmoid_calibration(calibrated)
    assert a.shape == b.shape == (10,)
    proba = expit(-(a * estimator.decision_function(x_new) + b))
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, calibrated.predict_proba(x_new), rtol=1e-12)

    ensemble = CalibratedClassifierCV(SVC(), method="sigmoid", cv=3).fit(x, y)
    assert compat.sigmoid_calibration(ensemble) is None  # one calibrated model per fold
    isotonic = CalibratedClassifierCV(SVC(), method="isotonic", cv=3, ensemble=False)
    assert compat.sigmoid_calibration(isotonic.fit(x, y)) is None


def test_base_search_cv_is_the_searches_base():
    for search in (GridSearchCV, RandomizedSearchCV, HalvingGridSearchCV):
        assert issubclass(search, compat.BaseSearchCV)
    assert callable(compat.BaseSearchCV._run_search)
