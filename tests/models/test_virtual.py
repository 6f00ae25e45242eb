import numpy as np
import pytest

from digitrec.models.registry import DigitDetector
from digitrec.models.svm import BatchedSVC
from digitrec.models.virtual import (
    fit_with_virtual_svs,
    rotated,
    scaled,
    shift,
    shifted_copies,
    support_indices,
    thickened,
    thinned,
    transformed_copies,
)
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


def _bar() -> np.ndarray:
    """One 7x7 image: a vertical bar of ones in the middle column, rows 1-5."""
    image = np.zeros((1, 7, 7))
    image[0, 1:6, 3] = 1.0
    return image


def test_rotations_turn_about_the_centre():
    bar = _bar()
    np.testing.assert_allclose(rotated(bar, 90)[0], bar[0].T, atol=1e-12)  # now horizontal
    np.testing.assert_allclose(rotated(bar, 0), bar)
    tilted = rotated(bar, 10)[0]
    assert tilted[3, 3] == pytest.approx(1.0)  # the centre stays
    # the top of the bar moves left when turned anticlockwise (as displayed)
    assert tilted[1, :3].sum() > tilted[1, 4:].sum()
    assert rotated(bar, -10)[0][1, 4:].sum() > rotated(bar, -10)[0][1, :3].sum()


def test_scalings_grow_and_shrink_about_the_centre():
    bar = _bar()
    np.testing.assert_array_equal(np.flatnonzero(scaled(bar, 0.5)[0][:, 3]), [2, 3, 4])
    np.testing.assert_allclose(scaled(bar, 1.0), bar)
    assert scaled(bar, 1.2)[0].sum() > bar.sum() > scaled(bar, 0.8)[0].sum()


def test_thickness_moves_part_of_the_way_to_a_dilation_or_an_erosion():
    bar = _bar()
    half = thickened(bar, 0.5)[0]
    assert half[3, 2] == half[3, 4] == half[0, 3] == 0.5  # the cross's neighbours
    assert half[0, 2] == 0.0  # not a neighbour along an axis
    np.testing.assert_array_equal(half[1:6, 3], 1.0)
    np.testing.assert_array_equal(thinned(bar, 1.0), 0.0)  # one pixel wide: gone
    np.testing.assert_allclose(thinned(bar, 0.25)[0][1:6, 3], 0.75)
    np.testing.assert_array_equal(thickened(bar, 0.0), bar)


def test_transformed_copies_come_in_blocks_with_their_labels():
    images = np.random.default_rng(0).random((3, 8, 8))
    labels = np.array([4, 7, 1])
    moved, moved_labels = transformed_copies(
        images, labels, pixels=1, directions=4, rotate=8, scale=0.1, thickness=0.5
    )
    assert moved.shape == (3 * (4 + 6), 8, 8)
    np.testing.assert_array_equal(moved_labels, np.tile(labels, 10))
    np.testing.assert_array_equal(moved[:12], shifted_copies(images, labels, 1, 4)[0])
    np.testing.assert_array_equal(moved[12:15], rotated(images, 8))
    np.testing.assert_array_equal(moved[15:18], rotated(images, -8))
    np.testing.assert_array_equal(moved[18:21], scaled(images, 1.1))
    np.testing.assert_array_equal(moved[21:24], scaled(images, 0.9))
    np.testing.assert_array_equal(moved[24:27], thickened(images, 0.5))
    np.testing.assert_array_equal(moved[27:], thinned(images, 0.5))
    only_rotations, _ = transformed_copies(images, labels, rotate=5)
    assert only_rotations.shape == (6, 8, 8)
    none, none_labels = transformed_copies(images[:0], labels[:0], pixels=1, thickness=0.5)
    assert none.shape == (0, 8, 8) and none_labels.shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no virtual copies"),
        ({"pixels": -1}, "pixels must be"),
        ({"rotate": 100}, "rotate must be"),
        ({"scale": 1.0}, "scale must be"),
        ({"thickness": 1.5}, "thickness must be"),
    ],
)
def test_transformed_copies_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        transformed_copies(np.zeros((1, 4, 4)), np.zeros(1), **kwargs)


def test_the_final_svm_also_trains_on_rotated_scaled_and_thickened_copies(small_digits):
    x_train, y_train, x_test, y_test = small_digits
    images = x_train / 16.0
    featurizer = Pixels().fit(images)
    features = featurizer.transform(images)
    n_sv = len(support_indices(BatchedSVC(C=10.0).fit(features, y_train)))
    model = fit_with_virtual_svs(
        BatchedSVC(C=10.0), BatchedSVC(C=10.0), images, features, y_train, featurizer,
        pixels=0, rotate=5, scale=0.1, thickness=0.3,
    )  # fmt: skip
    assert model.shape_fit_ == (n_sv * 7, 64)
    assert model.score(featurizer.transform(x_test / 16.0), y_test) > 0.9
