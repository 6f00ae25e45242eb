"""Helpers shared by the benchmark scripts (run them as ``python bench/<name>.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from digitrec import kernels
from digitrec.data.idx import read_idx_gz

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
MNIST_FILES = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
FULL = 70_000


def load_mnist(directory: Path = MNIST_DIR) -> np.ndarray | None:
    """All MNIST images (train then test) as float64 in [0, 1], or None if absent."""
    paths = [directory / name for name in MNIST_FILES]
    if not all(p.is_file() for p in paths):
        return None
    return np.concatenate([read_idx_gz(p) for p in paths]) / 255.0


def best_of(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def first_kernel_calls() -> float:
    """Seconds of the first calls of the compiled kernels (deskew, HOG) in this process,
    made on one blank image: numba compiles them, or loads them from its cache on disk.
    Benchmarks make these calls before timing anything and print their time apart."""
    start = time.perf_counter()
    blank = np.zeros((1, 8, 8))
    kernels.deskew(blank)
    kernels.hog(blank, pixels_per_cell=2, cells_per_block=2)
    return time.perf_counter() - start


def print_first_kernel_calls() -> None:
    seconds = first_kernel_calls()
    print(f"first calls of the compiled kernels (compile, or load from cache): {seconds:.2f} s, "
          "not in the figures")  # fmt: skip
