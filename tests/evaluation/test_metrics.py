import numpy as np

from digitrec.evaluation.metrics import confusion, evaluate
from digitrec.imagespec import DIGITS
from digitrec.models.registry import build_classifier
from digitrec.params import FeaturizeParams, PreprocessParams, TrainParams
from digitrec.pipeline import assemble, build_featurizer, build_preprocessor


def fitted(small_digits, train):
    x_train, y_train, *_ = small_digits
    pre = build_preprocessor(DIGITS, PreprocessParams())
    feat = build_featurizer(FeaturizeParams(), 0)
    features = feat.fit_transform(pre.fit_transform(x_train))
    return assemble(pre, feat, build_classifier(train, 0).fit(features, y_train))


def test_multiclass_metrics_agree_with_the_predictions(small_digits):
    *_, x_test, y_test = small_digits
    result = evaluate(fitted(small_digits, TrainParams(model="knn")), x_test, y_test)
    m = result.metrics
    assert m["n_test"] == len(y_test) == 200
    assert m["accuracy"] == round(float(np.mean(result.y_pred == y_test)), 6)
    assert set(m["f1_per_class"]) == {str(d) for d in range(10)}
    assert 0.8 < m["f1_macro"] <= 1 and 0.8 < m["balanced_accuracy"] <= 1
    assert 0.8 < m["average_precision_micro"] <= 1
    assert 2 < len(result.precision_recall["recall"]) <= 200
    cm = confusion(result)
    assert cm.shape == (10, 10) and cm.sum() == 200
    assert np.trace(cm) == int(np.sum(result.y_pred == y_test))


def test_detector_metrics_and_precision_recall_curve(small_digits):
    *_, x_test, y_test = small_digits
    result = evaluate(
        fitted(small_digits, TrainParams(model="svc", positive_digit=3)), x_test, y_test
    )
    m = result.metrics
    assert m["positive_digit"] == 3 and m["n_positive"] == int(np.sum(y_test == 3))
    assert {"precision", "recall", "f1", "average_precision"} <= set(m)
    assert result.class_names == ["not 3", "3"]
    curve = result.precision_recall
    assert len(curve["precision"]) == len(curve["recall"]) > 2
    assert confusion(result).shape == (2, 2)
