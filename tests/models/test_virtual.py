import numpy as np
import pytest

from digitrec.models.registry import DigitDetector
from digitrec.models.svm import BatchedSVC
from digitrec.models.virtual import fit_with_virtual_svs, shift, shifted_copies, support_indices
from digitrec.transforms.features import Pixels


def test_shift_moves_pixels_and_fills_with_background():
    image = np.arange(1, 10, dtype=float).reshape(1, 3, 3)
    np.testing.assert_array_equal(shift(image, 0, 1)[0], [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    np.testing.assert_array_equal(shift(image, -1, 0)[0], [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
    np.testing.assert_array_equal(shift(image, 1, -1)[0], [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    np.testing.assert_array_equal(shift(image, 0, 0), image)
    assert not shift(image, 3, 0).any()


@pytest.mark.parametrize("directions", [4, 8])
def test_shifted_copies_keep_their_labels(directions):
    images = np.random.default_rng(0).random((5, 6, 6))
    labels = np.arange(5)
    moved, moved_labels = shifted_copies(images, labels, pixels=2, directions=directions)
    assert moved.shape == (5 * directions, 6, 6)
    np.testing.assert_array_equal(moved_labels, np.tile(labels, directions))
    np.testing.assert_array_equal(moved[:5], shift(images, 0, 2))  # first: two to the right


@pytest.mark.parametrize(("pixels", "directions"), [(0, 8), (1, 6)])
def test_shifted_copies_reject_bad_arguments(pixels, directions):
    with pytest.raises(ValueError, match="must be"):
        shifted_copies(np.zeros((1, 4, 4)), np.zeros(1), pixels, directions)


def test_the_final_svm_trains_on_the_support_vectors_and_their_shifted_copies(small_digits):
    x_train, y_train, x_test, y_test = small_digits
    images = x_train / 16.0
    featurizer = Pixels().fit(images)
    features = featurizer.transform(images)
    probe = BatchedSVC(C=10.0)
    n_sv = len(support_indices(BatchedSVC(C=10.0).fit(features, y_train)))
    model = fit_with_virtual_svs(
        BatchedSVC(C=10.0), probe, images, features, y_train, featurizer, pixels=1, directions=4
    )
    assert model.shape_fit_ == (n_sv * 5, 64)
    assert model.score(featurizer.transform(x_test / 16.0), y_test) > 0.9


def test_support_vectors_are_found_inside_a_detector(small_digits):
    x_train, y_train, *_ = small_digits
    features = x_train.reshape(len(x_train), -1) / 16.0
    detector = DigitDetector(BatchedSVC(), positive_digit=3).fit(features, y_train)
    np.testing.assert_array_equal(support_indices(detector), np.sort(detector.estimator_.support_))
    with pytest.raises(TypeError, match="no support vectors"):
        support_indices(Pixels())
