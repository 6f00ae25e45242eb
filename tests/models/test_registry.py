import pickle

import numpy as np
import pytest

from digitrec.models.registry import (
    DigitDetector,
    build_classifier,
    fit_classifier,
    learning_curve,
)
from digitrec.params import CLASSIFIERS, TrainParams
from digitrec.transforms.features import Pixels


def test_train_has_one_section_per_classifier():
    assert list(TrainParams.model_fields) == ["model", "positive_digit", *CLASSIFIERS]
    for name, entry in CLASSIFIERS.items():
        assert TrainParams.model_fields[name].annotation is entry.params


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_each_model_learns_and_is_deterministic(small_digit_rows, name):
    x_train, y_train, x_test, y_test = small_digit_rows
    params = TrainParams(model=name, hist_gb={"max_iter": 30}, mlp={"early_stopping": False})
    first = build_classifier(params, seed=3).fit(x_train, y_train)
    second = build_classifier(params, seed=3).fit(x_train, y_train)
    assert first.score(x_test, y_test) > 0.75, name  # chance is 0.1
    np.testing.assert_array_equal(first.predict(x_test), second.predict(x_test))
    if hasattr(first, "predict_proba"):
        np.testing.assert_array_equal(first.predict_proba(x_test), second.predict_proba(x_test))


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if n != "svc"])
def test_every_hyperparameter_reaches_the_estimator(name):
    """Each field of the params model, set away from its default, is the estimator's
    parameter of the same name (svc has fields of digitrec's own: virtual SVs, cascade)."""
    section = CLASSIFIERS[name].params()
    changed = {
        "C": 3.5,
        "max_iter": 17,
        "n_neighbors": 4,
        "weights": "uniform",
        "p": 1,
        "n_estimators": 7,
        "max_depth": 5,
        "min_samples_leaf": 2,
        "max_features": 0.5,
        "learning_rate": 0.3,
        "max_leaf_nodes": 9,
        "l2_regularization": 0.2,
        "early_stopping": False,
        "validation_fraction": 0.2,
        "n_iter_no_change": 3,
        "hidden_layer_sizes": [7, 5],
        "alpha": 0.01,
        "learning_rate_init": 0.02,
        "batch_size": 16,
    }
    fields = {k: v for k, v in changed.items() if k in type(section).model_fields}
    assert set(fields) == set(type(section).model_fields), "a field this test does not set"
    assert all(section.model_dump()[k] != v for k, v in fields.items())
    estimator = build_classifier(TrainParams(model=name, **{name: fields}), seed=0)
    got = estimator.get_params()
    expected = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    assert {k: got[k] for k in fields} == expected


def test_seed_reaches_the_random_state():
    params = TrainParams(model="random_forest")
    assert build_classifier(params, seed=7).random_state == 7
    assert build_classifier(TrainParams(), seed=7).cv == 5
    assert build_classifier(TrainParams(model="mlp"), seed=9).random_state == 9


def test_digit_detector_answers_is_it_this_digit(small_digit_rows):
    x_train, y_train, x_test, y_test = small_digit_rows
    detector = build_classifier(TrainParams(model="logreg", positive_digit=2), seed=0)
    assert isinstance(detector, DigitDetector)
    detector.fit(x_train, y_train)
    assert list(detector.classes_) == [0, 1]
    predicted = detector.predict(x_test)
    assert set(np.unique(predicted)) <= {0, 1}
    truth = (y_test == 2).astype(int)
    assert (predicted == truth).mean() > 0.95
    scores = detector.score_positive(x_test)
    assert scores[truth == 1].mean() > scores[truth == 0].mean()
    pickle.loads(pickle.dumps(detector))


@pytest.mark.parametrize(
    ("name", "validation"), [("mlp", "validation_accuracy"), ("hist_gb", "validation_loss")]
)
def test_iterative_models_expose_their_learning_curve(small_digit_rows, name, validation):
    x_train, y_train, *_ = small_digit_rows
    params = TrainParams(model=name, hist_gb={"max_iter": 30, "n_iter_no_change": 30})
    model = build_classifier(params, seed=0).fit(x_train, y_train)
    curve = learning_curve(model)
    assert len(curve["train_loss"]) == len(curve[validation]) == len(curve["iteration"]) > 1
    assert None not in curve[validation]
    assert curve["train_loss"][-1] < curve["train_loss"][0]


def test_non_iterative_models_have_an_empty_learning_curve(small_digit_rows):
    x_train, y_train, *_ = small_digit_rows
    model = build_classifier(TrainParams(model="knn"), 0).fit(x_train, y_train)
    assert all(column == [] for column in learning_curve(model).values())


def test_detector_exposes_only_what_its_classifier_has(small_digit_rows):
    x_train, y_train, *_ = small_digit_rows
    params = TrainParams(model="svc", positive_digit=1, svc={"calibrate": False})
    detector = build_classifier(params, 0).fit(x_train, y_train)
    assert not hasattr(detector, "predict_proba")
    assert detector.decision_function(x_train[:3]).shape == (3,)
    assert hasattr(build_classifier(TrainParams(model="knn", positive_digit=1), 0), "predict_proba")


def test_virtual_support_vectors_need_the_images_and_the_featurizer(small_digit_rows):
    x_train, y_train, *_ = small_digit_rows
    params = TrainParams(svc={"virtual_shift": 1, "calibrate": False})
    with pytest.raises(ValueError, match="training images and featurizer"):
        fit_classifier(params, 0, x_train, y_train)


def test_virtual_support_vectors_only_change_the_svc(small_digit_rows):
    x_train, y_train, x_test, _ = small_digit_rows
    params = TrainParams(model="knn", svc={"virtual_shift": 1})  # ignored: not an SVC
    fitted = fit_classifier(params, 0, x_train, y_train)
    expected = build_classifier(params, 0).fit(x_train, y_train)
    np.testing.assert_array_equal(fitted.predict(x_test), expected.predict(x_test))


def test_virtual_rotations_alone_turn_the_virtual_support_vectors_on(small_digits):
    x_train, y_train, *_ = small_digits
    images = x_train / 16.0
    featurizer = Pixels().fit(images)
    features = featurizer.transform(images)
    params = TrainParams(svc={"virtual_rotate": 5, "calibrate": False})
    plain = build_classifier(params, 0).fit(features, y_train)
    fitted = fit_classifier(params, 0, features, y_train, images, featurizer)
    assert fitted.shape_fit_ == (3 * len(plain.support_), 64)  # SVs and 2 rotated copies
