"""Fast batch image kernels that reproduce their scikit-image / SciPy references.

Every function takes a whole batch of images, an array of shape ``(n_images, height,
width)``: ``hog`` and ``deskew`` run a loop over its images compiled with numba
(:mod:`digitrec.kernels._compiled`, compiled on first use and cached on disk), the others
a few numpy operations per chunk of images.  Each has a per-image reference (``hog_reference``,
``deskew_reference``, ``center_reference``) built on the library routine it reproduces;
the tests check that the two agree to 1e-6.  In practice HOG agrees to ~1e-7 (scikit-image
sums its cells in float32, we sum in float64), center to ~1e-15 (the same float64
arithmetic as SciPy, including its exact treatment of the image border) and deskew to
~1e-14 (the same, except that its compiled loop sums the moments in another order than
the reference).

``hog``
    Histogram of oriented gradients, equal to ``skimage.feature.hog(image, ...,
    feature_vector=True)`` for each image.
``deskew``
    Horizontal shear that makes the second-order moment ``mu11`` zero while keeping the
    centre of mass fixed (bilinear, zeros outside), equal to
    ``scipy.ndimage.affine_transform(..., order=1, mode="constant")``.
``gradient_directions``
    Gradient-direction features (Liu et al. 2003): each pixel's Sobel gradient split
    between its two nearest standard directions, each direction plane pooled by Gaussians
    on a lattice, after cubic-spline upsampling; equal to
    ``gradient_directions_reference``, built on ``scipy.ndimage.zoom`` and ``sobel``.
``center``
    Translation that puts the centre of mass at the geometric centre (bilinear, zeros
    outside), equal to ``scipy.ndimage.shift(..., order=1, mode="constant")``.

scikit-image and SciPy are only imported by the references (and, once per image size, to
build ``gradient_directions``' interpolation matrix).
"""

from digitrec.kernels._geometry import center, center_reference, deskew, deskew_reference
from digitrec.kernels._gradient import (
    gradient_directions,
    gradient_directions_reference,
    gradient_n_features,
)
from digitrec.kernels._hog import BLOCK_NORMS, hog, hog_n_features, hog_reference

__all__ = [
    "BLOCK_NORMS",
    "center",
    "center_reference",
    "deskew",
    "deskew_reference",
    "gradient_directions",
    "gradient_directions_reference",
    "gradient_n_features",
    "hog",
    "hog_n_features",
    "hog_reference",
]
