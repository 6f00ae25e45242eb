import pickle

import numpy as np
import pytest
from scipy import sparse
from skimage.feature import hog as skimage_hog
from sklearn import decomposition
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_limits

from digitrec import artifact, kernels
from digitrec.transforms import features
from digitrec.transforms.features import GradientDirections, Hog, Pixels, SequentialFeatureUnion


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


@pytest.mark.parametrize(
    "weights", [None, {"hog": 2.0}, {"pixels": 0.5, "hog": 3.0}], ids=["plain", "one", "both"]
)
@pytest.mark.parametrize("drop", [None, "pixels", "hog"])
def test_sequential_union_equals_feature_union(digits, weights, drop):
    images = digits[0][:30] / 16.0
    parts = [("pixels", Pixels()), ("hog", Hog(pixels_per_cell=2))]
    ours = SequentialFeatureUnion(parts, transformer_weights=weights)
    reference = FeatureUnion([(n, clone(t)) for n, t in parts], transformer_weights=weights)
    if drop:
        ours.set_params(**{drop: "drop"})
        reference.set_params(**{drop: "drop"})
    ours.fit(images)
    reference.fit(images)
    np.testing.assert_array_equal(ours.transform(images), reference.transform(images))
    np.testing.assert_array_equal(ours.get_feature_names_out(), reference.get_feature_names_out())


def test_sequential_union_of_nothing_gives_empty_rows(digits):
    images = digits[0][:3] / 16.0
    union = SequentialFeatureUnion([("pixels", "drop")]).fit(images)
    assert union.transform(images).shape == (3, 0)


def test_sequential_union_joins_other_containers_as_feature_union_does(digits):
    images = digits[0][:10] / 16.0
    sparse_pixels = FunctionTransformer(lambda x: sparse.csr_matrix(x.reshape(len(x), -1)))
    parts = [("pixels", Pixels()), ("sparse", sparse_pixels)]
    joined = SequentialFeatureUnion(parts).fit(images).transform(images)
    assert sparse.issparse(joined)
    expected = FeatureUnion(parts).fit(images).transform(images)
    np.testing.assert_array_equal(joined.toarray(), expected.toarray())


def test_sequential_union_with_n_jobs_is_the_parent(digits):
    images = digits[0][:10] / 16.0
    union = SequentialFeatureUnion([("pixels", Pixels()), ("hog", Hog())], n_jobs=2)
    expected = np.hstack([Pixels().fit_transform(images), Hog().fit_transform(images)])
    np.testing.assert_array_equal(union.fit(images).transform(images), expected)


def test_gradient_directions_transformer(digits):
    images = digits[0][:30] / 16.0
    gradient = clone(GradientDirections(directions=8, grid=6, upsample=4, blur=0.5, power=0.5))
    features = gradient.fit_transform(images)
    assert features.shape == (30, 8 * 6 * 6) == (30, gradient.n_features_out_)
    np.testing.assert_array_equal(
        features, kernels.gradient_directions(images, directions=8, grid=6)
    )
    assert (features >= 0).all()
    names = gradient.get_feature_names_out()
    assert len(names) == 288 and names[0] == "gradient0"


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_transforms_exactly_as_scikit_learn(whiten):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 500)) @ rng.normal(size=(500, 500))
    ours = features.PCA(10, whiten=whiten, random_state=0).fit(x)
    theirs = decomposition.PCA(10, whiten=whiten, random_state=0).fit(x)
    for threads in (1, 2, 1):  # the mean's projection is kept from the first call
        with threadpool_limits(limits=threads):
            for rows in (x[:1], x[:57], x):
                np.testing.assert_array_equal(ours.transform(rows), theirs.transform(rows))
    # kept in memory only: the saved model is the same before and after a transform
    fresh = features.PCA(10, whiten=whiten, random_state=0).fit(x)
    assert pickle.dumps(fresh) == pickle.dumps(ours)
    assert artifact.model_bytes(fresh) == artifact.model_bytes(ours)
    ours.fit(x[:100])  # a refit projects the new mean
    theirs.fit(x[:100])
    np.testing.assert_array_equal(ours.transform(x), theirs.transform(x))
    # anything but the plain case goes through scikit-learn's checks
    np.testing.assert_array_equal(ours.transform(x[:5].tolist()), theirs.transform(x[:5]))
    np.testing.assert_array_equal(
        ours.transform(x[:5].astype(np.float32)), theirs.transform(x[:5].astype(np.float32))
    )
    with pytest.raises(ValueError, match="features"):
        ours.transform(x[:5, :-1])
    with pytest.raises(ValueError, match="NaN"):
        ours.transform(np.full((1, 500), np.nan))


def test_pca_projects_on_the_leading_components_alone():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 120)) @ rng.normal(size=(120, 120))
    pca = features.PCA(30, random_state=0).fit(x)
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            for rows in (x[:1], x[:57], x):
                for k in (1, 8, 13, 30):
                    leading = pca.transform_leading(rows, k)
                    assert leading.shape == (len(rows), k) and leading.flags.c_contiguous
                    full = pca.transform(rows)[:, :k]  # the same to rounding (BLAS splits)
                    np.testing.assert_allclose(leading, full, rtol=1e-12, atol=1e-12)
    # what needs scikit-learn's checks gets them, then the leading columns
    np.testing.assert_array_equal(
        pca.transform_leading(x[:5].tolist(), 8), pca.transform(x[:5])[:, :8]
    )
    with pytest.raises(ValueError, match="NaN"):
        pca.transform_leading(np.full((1, 120), np.nan), 8)
    for k in (0, 31, True, 2.0, None):
        with pytest.raises(ValueError, match=r"n_components must be an integer from 1 to the 30"):
            pca.transform_leading(x[:5], k)
    with pytest.raises(NotFittedError):
        features.PCA(3).transform_leading(x[:5], 2)
