"""Helpers shared by the benchmark scripts (run them as ``python bench/<name>.py``).

``--save [PATH]`` (:func:`add_save_option`) makes a benchmark write its figures as JSON,
by default to ``bench/results/<name>.json``, with :func:`provenance`: when, on which
commit and on what machine they were measured. ``make docs`` renders them in
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from digitrec import kernels
from digitrec.data.idx import read_idx_gz

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
PACKAGES = ("numba", "numpy", "scikit-image", "scikit-learn", "scipy", "threadpoolctl")
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
    print(
        f"first calls of the compiled kernels (compile, or load from cache): {seconds:.2f} s, "
        "not in the figures"
    )


def git_commit(root: Path = ROOT) -> str:
    """HEAD's sha, with ``-dirty`` appended when a tracked file differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()

    sha = git("rev-parse", "HEAD")
    return sha + "-dirty" if git("status", "--porcelain", "--untracked-files=no") else sha


def cpu_model() -> str:
    """The CPU's model name as the OS reports it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def blas_libraries() -> list[dict[str, str]]:
    """The BLAS libraries loaded (numpy's and SciPy's), as threadpoolctl reports them:
    implementation, version and the CPU kernel family it selected."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, so that it is reported too)
    from threadpoolctl import threadpool_info

    found = {
        (info["internal_api"], info.get("version") or "", info.get("architecture") or "")
        for info in threadpool_info()
        if info["user_api"] == "blas"
    }
    return [{"api": a, "version": v, "architecture": arch} for a, v, arch in sorted(found)]


def machine() -> dict:
    """What the figures depend on besides the code: CPU, cores, BLAS, Python, packages."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "blas": blas_libraries(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": {name: metadata.version(name) for name in PACKAGES},
    }


def provenance(root: Path = ROOT) -> dict:
    """When (UTC), on which commit of ``root`` and on what machine figures are measured,
    and the machine's load average (1, 5, 15 minutes) then: other jobs slow a benchmark."""
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(root),
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (timings are not more precise)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def add_save_option(parser: argparse.ArgumentParser, name: str) -> None:
    default = RESULTS / f"{name}.json"
    parser.add_argument(
        "--save",
        type=Path,
        nargs="?",
        const=default,
        metavar="PATH",
        help=f"write the figures and their provenance as JSON to PATH "
        f"(default: {default.relative_to(ROOT)})",
    )


def save(path: Path, name: str, description: str, argv: list[str] | None, **figures) -> None:
    """Write a benchmark's figures, the command that measured them and their provenance."""
    args = sys.argv[1:] if argv is None else argv
    record = {
        "benchmark": name,
        "description": description,
        "command": shlex.join(["python", f"bench/{name}.py", *args]),
        "provenance": provenance(),
        **figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"saved to {path}")
