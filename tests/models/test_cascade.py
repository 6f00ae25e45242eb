import numpy as np
import pytest
from sklearn import decomposition
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from digitrec import artifact
from digitrec.imagespec import DIGITS
from digitrec.models.cascade import SVCCascade
from digitrec.models.svm import BatchedSVC
from digitrec.models.virtual import fit_with_virtual_svs
from digitrec.params import Params
from digitrec.pipeline import DigitPipeline, fit_pipeline
from digitrec.transforms.features import PCA, Pixels


@pytest.fixture
def reference_labels(libsvm_clear_winners):
    """The cascade's labels from scikit-learn's own SVCs, one sample at a time."""

    def labels(x_train, y_train, x_test, margin, first_params, second_params):
        first = SVC(**first_params).fit(x_train, y_train)
        second = SVC(**second_params).fit(x_train, y_train)
        winners = libsvm_clear_winners(first, x_test, margin)
        expected = [
            first.classes_[w] if w >= 0 else second.predict(x[None])[0]
            for x, w in zip(x_test, winners, strict=True)
        ]
        return np.array(expected), winners < 0

    return labels


@pytest.mark.parametrize("margin", [0.3, 0.6, 1.0])
def test_labels_come_from_the_first_svc_where_it_is_clear_else_the_second(
    small_digit_rows, margin, reference_labels
):
    x_train, y_train, x_test, _ = small_digit_rows
    first, second = {"C": 1.0, "gamma": 0.5}, {"C": 10.0, "gamma": "scale"}
    cascade = SVCCascade(BatchedSVC(**first), BatchedSVC(**second), margin).fit(x_train, y_train)
    expected, routed = reference_labels(x_train, y_train, x_test, margin, first, second)
    assert 0 < routed.sum() < len(routed)  # both routes are taken
    np.testing.assert_array_equal(cascade.routed_to_second(x_test), routed)
    np.testing.assert_array_equal(cascade.predict(x_test), expected)


def test_the_first_svc_may_see_only_the_leading_features(small_digit_rows, libsvm_clear_winners):
    x_train, y_train, x_test, _ = small_digit_rows
    cascade = SVCCascade(BatchedSVC(C=1.0), BatchedSVC(C=10.0), 0.5, first_features=20)
    cascade.fit(x_train, y_train)
    assert cascade.first_.shape_fit_ == (len(x_train), 20)
    assert cascade.second_.shape_fit_ == x_train.shape
    first = SVC(C=1.0).fit(x_train[:, :20], y_train)
    winners = libsvm_clear_winners(first, x_test[:, :20], 0.5)
    routed = winners < 0
    assert 0 < routed.sum() < len(routed)
    np.testing.assert_array_equal(cascade.routed_to_second(x_test), routed)
    expected = np.where(routed, cascade.second_.predict(x_test), first.classes_[winners])
    np.testing.assert_array_equal(cascade.predict(x_test), expected)
    scores = cascade.decision_function(x_test)
    np.testing.assert_array_equal(
        scores[~routed], cascade.first_.decision_function(x_test[~routed, :20])
    )


@pytest.mark.parametrize("first_features", [0, 65, 2.5, "8"])
def test_first_features_must_be_a_column_count(small_digit_rows, first_features):
    x_train, y_train, *_ = small_digit_rows
    with pytest.raises(ValueError, match="first_features must be None or an integer from 1"):
        SVCCascade(BatchedSVC(), BatchedSVC(), 1.0, first_features).fit(x_train, y_train)


