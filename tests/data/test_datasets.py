from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from digitrec.data import DATASETS, Dataset, FetchError, load_dataset
from digitrec.params import FetchParams
from digitrec.registry import resolve


def assert_same(a: Dataset, b: Dataset) -> None:
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def assert_well_formed(data: Dataset, shape: tuple[int, int], max_value: int) -> None:
    for images, labels in [
        (data.train_images, data.train_labels),
        (data.test_images, data.test_labels),
    ]:
        assert images.dtype == np.uint8
        assert labels.dtype == np.uint8
        assert images.shape[1:] == shape
        assert labels.shape == images.shape[:1]
        assert images.max() <= max_value
        assert labels.max() <= 9


def test_digits_split_is_stratified(cache: Path) -> None:
    data = load_dataset("digits", test_size=0.25, seed=0, cache_dir=cache)
    assert data.name == "digits"
    assert len(data.train_labels) == 1347
    assert len(data.test_labels) == 450
    assert_well_formed(data, (8, 8), 16)
    assert data.image_shape == (8, 8)
    train, test = np.bincount(data.train_labels), np.bincount(data.test_labels)
    assert len(test) == 10
    # Each class is split in (nearly) the same proportion as the whole set.
    np.testing.assert_allclose(test / (train + test), 0.25, atol=0.01)
    assert not cache.exists()  # the bundled set needs no download


def test_digits_is_deterministic(cache: Path) -> None:
    a = load_dataset("digits", test_size=0.2, seed=7, cache_dir=cache)
    b = load_dataset("digits", test_size=0.2, seed=7, cache_dir=cache)
    c = load_dataset("digits", test_size=0.2, seed=8, cache_dir=cache)
    assert_same(a, b)
    assert not np.array_equal(a.train_labels, c.train_labels)


def test_limit_keeps_the_first_examples_of_each_split(cache: Path) -> None:
    full = load_dataset("digits", test_size=0.25, seed=0, cache_dir=cache)
    small = load_dataset("digits", test_size=0.25, seed=0, limit=10, cache_dir=cache)
    assert small.train_images.shape == (10, 8, 8)
    assert small.test_images.shape == (10, 8, 8)
    np.testing.assert_array_equal(small.train_images, full.train_images[:10])
    np.testing.assert_array_equal(small.test_labels, full.test_labels[:10])
    assert small.train_images.flags.c_contiguous
    assert small.train_images.flags.owndata


def test_optdigits_official_split(dataset_files: Path, cache: Path) -> None:
    mirror = str(dataset_files / "optdigits")
    data = load_dataset("optdigits", test_size=0.5, seed=1, mirrors=[mirror], cache_dir=cache)
    assert data.train_images.shape == (3823, 8, 8)
    assert data.test_images.shape == (1797, 8, 8)
    assert_well_formed(data, (8, 8), 16)
    assert sorted(p.name for p in (cache / "optdigits").iterdir()) == [
        "optdigits.tes",
        "optdigits.tra",
    ]
    # The official test set is exactly scikit-learn's bundled digits.
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.testing.assert_array_equal(data.test_images, digits.images)
    np.testing.assert_array_equal(data.test_labels, digits.target)
    # test_size and seed do not matter for an official split; the cache is reused.
    again = load_dataset("optdigits", test_size=0.2, seed=2, cache_dir=cache, mirrors=["/nope"])
    assert_same(data, again)


def test_mnist_over_http_with_limit(
    dataset_files: Path, serve: Callable[..., str], cache: Path
) -> None:
    url = serve(dataset_files / "mnist")
    data = load_dataset(
        "mnist", test_size=0.25, seed=0, limit=100, mirrors=[url], cache_dir=cache, progress=False
    )
    assert data.train_images.shape == (100, 28, 28)
    assert data.test_images.shape == (100, 28, 28)
    assert_well_formed(data, (28, 28), 255)
    assert data.train_labels[0] == 5
    assert data.test_labels[0] == 7
    assert data.train_images.max() == 255
    assert len(list((cache / "mnist").iterdir())) == 4


def test_environment_mirrors_win(
    dataset_files: Path, closed_port_url: str, cache: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DIGITREC_MIRRORS", str(dataset_files / "optdigits"))
    data = load_dataset(
        "optdigits", test_size=0.25, seed=0, limit=5, mirrors=[closed_port_url], cache_dir=cache
    )
    assert data.train_images.shape == (5, 8, 8)


def test_fetch_failure_reaches_the_caller(closed_port_url: str, cache: Path, monkeypatch) -> None:
    monkeypatch.delenv("DIGITREC_MIRRORS", raising=False)
    with pytest.raises(
        FetchError, match=r"(?s)optdigits\.tra .*from the only mirror:.* unreachable"
    ):
        load_dataset(
            "optdigits", test_size=0.25, seed=0, mirrors=[closed_port_url], cache_dir=cache
        )


def test_unknown_dataset_lists_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="Unknown dataset 'emnist'") as info:
        load_dataset("emnist", test_size=0.25, seed=0)
    for name in DATASETS:
        assert repr(name) in str(info.value)


def test_negative_limit(cache: Path) -> None:
    with pytest.raises(ValueError, match="limit must be a non-negative integer"):
        load_dataset("digits", test_size=0.25, seed=0, limit=-1, cache_dir=cache)


def test_dataset_checks_its_arrays() -> None:
    images = np.zeros((3, 8, 8), dtype=np.uint8)
    labels = np.zeros(3, dtype=np.uint8)
    Dataset("x", images, labels, images, labels)
    with pytest.raises(ValueError, match=r"labels \(n,\)"):
        Dataset("x", images, labels[:2], images, labels)
    with pytest.raises(TypeError, match="must be uint8"):
        Dataset("x", images.astype(float), labels, images, labels)


def test_every_registered_dataset_names_a_loader_and_its_own_source() -> None:
    assert get_args(FetchParams.model_fields["dataset"].annotation) == tuple(DATASETS)
    for name, entry in DATASETS.items():
        assert callable(resolve(entry.loader)), name
        source = entry.files()
        assert source is None or source.name == name
        assert source is None or all(f.dataset == name for f in source.files)
