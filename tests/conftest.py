"""Shared fixtures: tiny real data, and the shared read-only dataset mirror."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Pin BLAS/OpenMP to one thread, as the stages do (results never depend on it; on
    two shared cores OpenMP contention makes several threads far slower)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as raw (n, 8, 8) uint8 counts 0..16 and labels."""
    bunch = load_digits()
    return bunch.images.astype(np.uint8), bunch.target.astype(np.uint8)


@pytest.fixture(scope="session")
def small_digits(digits) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A quick train/test split: 500 train, 200 test images."""
    images, labels = digits
    return images[:500], labels[:500], images[500:700], labels[500:700]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout: byte-exact MNIST and optdigits files."""
    assert (SHARED_DATA / "mnist").is_dir(), f"shared data not found at {SHARED_DATA}"
    return SHARED_DATA
