import numpy as np
import pytest
from skimage.feature import hog as skimage_hog
from sklearn.base import clone

from digitrec.features import Hog, Pixels


def test_pixels_flatten_rows_in_image_order(digits):
    images = digits[0][:5] / 16.0
    pixels = Pixels().fit(images)
    np.testing.assert_array_equal(pixels.transform(images), images.reshape(5, 64))
    assert len(pixels.get_feature_names_out()) == 64


@pytest.mark.parametrize(("ppc", "cpb", "norm"), [(4, 2, "L2-Hys"), (2, 2, "L1"), (4, 1, "L2")])
def test_hog_matches_scikit_image(digits, ppc, cpb, norm):
    images = digits[0][:40] / 16.0
    hog = clone(Hog(orientations=9, pixels_per_cell=ppc, cells_per_block=cpb, block_norm=norm))
    features = hog.fit_transform(images)
    expected = np.stack(
        [
            skimage_hog(
                im,
                orientations=9,
                pixels_per_cell=(ppc, ppc),
                cells_per_block=(cpb, cpb),
                block_norm=norm,
                feature_vector=True,
            )
            for im in images
        ]
    )
    assert features.shape == expected.shape == (40, hog.n_features_out_)
    np.testing.assert_allclose(features, expected, atol=1e-6)
