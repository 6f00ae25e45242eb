import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Perceptron
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from digitrec.imagespec import DIGITS, MNIST
from digitrec.models.registry import build_classifier
from digitrec.params import FeaturizeParams, Params, PreprocessParams, TrainParams
from digitrec.pipeline import (
    DigitPipeline,
    assemble,
    build_featurizer,
    build_preprocessor,
    fit_pipeline,
    image_spec,
)

VARIANTS = [
    (PreprocessParams(), FeaturizeParams()),
    (PreprocessParams(deskew=True, center=True), FeaturizeParams(method="hog")),
    (
        PreprocessParams(deskew=True),
        FeaturizeParams(method="raw_hog", pca={"n_components": 20}, standardize=True),
    ),
    (PreprocessParams(), FeaturizeParams(method="gradient", gradient={"grid": 6})),
    (PreprocessParams(), FeaturizeParams(method="raw_gradient", gradient={"grid": 4})),
]


@pytest.mark.parametrize(("pre", "feat"), VARIANTS)
def test_stagewise_fit_equals_fitting_one_pipeline(small_digits, pre, feat):
    """The stages fit the pieces one after another; the assembled artifact must behave
    exactly like the same Pipeline fitted in one go (no train/serve skew)."""
    x_train, y_train, x_test, _ = small_digits
    train = TrainParams(model="svc")
    preprocessor = build_preprocessor(DIGITS, pre)
    processed = preprocessor.fit_transform(x_train)
    featurizer = build_featurizer(feat, seed=0)
    classifier = build_classifier(train, seed=0).fit(featurizer.fit_transform(processed), y_train)
    model = assemble(preprocessor, featurizer, classifier)

    whole = Pipeline(
        [
            *build_preprocessor(DIGITS, pre).steps,
            *build_featurizer(feat, 0).steps,
            ("classifier", build_classifier(train, seed=0)),
        ]
    ).fit(x_train, y_train)
    np.testing.assert_array_equal(model.predict(x_test), whole.predict(x_test))
    np.testing.assert_allclose(model.predict_proba(x_test), whole.predict_proba(x_test))
    assert image_spec(model) == DIGITS
    params = Params(preprocess=pre, featurize=feat, train=train, seed=0)
    in_one_call = fit_pipeline(params, DIGITS, x_train, y_train)
    np.testing.assert_array_equal(in_one_call.predict(x_test), model.predict(x_test))


def test_steps_follow_the_params():
    names = [n for n, _ in build_preprocessor(DIGITS, PreprocessParams(deskew=True)).steps]
    assert names == ["scale", "deskew"]  # 8x8 images are too small to clean: no step
    names = [n for n, _ in build_preprocessor(MNIST, PreprocessParams(deskew=True)).steps]
    assert names == ["scale", "clean", "deskew"]
    names = [n for n, _ in build_preprocessor(MNIST, PreprocessParams(clean=False)).steps]
    assert names == ["scale"]
    feat = FeaturizeParams(method="hog", pca={"n_components": 5}, standardize=True)
    assert [n for n, _ in build_featurizer(feat, 0).steps] == ["features", "pca", "standardize"]


def test_featurizer_state_comes_from_training_data_only(small_digits):
    x_train, _, x_test, _ = small_digits
    feat = build_featurizer(FeaturizeParams(pca={"n_components": 10}), seed=0)
    feat.fit(x_train / 16.0)
    before = feat.named_steps["pca"].components_.copy()
    feat.transform(x_test / 16.0)
    np.testing.assert_array_equal(feat.named_steps["pca"].components_, before)


def test_image_spec_refuses_foreign_pipelines():
    with pytest.raises(TypeError, match="not a digitrec model"):
        image_spec(Pipeline([("classifier", build_classifier(TrainParams(), 0))]))


class _CountsTagQueries(TransformerMixin, BaseEstimator):
    """Passes rows through; counts how often scikit-learn asks for its tags."""

    queries = 0

    def fit(self, X, y=None):
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X):
        return X

    def __sklearn_tags__(self):
        type(self).queries += 1
        return super().__sklearn_tags__()


@pytest.mark.parametrize(
    "train",
    [
        TrainParams(model="svc"),
        TrainParams(model="svc", svc={"calibrate": False}),
        TrainParams(model="logreg"),
    ],
)
def test_digit_pipeline_infers_as_a_pipeline_does(small_digits, train):
    x_train, y_train, x_test, _ = small_digits
    model = fit_pipeline(Params(train=train, seed=0), DIGITS, x_train, y_train)
    assert type(model) is DigitPipeline
    plain = Pipeline(model.steps)
    for method in ("predict", "predict_proba", "decision_function"):
        assert hasattr(model, method) == hasattr(plain, method)
        if not hasattr(plain, method):
            continue
        expected = getattr(plain, method)(x_test)
        np.testing.assert_array_equal(getattr(model, method)(x_test), expected)
        with config_context(enable_metadata_routing=True):  # the parent's code
            np.testing.assert_array_equal(getattr(model, method)(x_test), expected)


def test_digit_pipeline_skips_only_the_tag_queries(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    steps = [("pass", _CountsTagQueries()), ("classifier", Perceptron(random_state=0))]
    model = DigitPipeline(steps).fit(x_train, y_train)
    _CountsTagQueries.queries = 0
    labels = model.predict(x_test)
    assert _CountsTagQueries.queries == 0
    np.testing.assert_array_equal(labels, Pipeline(model.steps).predict(x_test))
    assert _CountsTagQueries.queries > 0  # what scikit-learn's Pipeline does on every call


def test_digit_pipeline_methods_follow_the_last_step(small_digit_rows):
    x_train, y_train, _, _ = small_digit_rows
    perceptron = DigitPipeline([("classifier", Perceptron())]).fit(x_train, y_train)
    assert hasattr(perceptron, "decision_function") and not hasattr(perceptron, "predict_proba")
    knn = DigitPipeline([("classifier", KNeighborsClassifier())]).fit(x_train, y_train)
    assert hasattr(knn, "predict_proba") and not hasattr(knn, "decision_function")


def test_unfitted_digit_pipeline_says_so(small_digit_rows):
    _, _, x_test, _ = small_digit_rows
    model = DigitPipeline([("pass", _CountsTagQueries()), ("classifier", Perceptron())])
    for method in ("predict", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(model, method)(x_test)


def test_raw_gradient_puts_pixels_and_gradient_directions_side_by_side(small_digits):
    images = small_digits[0][:20] / 16.0
    gradient = {"grid": 4, "upsample": 2}
    both = build_featurizer(FeaturizeParams(method="raw_gradient", gradient=gradient), 0)
    alone = build_featurizer(FeaturizeParams(method="gradient", gradient=gradient), 0)
    features = both.fit_transform(images)
    assert features.shape == (20, 64 + 8 * 4 * 4)
    np.testing.assert_array_equal(features[:, :64], images.reshape(20, -1))
    np.testing.assert_array_equal(features[:, 64:], alone.fit_transform(images))
