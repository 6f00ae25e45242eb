"""Load a digit dataset as train/test arrays: bundled ``digits``, ``mnist`` or ``optdigits``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec.data.download import default_cache_dir, fetch_file, resolve_mirrors
from digitrec.data.errors import DataFormatError
from digitrec.data.idx import read_idx_gz
from digitrec.data.optdigits import read_optdigits
from digitrec.data.sources import MNIST_SOURCE, OPTDIGITS_SOURCE, DatasetSource
from digitrec.registry import DATASETS

__all__ = ["DATASETS", "Dataset", "load_dataset"]

_Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of grey-level digit images (ink is bright) and their labels.

    Images are ``(n, height, width)`` uint8 arrays, labels ``(n,)`` uint8 arrays of 0..9.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or labels.dtype != np.uint8:
                raise TypeError(
                    f"{split} images and labels must be uint8, got {images.dtype} and "
                    f"{labels.dtype}."
                )
            if images.ndim != 3 or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{split} images must be (n, height, width) with labels (n,), got "
                    f"{images.shape} and {labels.shape}."
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {self.train_images.shape[1:]} and "
                f"{self.test_images.shape[1:]}."
            )

    def head(self, limit: int) -> Dataset:
        """The first ``limit`` training and the first ``limit`` test examples (0: all)."""
        n = int(limit) or None
        splits = (self.train_images, self.train_labels, self.test_images, self.test_labels)
        return Dataset(self.name, *(np.array(a[:n], dtype=np.uint8, order="C") for a in splits))

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return self.train_images.shape[1], self.train_images.shape[2]


def load_dataset(
    name: str,
    *,
    test_size: float,
    seed: int,
    limit: int = 0,
    mirrors: Sequence[str] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`digitrec.registry.DATASETS`, by its loader);
    the same arguments always give identical arrays.

    ``digits`` is scikit-learn's bundled copy of optdigits' test set, split with a
    stratified ``train_test_split(test_size=test_size, random_state=seed)``. ``mnist``
    (60,000/10,000) and ``optdigits`` (3,823/1,797) are fetched through ``mirrors`` (or
    ``$DIGITREC_MIRRORS``, or the public mirrors) into ``cache_dir`` (default:
    :func:`~digitrec.data.download.default_cache_dir`) and use their official split;
    ``test_size`` and ``seed`` are ignored for them. ``limit > 0`` keeps the first
    ``limit`` training and the first ``limit`` test examples.
    """
    if name not in DATASETS:
        allowed = ", ".join(repr(d) for d in DATASETS)
        raise ValueError(f"Unknown dataset {name!r}; expected one of {allowed}.")
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer (0 for all), got {limit!r}.")
    split = DATASETS[name].load(
        test_size=test_size, seed=seed, mirrors=mirrors, cache_dir=cache_dir, progress=progress
    )
    n = int(limit) or None
    arrays = (np.array(a[:n], dtype=np.uint8, order="C") for a in split)
    return Dataset(name, *arrays)


# The loaders digitrec.registry.DATASETS names, all called as (test_size, seed, mirrors,
# cache_dir, progress) -> (train_images, train_labels, test_images, test_labels).
def load_digits(
    test_size: float,
    seed: int,
    mirrors: Sequence[str],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> _Split:
    """scikit-learn's bundled digits, split with a stratified ``train_test_split`` (no
    download: ``mirrors``, ``cache_dir`` and ``progress`` unused)."""
    from sklearn.datasets import load_digits as bundled_digits
    from sklearn.model_selection import train_test_split

    bunch = bundled_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return train_x, train_y, test_x, test_y


def _fetch(
    source: DatasetSource,
    mirrors: Sequence[str],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> dict[str, Path]:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    chosen = resolve_mirrors(mirrors, source.mirrors)
    return {f.name: fetch_file(f, chosen, cache, progress=progress) for f in source.files}


def load_mnist(
    test_size: float,
    seed: int,
    mirrors: Sequence[str],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> _Split:
    """MNIST's official 60,000/10,000 split (``test_size`` and ``seed`` unused)."""
    paths = _fetch(MNIST_SOURCE, mirrors, cache_dir, progress)
    out = []
    for prefix in ("train", "t10k"):
        images_path = paths[f"{prefix}-images-idx3-ubyte.gz"]
        labels_path = paths[f"{prefix}-labels-idx1-ubyte.gz"]
        images, labels = read_idx_gz(images_path), read_idx_gz(labels_path)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataFormatError(
                f"{images_path}: expected images of shape (n, 28, 28), got {images.shape}."
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataFormatError(
                f"{labels_path}: expected {len(images)} labels (one per image), got an "
                f"array of shape {labels.shape}."
            )
        if labels.size and labels.max() > 9:
            raise DataFormatError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}.")
        out += [images, labels]
    return out[0], out[1], out[2], out[3]


def load_optdigits(
    test_size: float,
    seed: int,
    mirrors: Sequence[str],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> _Split:
    """optdigits' official 3,823/1,797 split (``test_size`` and ``seed`` unused)."""
    paths = _fetch(OPTDIGITS_SOURCE, mirrors, cache_dir, progress)
    out: list[np.ndarray] = []
    for name in ("optdigits.tra", "optdigits.tes"):
        try:
            text = paths[name].read_text(encoding="ascii")
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"{paths[name]} is not ASCII text: {exc}") from None
        try:
            out += read_optdigits(text)
        except DataFormatError as exc:
            raise DataFormatError(f"{paths[name]}: {exc}") from None
    return out[0], out[1], out[2], out[3]
