import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

from digitrec.models.calibration import BatchedCalibratedClassifierCV
from digitrec.models.svm import BatchedSVC


@pytest.fixture(scope="module")
def data(digits):
    images, labels = digits
    x = images.reshape(len(images), -1) / 16.0
    return x[:600], labels[:600], x[600:1400]


@pytest.mark.parametrize(
    ("estimator", "options", "binary"),
    [
        (BatchedSVC(C=10.0), {"ensemble": False}, False),  # the vectorised path
        (BatchedSVC(C=10.0), {"ensemble": False}, True),
        (BatchedSVC(C=10.0), {"ensemble": True}, False),
        (LogisticRegression(max_iter=500), {"ensemble": False}, False),
        (BatchedSVC(C=10.0), {"ensemble": False, "method": "isotonic"}, False),
    ],
    ids=["svc", "binary", "ensemble", "logreg", "isotonic"],
)
def test_same_probabilities_as_scikit_learn(data, estimator, options, binary):
    x_train, y_train, x_test = data
    if binary:
        y_train = (y_train == 3).astype(int)
    options = {"method": "sigmoid", "cv": 3, **options}
    ref = CalibratedClassifierCV(estimator, **options).fit(x_train, y_train)
    fast = BatchedCalibratedClassifierCV(estimator, **options).fit(x_train, y_train)
    expected = ref.predict_proba(x_test)
    got = fast.predict_proba(x_test)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fast.predict(x_test), ref.predict(x_test))
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
