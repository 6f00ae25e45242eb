"""Noise and edge-to-edge lines taken out of grey images, alone and in a batch."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.imagespec import DIGITS, MNIST
from digitrec.transforms import cleaning


def digit(rng: np.random.Generator) -> np.ndarray:
    """A 28x28 ring, bright on dark, well inside the image, anti-aliased at its edge."""
    yy, xx = np.mgrid[:28, :28]
    r = np.hypot(yy - 14, xx - 14)
    return np.clip(2.5 - np.abs(r - 7), 0, 1) * rng.uniform(0.8, 1.0)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_noise_estimate():
    rng = np.random.default_rng(5)
    for sigma in (0.02, 0.1, 0.2):
        flat = 0.5 + rng.normal(0, sigma, (200, 200))
        assert cleaning.noise_sigma(flat) == pytest.approx(sigma, rel=0.1)
    assert cleaning.noise_sigma(digit(rng)) < 0.01  # flat background, smooth strokes
    batch = np.stack([digit(rng), 0.5 + rng.normal(0, 0.1, (28, 28))])
    np.testing.assert_allclose(
        cleaning.noise_sigma(batch), [cleaning.noise_sigma(b) for b in batch]
    )


def test_roomy():
    assert cleaning.roomy((28, 28), MNIST) and cleaning.roomy((500, 300), DIGITS)
    assert not cleaning.roomy((8, 8), DIGITS) and not cleaning.roomy((27, 200), MNIST)


def test_clean_images_pass_unchanged():
    rng = np.random.default_rng(6)
    x = np.stack([digit(rng) for _ in range(5)])
    assert cleaning.clean(x) is x


def test_noisy_images_are_smoothed_and_the_rest_left_alone():
    rng = np.random.default_rng(7)
    x = np.stack([digit(rng) for _ in range(4)])
    noisy = x.copy()
    noisy[::2] = (noisy[::2] + rng.normal(0, 0.3, noisy[::2].shape)).clip(0, 1)
    out = cleaning.clean(noisy)
    np.testing.assert_array_equal(out[1::2], x[1::2])
    for smoothed, before, original in zip(out[::2], noisy[::2], x[::2], strict=True):
        assert corr(smoothed, original) > max(0.9, corr(before, original) + 0.05)


def test_streaks_are_erased_and_crossed_strokes_kept():
    rng = np.random.default_rng(8)
    x = digit(rng)
    streaked = x.copy()
    streaked[:, 14] = 1.0  # through the ring's top and bottom, and across its hole
    streaked[3, :] = 1.0  # a ruled line above it
    out = cleaning.clean(streaked[None])[0]
    np.testing.assert_array_equal(out[:, :3], x[:, :3])
    assert out[14, 14] == 0 and out[3].sum() == 0  # the hole is empty again, the row gone
    ring = x[:, 14] > 0
    assert np.all(out[ring & np.roll(ring, 1) & np.roll(ring, -1), 14] > 0)  # strokes bridged


def test_a_stroke_of_a_tight_crop_is_not_a_line():
    bar = np.zeros((28, 28))
    bar[:, 12:16] = 1.0  # a "1" from the top edge to the bottom one, nothing else
    np.testing.assert_array_equal(cleaning.clean(bar[None])[0], bar)
    seven = bar.copy()
    seven[:3, 2:] = 1.0  # its top bar reaches the left edge's margin: a tight crop
    np.testing.assert_array_equal(cleaning.ruled_lines(seven > 0), np.zeros_like(seven, bool))
