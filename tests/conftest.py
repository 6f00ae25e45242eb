"""Shared fixtures: tiny real data, the real datasets' files, scratch projects."""

from __future__ import annotations

import ast
import copy
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"  # the datasets' mirror on development machines
TEST_DATA_ENV = "DIGITREC_TEST_DATA"
REQUIRE_DATA_ENV = "DIGITREC_REQUIRE_DATA"
# What a clone of the project holds before `dvc repro`: code, pipeline, params, rules, config.
PROJECT_FILES = (
    "src",
    "templates",
    "dvc.yaml",
    "params.yaml",
    "gate.yaml",
    "pyproject.toml",
    ".dvcignore",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
)


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
def small_digit_rows(small_digits) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``small_digits`` as rows of 64 intensities in [0, 1] (classifier input)."""
    x_train, y_train, x_test, y_test = small_digits
    return (
        x_train.reshape(len(x_train), -1) / 16,
        y_train,
        x_test.reshape(len(x_test), -1) / 16,
        y_test,
    )


@pytest.fixture(scope="session")
def dask_cluster():
    """A real Dask cluster on this machine: two single-threaded worker processes, started
    once (it takes seconds) for every test that asks for it."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture
def stage_dir(tmp_path, monkeypatch):
    """Factory: a project directory holding ``params.yaml`` (the project's, with
    ``sections`` updated) to run a stage's ``main`` in; it becomes the working directory."""

    def make(**sections) -> Path:
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        for section, values in sections.items():
            raw[section] = {**raw[section], **values} if isinstance(values, dict) else values
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        monkeypatch.chdir(tmp_path)
        return tmp_path

    return make


@pytest.fixture(scope="session")
def dataset_files() -> Path:
    """A directory holding every MNIST and optdigits file as ``<dataset>/<name>`` (the
    layout of a mirror), each fetched and verified (size, SHA-256) by the project's own
    downloader into the user's download cache (``$DIGITREC_CACHE``, else
    ``~/.cache/digitrec``), so each is fetched once per machine.

    The mirror: ``$DIGITREC_TEST_DATA`` if set (a directory or URL holding ``mnist/`` and
    ``optdigits/``, or a template with ``{dataset}``); else ``../shared/data`` beside the
    checkout where it exists; else the datasets' public mirrors. When none can provide
    the files, the tests that need them are skipped, saying how to supply them, or fail
    when ``$DIGITREC_REQUIRE_DATA`` is set (as .ci/run does).
    """
    from digitrec.data.download import default_cache_dir, fetch_file
    from digitrec.data.errors import FetchError
    from digitrec.registry import DATASETS

    given = os.environ.get(TEST_DATA_ENV, "").strip()
    if given:
        mirror: str | None = given if "{dataset}" in given else given.rstrip("/") + "/{dataset}"
    elif SHARED_DATA.is_dir():
        mirror = str(SHARED_DATA / "{dataset}")
    else:
        mirror = None  # each dataset's built-in public mirrors
    cache = default_cache_dir()
    for source in filter(None, (d.files() for d in DATASETS.values())):
        for remote in source.files:
            mirrors = [mirror] if mirror else list(source.mirrors)
            try:
                fetch_file(remote, mirrors, cache, progress=False, timeout=20)
            except FetchError as exc:
                why = (
                    f"MNIST and optdigits are not available ({exc.remote.dataset}/"
                    f"{exc.remote.name} could not be fetched from {', '.join(mirrors)}). "
                    f"Set {TEST_DATA_ENV} to a directory or URL holding mnist/ and "
                    "optdigits/ with the original files, or allow downloads from the "
                    "public mirrors."
                )
                if os.environ.get(REQUIRE_DATA_ENV):
                    pytest.fail(f"{why} ({REQUIRE_DATA_ENV} is set)\n{exc}", pytrace=False)
                pytest.skip(why)
    return cache


@pytest.fixture(scope="session")
def scratch_project():
    """Factory: copy the project into ``dest`` (to become a fresh git repository) and return
    the environment to run git and DVC there: this venv first on PATH, downloads cached in
    ``cache``, a fixed git identity, no user or system git config."""

    def make(dest: Path, cache: Path) -> dict[str, str]:
        for name in PROJECT_FILES:
            source, target = ROOT / name, dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1",
            "DIGITREC_CACHE": str(cache),
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        env.pop("DIGITREC_MIRRORS", None)
        return env

    return make


@pytest.fixture(scope="session")
def libsvm_clear_winners():
    """f(svc, x, margin): for each sample, the class of a fitted scikit-learn ``SVC`` that
    wins each of its one-vs-one duels by >= margin in libsvm's decision values, or -1;
    computed one sample and one class at a time (the reference for the batched code)."""

    def clear_winners(svc, x, margin: float) -> np.ndarray:
        n_classes = len(svc.classes_)
        if n_classes == 2:  # scikit-learn flips the sign of libsvm's binary value
            dec = -svc.decision_function(x)[:, None]
        else:
            ovo = copy.copy(svc).set_params(decision_function_shape="ovo")
            dec = ovo.decision_function(x)
        pairs = list(zip(*np.triu_indices(n_classes, k=1), strict=True))
        winners = []
        for row in dec:
            clear = []
            for c in range(n_classes):
                duels = [
                    v if i == c else -v for (i, j), v in zip(pairs, row, strict=True) if c in (i, j)
                ]
                if min(duels) >= margin:
                    clear.append(c)
            assert len(clear) <= 1
            winners.append(clear[0] if clear else -1)
        return np.array(winners)

    return clear_winners


# --- the code each DVC stage runs ------------------------------------------------------

SRC = ROOT / "src"


def stage_module(stage: dict) -> str:
    """The module a dvc.yaml stage runs (``PYTHONPATH=src python -m <module>``)."""
    cmd = stage["cmd"]
    assert cmd.startswith("PYTHONPATH=src python -m "), cmd
    return cmd.split()[-1]


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` under src/, or None (a name inside a module)."""
    path = SRC / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def imported_modules(name: str) -> set[str]:
    """The ``digitrec`` modules that module ``name``'s source imports anywhere."""
    source = module_file(name)
    assert source is not None, name
    package = name if source.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{node.module}" if node.module else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
    return {m for m in found if m.split(".")[0] == "digitrec" and module_file(m)}


def code_files(module: str) -> set[str]:
    """Every source file that importing and running ``module`` may execute: its imports,
    transitively, and the packages that contain each of them."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        todo += imported_modules(name)
    return {module_file(name).relative_to(ROOT).as_posix() for name in seen}


@pytest.fixture(scope="session")
def stage_code_files() -> dict[str, set[str]]:
    """dvc.yaml stage name -> every source file (relative to the project root) that its
    command imports, at module level or inside a function, followed transitively."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: code_files(stage_module(stage)) for name, stage in stages.items()}
