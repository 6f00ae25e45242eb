"""Image preprocessing as scikit-learn transformers: (n, h, w) images in, images out.

The first step of every model, :class:`ImageScaler`, is also the model's contract with the
outside world: it knows the raw image format (:class:`~digitrec.imagespec.ImageSpec`) the
model was trained on and rejects anything else with a clear message.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from digitrec import kernels
from digitrec.imagespec import ImageSpec
from digitrec.transforms import cleaning


def as_images(X, shape: tuple[int, int] | None = None, cast: bool = True) -> np.ndarray:
    """Return ``X`` as a float64 array of shape (n, h, w) (its own numeric dtype when
    ``cast`` is false).

    Accepts (n, h, w) images, or (n, h*w) rows when ``shape`` is given.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":  # bool, signed and unsigned integers, floats
        raise ValueError(f"expected numeric image data (real numbers), got dtype {X.dtype}")
    if X.ndim == 2 and shape is not None and X.shape[1] == shape[0] * shape[1]:
        X = X.reshape(len(X), *shape)
    if X.ndim != 3:
        expected = "(n_images, height, width)"
        if shape is not None:
            expected += f" or (n_images, {shape[0] * shape[1]})"
        raise ValueError(f"expected images of shape {expected}, got an array of shape {X.shape}")
    return X.astype(np.float64, copy=False) if cast else X


class _StatelessImageTransformer(
    TransformerMixin,
    BaseEstimator,
    auto_wrap_output_keys=None,  # type: ignore[call-arg]  # set_output's class keyword
):
    """Base for transformers that learn nothing: ``fit`` only records the input shape.

    Their output is images, not feature rows, so ``set_output`` does not apply: no
    output wrapper is installed around ``transform`` (a cost paid on every call).
    """

    def fit(self, X, y=None):
        self.image_shape_ = as_images(X).shape[1:]
        return self

    def _check(self, X, cast: bool = True) -> np.ndarray:
        X = as_images(X, getattr(self, "image_shape_", None), cast)
        if hasattr(self, "image_shape_") and X.shape[1:] != tuple(self.image_shape_):
            raise ValueError(
                f"{type(self).__name__} was fitted on {self.image_shape_} images, got {X.shape[1:]}"
            )
        return X


class ImageScaler(_StatelessImageTransformer):
    """Check raw images against ``spec`` and scale intensities to [0, 1].

    Parameters:
        spec: the raw format, e.g. 8x8 counts 0..16 (digits) or 28x28 grey 0..255 (MNIST).
    """

    def __init__(self, spec: ImageSpec):
        self.spec = spec

    def fit(self, X, y=None):
        self.image_shape_ = tuple(self.spec.shape)
        self._validated(X)
        return self

    def transform(self, X):
        return self._validated(X) / self.spec.max_value  # float64, whatever the input type

    def _validated(self, X) -> np.ndarray:
        """``X`` as images of the fitted shape, in its own dtype, with values in range."""
        X = self._check(X, cast=False)
        if X.dtype.kind in "fc" and not np.isfinite(X).all():
            raise ValueError("images contain NaN or infinite values")
        low, high = (X.min(), X.max()) if X.size else (0, 0)
        if low < 0 or high > self.spec.max_value:
            raise ValueError(
                f"pixel values must lie in [0, {self.spec.max_value}], "
                f"got values in [{low:g}, {high:g}]"
            )
        return X


class Clean(_StatelessImageTransformer):
    """Smooth noisy images and erase lines from edge to edge (scanner streaks, ruled paper)
    with :func:`digitrec.transforms.cleaning.clean`: images in [0, 1], ink bright.

    Clean images pass unchanged, so fitting on them learns what it would without this step.
    """

    def transform(self, X):
        return cleaning.clean(self._check(X))


class Deskew(_StatelessImageTransformer):
    """Shear each image so its principal axis is vertical (moment-based deskewing)."""

    def transform(self, X):
        return kernels.deskew(self._check(X))


class Center(_StatelessImageTransformer):
    """Translate each image so its centre of mass is at the image centre."""

    def transform(self, X):
        return kernels.center(self._check(X))
