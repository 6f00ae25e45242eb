"""The batch kernels against their per-image scikit-image / SciPy references."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from digitrec import kernels
from digitrec.kernels import _geometry

ATOL = 1e-6


def _max_diff(a, b) -> float:
    assert a.shape == b.shape
    return float(np.abs(a - b).max(initial=0.0))


@pytest.fixture(scope="module")
def unit_digits(digits) -> np.ndarray:
    """Real 8x8 digits scaled to [0, 1], float64."""
    return digits[0][:60] / 16.0


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(20240607)


def _nasty_images(rng, n, shape) -> np.ndarray:
    """Integer-valued images with exact gradient angles (0, 45, 90, 135 degrees are bin
    boundaries for 4 or 8 orientations), signed zeros and gradients so tiny next to their
    neighbour that arctan2 rounds to exactly 180 degrees (which scikit-image drops)."""
    x = rng.integers(0, 3, size=(n, *shape)).astype(np.float64)
    x[rng.random(x.shape) < 0.1] = -0.0
    x[rng.random(x.shape) < 0.05] = 1e-20
    return x


# --------------------------------------------------------------------------------------
# HOG
# --------------------------------------------------------------------------------------

HOG_CASES = [
    # (image shape, orientations, pixels_per_cell, cells_per_block)
    ((8, 8), 9, (2, 2), (2, 2)),
    ((8, 8), 9, (4, 4), (1, 1)),
    ((8, 8), 8, (2, 2), (3, 3)),
    ((8, 8), 4, (1, 1), (2, 2)),
    ((28, 28), 9, (4, 4), (2, 2)),
    ((28, 28), 12, (7, 7), (3, 3)),
    ((13, 17), 7, (4, 5), (2, 2)),  # not multiples of the cell size
    ((15, 11), 39, (3, 2), (1, 3)),  # odd cells; (180/39)*39 < 180 drops some pixels
]


@pytest.mark.parametrize("block_norm", kernels.BLOCK_NORMS)
@pytest.mark.parametrize(("shape", "orientations", "ppc", "cpb"), HOG_CASES)
def test_hog_matches_skimage_on_random_images(rng, shape, orientations, ppc, cpb, block_norm):
    images = np.concatenate([rng.random((6, *shape)), _nasty_images(rng, 4, shape)])
    kw = dict(
        orientations=orientations, pixels_per_cell=ppc, cells_per_block=cpb, block_norm=block_norm
    )
    out = kernels.hog(images, **kw)
    assert out.dtype == np.float64
    assert out.shape == (
        len(images),
        kernels.hog_n_features(
            shape, **{k: kw[k] for k in ("orientations", "pixels_per_cell", "cells_per_block")}
        ),
    )
    assert _max_diff(out, kernels.hog_reference(images, **kw)) < ATOL


@pytest.mark.parametrize("block_norm", kernels.BLOCK_NORMS)
@pytest.mark.parametrize(
    ("orientations", "ppc", "cpb", "transform_sqrt"),
    [(9, (2, 2), (2, 2), False), (8, (4, 4), (1, 1), True), (6, (2, 3), (3, 2), True)],
)
def test_hog_matches_skimage_on_real_digits(
    unit_digits, orientations, ppc, cpb, transform_sqrt, block_norm
):
    kw = dict(
        orientations=orientations,
        pixels_per_cell=ppc,
        cells_per_block=cpb,
        block_norm=block_norm,
        transform_sqrt=transform_sqrt,
    )
    assert (
        _max_diff(kernels.hog(unit_digits, **kw), kernels.hog_reference(unit_digits, **kw)) < ATOL
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.int32, np.bool_])
def test_hog_follows_skimage_for_other_dtypes(digits, dtype):
    # float32/float16 are processed in float32 by scikit-image, the rest in float64
    raw = digits[0][:20]
    images = (raw / 16.0).astype(dtype) if np.dtype(dtype).kind == "f" else raw.astype(dtype)
    kw = dict(orientations=9, pixels_per_cell=(2, 2), cells_per_block=(2, 2))
    out = kernels.hog(images, **kw)
    assert out.dtype == np.float64
    assert _max_diff(out, kernels.hog_reference(images, **kw)) < ATOL


@pytest.mark.parametrize("orientations", [8, 9])
def test_hog_of_still_and_moving_pixels_matches_skimage(rng, unit_digits, orientations):
    # digits are mostly still pixels (no gradient, q = 0: on the 90-degree boundary with 8
    # orientations), ramps have a gradient everywhere
    ramps = np.cumsum(rng.random((5, 8, 8)), axis=2) + np.cumsum(rng.random((5, 8, 8)), axis=1)
    images = np.concatenate([unit_digits[:20], _nasty_images(rng, 5, (8, 8)), ramps])
    kw = dict(orientations=orientations, pixels_per_cell=(2, 2), cells_per_block=(2, 2))
    assert _max_diff(kernels.hog(images, **kw), kernels.hog_reference(images, **kw)) < ATOL


def test_hog_of_flat_and_empty_batches():
    out = kernels.hog(np.zeros((3, 8, 8)), pixels_per_cell=(2, 2), cells_per_block=(2, 2))
    np.testing.assert_array_equal(out, 0.0)
    empty = kernels.hog(np.zeros((0, 28, 28)), pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    assert empty.shape == (0, 36 * 4 * 9)


def test_hog_is_independent_of_batch_composition(unit_digits):
    kw = dict(pixels_per_cell=(2, 2), cells_per_block=(2, 2))
    whole = kernels.hog(unit_digits, **kw)
    one_by_one = np.concatenate([kernels.hog(im[None], **kw) for im in unit_digits[:5]])
    np.testing.assert_array_equal(whole[:5], one_by_one)


def test_hog_n_features():
    assert kernels.hog_n_features((28, 28), pixels_per_cell=(4, 4), cells_per_block=(2, 2)) == (
        6 * 6 * 2 * 2 * 9
    )
    assert (
        kernels.hog_n_features(
            (8, 8), orientations=8, pixels_per_cell=(4, 4), cells_per_block=(1, 1)
        )
        == 2 * 2 * 8
    )


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (
            np.zeros((8, 8)),
            {},
            r"3-D array of shape \(n_images, height, width\).*image\[np.newaxis\]",
        ),
        (np.zeros((2, 64)), {}, r"3-D array.*got an array of shape \(2, 64\)"),
        (np.array([[["a"]]]), {}, "must hold real numbers"),
        (np.zeros((1, 2, 2), dtype=complex), {}, "must hold real numbers.*complex"),
        (np.zeros((1, 8, 8), dtype="m8[s]"), {}, "must hold real numbers.*timedelta"),
        (np.zeros((1, 8, 8)), {"orientations": True}, "orientations must be a positive integer"),
        (np.zeros((1, 8, 8)), {"pixels_per_cell": (4, 0)}, "pixels_per_cell must be a pair"),
        (
            np.full((1, 8, 8), np.nan),
            {"pixels_per_cell": (4, 4), "cells_per_block": (1, 1)},
            "NaN or infinite",
        ),
        (np.zeros((1, 8, 8)), {"orientations": 0}, "orientations must be a positive integer"),
        (np.zeros((1, 8, 8)), {"orientations": 2.5}, "orientations must be a positive integer"),
        (np.zeros((1, 8, 8)), {"pixels_per_cell": (0, 4)}, "pixels_per_cell must be a pair"),
        (np.zeros((1, 8, 8)), {"pixels_per_cell": (4,)}, "pixels_per_cell must be a pair"),
        (np.zeros((1, 8, 8)), {"cells_per_block": "2"}, "cells_per_block must be a pair"),
        (np.zeros((1, 8, 8)), {"block_norm": "L3"}, r"block_norm must be one of \['L1', "),
        (np.zeros((1, 8, 8)), {"transform_sqrt": "yes"}, "transform_sqrt must be True or False"),
        (
            -np.ones((1, 8, 8)),
            {"transform_sqrt": True, "pixels_per_cell": (2, 2), "cells_per_block": (2, 2)},
            "with transform_sqrt=True, non-negative images are required",
        ),
        (
            np.zeros((1, 8, 8)),
            {"pixels_per_cell": (4, 4), "cells_per_block": (3, 3)},
            r"too small for pixels_per_cell=\(4, 4\).*at least 12 rows and 12 columns",
        ),
    ],
)
def test_hog_rejects_bad_arguments(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kernels.hog(images, **kwargs)


# --------------------------------------------------------------------------------------
# moments, deskew and center
# --------------------------------------------------------------------------------------


def _naive_moments(images):
    _, h, w = images.shape
    r = np.arange(h)[:, None]
    c = np.arange(w)[None, :]
    total = images.sum(axis=(1, 2))
    r0 = (images * r).sum(axis=(1, 2)) / total
    c0 = (images * c).sum(axis=(1, 2)) / total
    dr = r - r0[:, None, None]
    dc = c - c0[:, None, None]
    mu02 = (images * dr * dr).sum(axis=(1, 2))
    mu11 = (images * dr * dc).sum(axis=(1, 2))
    mu20 = (images * dc * dc).sum(axis=(1, 2))
    return total, r0, c0, mu02, mu11, mu20


def test_moments_match_the_definition_and_do_not_depend_on_the_batch(rng, unit_digits):
    images = np.ascontiguousarray(np.concatenate([unit_digits, rng.random((20, 8, 8))]))
    got = _geometry._moments(images)
    for g, e in zip(got, _naive_moments(images)[:5], strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    for i in (0, 7, len(images) - 1):  # bitwise, so reference and batch shear alike
        alone = _geometry._moments(np.ascontiguousarray(images[i : i + 1]))
        for g, a in zip(got, alone, strict=True):
            assert g[i] == a[0]


def test_deskew_is_independent_of_batch_composition(rng, unit_digits):
    images = np.concatenate([unit_digits, rng.random((5, 8, 8))])
    one_by_one = np.concatenate([kernels.deskew(im[None]) for im in images])
    np.testing.assert_array_equal(kernels.deskew(images), one_by_one)


def _geometric_inputs(rng, unit_digits):
    symmetric = rng.random((6, 9, 7))
    symmetric = symmetric + symmetric[:, ::-1] + symmetric[:, :, ::-1]  # r0, c0 on the grid
    sparse = rng.random((6, 11, 10)) * (rng.random((6, 11, 10)) < 0.15)
    return {
        "digits": unit_digits,
        "random": rng.random((10, 12, 9)),
        "raw-scale": rng.random((4, 28, 28)) * 255,
        "symmetric": symmetric,
        "sparse": sparse,
        "integers": rng.integers(0, 4, size=(10, 6, 6)).astype(float),
        "one-pixel": np.pad(np.ones((3, 1, 1)), ((0, 0), (1, 3), (4, 0))),
        "one-row": np.pad(rng.random((3, 1, 6)), ((0, 0), (2, 2), (0, 0))),
        "column": rng.random((3, 7, 1)),
        "row": rng.random((3, 1, 7)),
    }


@pytest.mark.parametrize(
    ("kernel", "reference"),
    [(kernels.deskew, kernels.deskew_reference), (kernels.center, kernels.center_reference)],
)
def test_geometric_kernels_match_scipy(rng, unit_digits, kernel, reference):
    for name, images in _geometric_inputs(rng, unit_digits).items():
        out = kernel(images)
        assert out.dtype == np.float64 and out.shape == images.shape, name
        expected = np.stack([reference(im) for im in images])
        assert _max_diff(out, expected) < ATOL, name


@pytest.mark.parametrize("kernel", [kernels.deskew, kernels.center])
def test_geometric_kernels_keep_blank_images_and_accept_integers(digits, kernel):
    images = digits[0][:10].copy()
    images[[2, 5]] = 0
    out = kernel(images)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[[2, 5]], 0.0)
    np.testing.assert_allclose(out, kernel(images / 1.0), atol=0)
    assert kernel(np.zeros((0, 8, 8))).shape == (0, 8, 8)


def test_deskew_removes_mu11_and_keeps_the_centre_of_mass(unit_digits):
    before = _naive_moments(unit_digits)
    out = kernels.deskew(unit_digits)
    after = _naive_moments(out)
    kept = np.abs(after[0] - before[0]) < 1e-9 * before[0]  # no ink sheared off the image
    assert kept.mean() > 0.8
    assert np.abs(before[4] / np.sqrt(before[3] * before[5]))[kept].max() > 0.2  # was skewed
    np.testing.assert_allclose(after[4][kept], 0.0, atol=1e-9)  # mu11 now 0
    np.testing.assert_allclose(after[1][kept], before[1][kept], atol=1e-9)  # r0 kept
    np.testing.assert_allclose(after[2][kept], before[2][kept], atol=1e-9)  # c0 kept


def test_center_moves_the_centre_of_mass_to_the_middle(unit_digits):
    # off-centre digits on a 13x12 canvas, with room to move without losing ink
    images = np.pad(unit_digits, ((0, 0), (1, 4), (3, 1)))
    before = _naive_moments(images)
    after = _naive_moments(kernels.center(images))
    np.testing.assert_allclose(after[0], before[0], rtol=1e-12)
    assert np.abs(before[1] - 6.0).min() > 0.5
    np.testing.assert_allclose(after[1], 6.0, atol=1e-9)
    np.testing.assert_allclose(after[2], 5.5, atol=1e-9)


@pytest.mark.parametrize("kernel", [kernels.deskew, kernels.center])
@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((8, 8)), r"3-D array of shape \(n_images, height, width\)"),
        (-np.ones((1, 8, 8)), "intensities are weights: non-negative images are required"),
        (np.full((1, 8, 8), np.inf), "NaN or infinite"),
        (np.array([[["x"]]]), "must hold real numbers"),
    ],
)
def test_geometric_kernels_reject_bad_images(kernel, images, message):
    with pytest.raises(ValueError, match=message):
        kernel(images)


# --------------------------------------------------------------------------------------
# The compiled loops' disk cache
# --------------------------------------------------------------------------------------


def test_compiled_kernels_loaded_from_the_cache_give_the_same_bytes(tmp_path, unit_digits):
    # this process has compiled (or loaded) them; a new one loads numba's cache from disk
    np.save(tmp_path / "images.npy", unit_digits)
    code = """if True:
        import sys
        import numpy as np
        from digitrec import kernels
        images = np.load(sys.argv[1])
        hogs = [kernels.hog(images, orientations=o, pixels_per_cell=2, cells_per_block=2,
                            block_norm=norm) for o, norm in ((9, "L1"), (6, "L1-sqrt"),
                                                             (9, "L2"), (9, "L2-Hys"))]
        np.savez(sys.argv[2], deskew=kernels.deskew(images), *hogs)
    """
    out = tmp_path / "out.npz"
    for _ in range(2):  # the first run may compile (a cold cache), the second loads
        run = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "images.npy"), str(out)],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
    saved = np.load(out)
    assert saved["deskew"].tobytes() == kernels.deskew(unit_digits).tobytes()
    for i, (o, norm) in enumerate(((9, "L1"), (6, "L1-sqrt"), (9, "L2"), (9, "L2-Hys"))):
        kw = dict(orientations=o, pixels_per_cell=2, cells_per_block=2, block_norm=norm)
        assert saved[f"arr_{i}"].tobytes() == kernels.hog(unit_digits, **kw).tobytes()


def test_compiled_kernels_run_where_numba_can_cache_nothing(tmp_path, unit_digits):
    # as on a read-only install with no writable cache directory: numba finds no place for
    # its cache (simulated with the one locator that works only inside IPython)
    np.save(tmp_path / "images.npy", unit_digits)
    code = """if True:
        import sys
        import numpy as np
        from digitrec import kernels
        images = np.load(sys.argv[1])
        hog = kernels.hog(images, pixels_per_cell=2)
        np.savez(sys.argv[2], deskew=kernels.deskew(images), hog=hog)
    """
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    out = tmp_path / "out.npz"
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "images.npy"), str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    saved = np.load(out)
    assert saved["deskew"].tobytes() == kernels.deskew(unit_digits).tobytes()
    assert saved["hog"].tobytes() == kernels.hog(unit_digits, pixels_per_cell=2).tobytes()


# --------------------------------------------------------------------------------------
# Gradient directions
# --------------------------------------------------------------------------------------

GRADIENT_CASES = [
    # (image shape, directions, grid, upsample, blur, power)
    ((8, 8), 8, 8, 4, 0.5, 0.5),  # the optdigits recipe
    ((8, 8), 4, 4, 1, 0.5, 1.0),
    ((8, 8), 12, 5, 2, 0.8, 0.5),
    ((28, 28), 8, 7, 1, 0.5, 0.5),
    ((13, 17), 6, 3, 2, 1.0, 0.3),  # not square
]


@pytest.mark.parametrize(
    ("shape", "directions", "grid", "upsample", "blur", "power"), GRADIENT_CASES
)
def test_gradient_directions_match_the_scipy_reference(
    rng, shape, directions, grid, upsample, blur, power
):
    images = np.concatenate([rng.random((4, *shape)), _nasty_images(rng, 2, shape)])
    kw = dict(directions=directions, grid=grid, upsample=upsample, blur=blur, power=power)
    out = kernels.gradient_directions(images, **kw)
    assert out.dtype == np.float64
    assert out.shape == (len(images), kernels.gradient_n_features(directions=directions, grid=grid))
    expected = np.stack([kernels.gradient_directions_reference(im, **kw) for im in images])
    assert _max_diff(out, expected) < ATOL


def test_gradient_directions_match_the_reference_on_real_digits(unit_digits):
    out = kernels.gradient_directions(unit_digits[:20])
    expected = np.stack([kernels.gradient_directions_reference(im) for im in unit_digits[:20]])
    assert _max_diff(out, expected) < ATOL


def test_gradient_directions_do_not_depend_on_the_batch(monkeypatch, unit_digits):
    from digitrec.kernels import _gradient

    whole = kernels.gradient_directions(unit_digits)
    monkeypatch.setattr(_gradient, "_GRADIENT_CHUNK_PIXELS", 3 * 32 * 32)  # 3 images a chunk
    chunked = kernels.gradient_directions(unit_digits)
    one_by_one = np.concatenate([kernels.gradient_directions(im[None]) for im in unit_digits[:5]])
    np.testing.assert_allclose(chunked, whole, atol=1e-12)
    np.testing.assert_allclose(one_by_one, whole[:5], atol=1e-12)


def test_gradient_directions_of_flat_and_empty_batches():
    np.testing.assert_array_equal(kernels.gradient_directions(np.zeros((2, 8, 8))), 0.0)
    assert kernels.gradient_directions(np.zeros((0, 8, 8))).shape == (0, 8 * 8 * 8)


def test_gradient_directions_follow_the_stroke(unit_digits):
    # a vertical bar's gradients point left and right (directions 0 and 4 of 8): nothing
    # in the diagonal or vertical directions
    bar = np.zeros((1, 8, 8))
    bar[0, 1:7, 3:5] = 1.0
    planes = kernels.gradient_directions(bar, upsample=1, grid=2, power=1.0).reshape(8, 2, 2)
    assert planes[[0, 4]].sum() > 10 * planes[[2, 6]].sum()
    assert planes[0].sum() == pytest.approx(planes[4].sum())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"directions": 1}, "directions must be an integer >= 2"),
        ({"grid": 0}, "grid must be an integer >= 1"),
        ({"upsample": 2.0}, "upsample must be an integer >= 1"),
        ({"blur": 0}, "blur must be a positive number"),
        ({"power": 1.5}, r"power must be in \(0, 1\]"),
    ],
)
def test_gradient_directions_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kernels.gradient_directions(np.zeros((1, 8, 8)), **kwargs)


def test_gradient_directions_reject_bad_images():
    with pytest.raises(ValueError, match="3-D array"):
        kernels.gradient_directions(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        kernels.gradient_directions(np.full((1, 8, 8), np.nan))