def test_a_larger_margin_sends_more_samples_to_the_second(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    cascade = SVCCascade(BatchedSVC(C=1.0), BatchedSVC(C=10.0)).fit(x_train, y_train)
    routed = [cascade.set_params(margin=m).routed_to_second(x_test) for m in (0.3, 0.6, 1.0)]
    assert (routed[0] <= routed[1]).all() and (routed[1] <= routed[2]).all()
    assert routed[0].sum() < routed[2].sum()


def test_scores_come_from_whichever_svc_labels_the_sample(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    cascade = SVCCascade(BatchedSVC(C=1.0), BatchedSVC(C=10.0)).fit(x_train, y_train)
    routed = cascade.routed_to_second(x_test)
    scores = cascade.decision_function(x_test)
    np.testing.assert_array_equal(
        scores[~routed], cascade.first_.decision_function(x_test[~routed])
    )
    np.testing.assert_array_equal(scores[routed], cascade.second_.decision_function(x_test[routed]))


def test_frozen_svcs_are_cascaded_as_fitted(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    first = BatchedSVC(C=1.0).fit(x_train[:200], y_train[:200])
    second = BatchedSVC(C=10.0).fit(x_train, y_train)
    cascade = SVCCascade(FrozenEstimator(first), FrozenEstimator(second)).fit(x_train, y_train)
    assert cascade.first_.estimator is first and cascade.second_.estimator is second
    assert first.shape_fit_ == (200, 64)  # not refitted
    routed = cascade.routed_to_second(x_test)
    expected = np.where(routed, second.predict(x_test), first.predict(x_test))
    np.testing.assert_array_equal(cascade.predict(x_test), expected)


@pytest.mark.parametrize("margin", [0, -1.0, "1", True, None])
def test_a_margin_that_is_not_positive_is_refused(small_digit_rows, margin):
    x_train, y_train, *_ = small_digit_rows
    with pytest.raises(ValueError, match="margin must be a positive number, got"):
        SVCCascade(BatchedSVC(), BatchedSVC(), margin).fit(x_train, y_train)


def test_the_first_must_be_a_batched_svc_with_the_same_classes(small_digit_rows):
    x_train, y_train, *_ = small_digit_rows
    with pytest.raises(TypeError, match="first must be a BatchedSVC, got LogisticRegression"):
        SVCCascade(LogisticRegression(), BatchedSVC()).fit(x_train, y_train)
    other = FrozenEstimator(BatchedSVC().fit(x_train, y_train % 5))
    with pytest.raises(ValueError, match="first and second must have the same classes"):
        SVCCascade(BatchedSVC(), other).fit(x_train, y_train)


def test_the_virtual_sv_method_cascades_its_two_rounds(small_digit_rows, tmp_path):
    x_train, y_train, x_test, _ = small_digit_rows
    images = x_train.reshape(-1, 8, 8)
    featurizer = Pixels().fit(images)
    features = featurizer.transform(images)
    plain = fit_with_virtual_svs(
        BatchedSVC(C=10.0), BatchedSVC(C=10.0), images, features, y_train, featurizer
    )
    cascade = fit_with_virtual_svs(
        BatchedSVC(C=10.0),
        BatchedSVC(C=10.0),
        images,
        features,
        y_train,
        featurizer,
        cascade_margin=1.0,
    )
    probe = BatchedSVC(C=10.0).fit(features, y_train)
    np.testing.assert_array_equal(cascade.first_.support_, probe.support_)
    np.testing.assert_array_equal(cascade.second_.support_vectors_, plain.support_vectors_)
    test = featurizer.transform(x_test.reshape(-1, 8, 8))
    routed = cascade.routed_to_second(test)
    assert 0 < routed.sum() < len(routed)
    expected = np.where(routed, plain.predict(test), probe.predict(test))
    np.testing.assert_array_equal(cascade.predict(test), expected)
    # a first SVM of its own on the leading features instead of the first round
    narrow = fit_with_virtual_svs(
        BatchedSVC(C=10.0),
        BatchedSVC(C=10.0),
        images,
        features,
        y_train,
        featurizer,
        cascade_margin=1.0,
        cascade_features=16,
    )
    first = BatchedSVC(C=10.0).fit(features[:, :16], y_train)
    np.testing.assert_array_equal(narrow.first_.support_, first.support_)
    np.testing.assert_array_equal(narrow.second_.support_vectors_, plain.support_vectors_)
    routed = narrow.routed_to_second(test)
    expected = np.where(routed, plain.predict(test), first.predict(test[:, :16]))
    np.testing.assert_array_equal(narrow.predict(test), expected)


@pytest.mark.parametrize("first_features", [None, 8])
def test_params_build_a_cascade_pipeline_that_round_trips_as_an_artifact(
    digits, tmp_path, first_features
):
    images, labels = digits
    svc = {"virtual_shift": 1, "virtual_directions": 4, "calibrate": False, "cascade_margin": 0.5}
    svc["cascade_features"] = first_features
    params = Params.model_validate({"train": {"model": "svc", "svc": svc}})
    model = fit_pipeline(params, DIGITS, images[:400], labels[:400])
    assert isinstance(model[-1], SVCCascade) and model[-1].margin == 0.5
    assert model[-1].first_features == first_features
    saved = artifact.load_model(artifact.save_model(tmp_path / "model", model).path)
    test = images[1500:1700]
    np.testing.assert_array_equal(saved.predict(test), model.predict(test))
    assert artifact.model_bytes(saved) == artifact.model_bytes(model)


def test_unfitted_models_say_so(small_digit_rows):
    x_test = small_digit_rows[2]
    for model in (BatchedSVC(), SVCCascade(BatchedSVC(), BatchedSVC())):
        with pytest.raises(NotFittedError):
            model.predict(x_test)
    with pytest.raises(NotFittedError):
        BatchedSVC().clear_winners(x_test, 1.0)


class _RecordsFullProjections(PCA):
    """digitrec's PCA, recording the number of rows of each full ``transform``."""

    def transform(self, X):
        self.full_rows.append(len(X))
        return super().transform(X)


@pytest.mark.parametrize("first_features", [None, 10])
def test_predict_through_projects_in_full_only_what_the_second_labels(
    small_digit_rows, first_features
):
    x_train, y_train, x_test, _ = small_digit_rows
    pca = _RecordsFullProjections(20, random_state=0).fit(x_train)
    pca.full_rows = []
    z_train, z_test = pca.transform(x_train), pca.transform(x_test)
    cascade = SVCCascade(BatchedSVC(C=1.0), BatchedSVC(C=10.0), 0.5, first_features)
    cascade.fit(z_train, y_train)
    expected, routed = cascade.predict(z_test), cascade.routed_to_second(z_test)
    assert 0 < routed.sum() < len(routed)
    pca.full_rows = []
    np.testing.assert_array_equal(cascade.predict_through(pca, x_test), expected)
    assert pca.full_rows == [routed.sum() if first_features else len(x_test)]
    for i in np.flatnonzero(routed)[:3].tolist() + np.flatnonzero(~routed)[:3].tolist():
        pca.full_rows = []
        assert cascade.predict_through(pca, x_test[i : i + 1]) == expected[i]
        assert pca.full_rows == ([1] if routed[i] or not first_features else [])
    # a projection that cannot project leading columns alone is applied in full
    theirs = decomposition.PCA(20, random_state=0).fit(x_train)
    np.testing.assert_array_equal(cascade.predict_through(theirs, x_test), expected)


def test_a_digit_pipeline_predicts_through_the_pca_before_its_cascade(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    cascade = SVCCascade(BatchedSVC(C=1.0), BatchedSVC(C=10.0), 0.5, first_features=10)
    steps = [("pca", _RecordsFullProjections(20, random_state=0)), ("classifier", cascade)]
    model = DigitPipeline(steps)
    model[0].full_rows = []
    model.fit(x_train, y_train)
    routed = model[-1].routed_to_second(model[0].transform(x_test))
    model[0].full_rows = []
    labels = model.predict(x_test)
    assert model[0].full_rows == [routed.sum()]
    np.testing.assert_array_equal(labels, Pipeline(model.steps).predict(x_test))
    with pytest.raises(NotFittedError):
        SVCCascade(BatchedSVC(), BatchedSVC(), 0.5, 10).predict_through(model[0], x_test)
