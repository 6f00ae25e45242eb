import numpy as np
import pytest
from sklearn.base import clone

from digitrec import kernels
from digitrec.imagespec import DIGITS, MNIST
from digitrec.transforms.preprocessing import Center, Deskew, ImageScaler


def test_scaler_maps_the_raw_range_onto_unit_interval(digits):
    images, _ = digits
    scaled = ImageScaler(DIGITS).fit_transform(images)
    assert scaled.dtype == np.float64 and scaled.shape == images.shape
    assert scaled.max() == 1.0 and scaled.min() == 0.0
    np.testing.assert_array_equal(scaled * 16, images)


def test_scaler_accepts_flat_rows(digits):
    images, _ = digits
    scaler = ImageScaler(DIGITS).fit(images)
    np.testing.assert_array_equal(
        scaler.transform(images.reshape(len(images), 64)), scaler.transform(images)
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((2, 28, 28)), r"fitted on \(8, 8\) images, got \(28, 28\)"),
        (np.full((2, 8, 8), 17.0), r"pixel values must lie in \[0, 16\], got values in \[17, 17\]"),
        (np.full((2, 8, 8), -1.0), r"must lie in \[0, 16\]"),
        (np.full((2, 8, 8), np.nan), "NaN or infinite"),
        (
            np.zeros((2, 63)),
            r"expected images of shape \(n_images, height, width\) or \(n_images, 64\)",
        ),
        (np.array([["a"] * 64]), "expected numeric image data"),
        (np.zeros((2, 8, 8), dtype=complex), r"expected numeric image data \(real numbers\)"),
    ],
)
def test_scaler_rejects_what_the_model_was_not_trained_on(digits, bad, message):
    scaler = ImageScaler(DIGITS).fit(digits[0][:10])
    with pytest.raises(ValueError, match=message):
        scaler.transform(bad)


def test_scaler_keeps_its_spec_through_clone():
    assert clone(ImageScaler(MNIST)).spec == MNIST


@pytest.mark.parametrize(
    ("transformer", "kernel"), [(Deskew(), kernels.deskew), (Center(), kernels.center)]
)
def test_geometric_transformers_apply_their_kernel(digits, transformer, kernel):
    images = digits[0][:50] / 16.0
    out = clone(transformer).fit_transform(images)
    np.testing.assert_array_equal(out, kernel(images))
    with pytest.raises(ValueError, match=r"fitted on \(8, 8\) images"):
        transformer.fit(images).transform(np.zeros((1, 28, 28)))
