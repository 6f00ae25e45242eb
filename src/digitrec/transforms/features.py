"""Feature extraction as scikit-learn transformers: (n, h, w) images in, (n, d) rows out."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn import decomposition, get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import FeatureUnion
from sklearn.utils.validation import check_is_fitted

from digitrec import kernels
from digitrec.derived import KeepsDerived
from digitrec.sklearn_compat import dense_output_config, union_parts, union_stack
from digitrec.transforms.preprocessing import as_images


class _ImageFeatures(TransformerMixin, BaseEstimator):
    """Base for stateless extractors: ``fit`` records the row length, names are
    ``<prefix><i>``. Subclasses define ``transform`` and ``_prefix``."""

    _prefix = "feature"

    def fit(self, X, y=None):
        self.n_features_out_ = self.transform(as_images(X)[:1]).shape[1]
        return self

    def get_feature_names_out(self, input_features=None):
        names = [f"{self._prefix}{i}" for i in range(self.n_features_out_)]
        return np.array(names, dtype=object)


class Pixels(_ImageFeatures):
    """Flatten each image into a row of raw pixel intensities."""

    _prefix = "pixel"

    def fit(self, X, y=None):
        X = as_images(X)
        self.n_features_out_ = X.shape[1] * X.shape[2]
        return self

    def transform(self, X):
        X = as_images(X)
        return X.reshape(len(X), -1)


class Hog(_ImageFeatures):
    """Histograms of oriented gradients, computed for the whole batch at once.

    Gives the same values as ``skimage.feature.hog`` (the reference, checked in the tests)
    with ``feature_vector=True``; parameters have the same meaning, with square cells and
    blocks.
    """

    _prefix = "hog"

    def __init__(
        self,
        orientations: int = 9,
        pixels_per_cell: int = 4,
        cells_per_block: int = 2,
        block_norm: str = "L2-Hys",
    ):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm

    def transform(self, X):
        return kernels.hog(
            as_images(X),
            orientations=self.orientations,
            pixels_per_cell=(self.pixels_per_cell, self.pixels_per_cell),
            cells_per_block=(self.cells_per_block, self.cells_per_block),
            block_norm=self.block_norm,
        )


class SequentialFeatureUnion(FeatureUnion):
    """:class:`sklearn.pipeline.FeatureUnion` whose ``transform`` calls its transformers in
    turn, in the calling thread.

    ``FeatureUnion`` goes through joblib even with ``n_jobs=None``; on one image that
    bookkeeping costs more than the features themselves. Plain 2-D arrays with the default
    output are joined by ``numpy.concatenate`` directly, as ``FeatureUnion`` joins them
    after looking up the array namespace and the output container on every call. Same
    parameters, same fit, same output
    (tests/transforms/test_features.py); with ``n_jobs`` set, metadata routing on, or routed
    parameters, it is the parent's code.
    """

    def transform(self, X, **params):
        config = get_config()
        if params or self.n_jobs not in (None, 1) or config["enable_metadata_routing"]:
            return super().transform(X, **params)
        Xs = [t.transform(X) if w is None else t.transform(X) * w for t, w in union_parts(self)]
        if not Xs:
            return super().transform(X)
        if (
            all(type(x) is np.ndarray and x.ndim == 2 for x in Xs)
            and not config["array_api_dispatch"]
            and dense_output_config(self) == "default"
        ):
            return np.concatenate(Xs, axis=1)
        return union_stack(self, Xs)


class GradientDirections(_ImageFeatures):
    """Gradient-direction features: each pixel's gradient split between the nearest of
    ``directions`` directions, each direction plane pooled by Gaussians on a ``grid`` x
    ``grid`` lattice, after cubic-spline upsampling by ``upsample``; values raised to
    ``power`` (see :func:`digitrec.kernels.gradient_directions`).

    Smooth pooling makes them tolerant of small shifts and stroke-shape differences, which
    is what generalises to new writers (chosen by writer-block CV on optdigits).
    """

    _prefix = "gradient"

    def __init__(
        self,
        directions: int = 8,
        grid: int = 8,
        upsample: int = 4,
        blur: float = 0.5,
        power: float = 0.5,
    ):
        self.directions = directions
        self.grid = grid
        self.upsample = upsample
        self.blur = blur
        self.power = power

    def transform(self, X):
        return kernels.gradient_directions(
            as_images(X),
            directions=self.directions,
            grid=self.grid,
            upsample=self.upsample,
            blur=self.blur,
            power=self.power,
        )


class PCA(KeepsDerived, decomposition.PCA):
    """:class:`sklearn.decomposition.PCA` (the same fit) whose ``transform`` checks the
    common case cheaply: a finite float64 array of the fitted width, from a model fitted
    without feature names. scikit-learn's per-call checks cost about as much as projecting
    one image, and it projects the mean again on every call; here the mean's
    projection is made once (kept in memory, not saved). The arithmetic is scikit-learn's,
    so the output is the same to the bit (tests/transforms/test_features.py). Anything else, and
    whitening, goes to scikit-learn.

    :meth:`transform_leading` projects on the leading components only, for a classifier
    that reads only those for most samples
    (:meth:`digitrec.models.cascade.SVCCascade.predict_through`).
    """

    def transform(self, X):
        if self._plain(X):
            out = X @ self.components_.T  # as scikit-learn's _transform
            out -= self._mean_projection()
            return out
        return super().transform(X)

    def transform_leading(self, X, n_components: int) -> np.ndarray:
        """The first ``n_components`` columns of ``transform(X)``, computed alone.

        Reads ``n_components`` rows of ``components_`` instead of all of them: with 40 of
        200 components of 2,080 MNIST features, 0.7 MB per call instead of 3.3 MB. The
        same arithmetic on fewer components; BLAS may round it differently (by an ulp),
        since how it splits a product depends on the product's shape.
        """
        if not hasattr(self, "n_components_"):
            check_is_fitted(self)  # raises NotFittedError
        if isinstance(n_components, bool) or not (
            isinstance(n_components, Integral) and 1 <= n_components <= self.n_components_
        ):
            raise ValueError(
                f"n_components must be an integer from 1 to the {self.n_components_} "
                f"components, got {n_components!r}"
            )
        if self._plain(X):
            out = X @ self.components_[:n_components].T
            out -= self._mean_projection()[:, :n_components]
            return out
        return self.transform(X)[:, :n_components]

    def _plain(self, X) -> bool:
        """Whether ``X`` is the common case that needs none of scikit-learn's checks."""
        return (
            type(X) is np.ndarray
            and X.dtype == np.float64
            and X.ndim == 2
            and not self.whiten
            and getattr(self, "components_", None) is not None
            and self.components_.dtype == np.float64
            and not hasattr(self, "feature_names_in_")
            and X.shape[1] == self.n_features_in_
            and bool(np.isfinite(X).all())
        )

    def _mean_projection(self) -> np.ndarray:
        """``mean_ @ components_.T`` as scikit-learn computes it, shape (1, n_components)."""
        return self._derived(
            "mean_projection",
            (self.components_, self.mean_),
            lambda: np.reshape(self.mean_, (1, -1)) @ self.components_.T,
        )
