import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from digitrec.imagespec import DIGITS
from digitrec.models import build_classifier
from digitrec.params import FeaturizeParams, Params, PreprocessParams, TrainParams
from digitrec.pipeline import (
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
    assert names == ["scale", "deskew"]
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
