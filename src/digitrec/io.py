"""Atomic file I/O: every artifact is written to a temporary sibling, then renamed.

A reader therefore sees either the previous complete file or the new complete file,
never a half-written one, even if the writer is killed midway.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Works for files and directories. On error the temporary is removed and ``path`` is
    left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as stable, human-readable JSON (sorted keys, trailing newline)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextlib.contextmanager
def new_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces ``path`` as a whole on success."""
    with atomic_path(path) as tmp:
        tmp.mkdir()
        yield tmp


def write_arrays(directory: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write one ``<name>.npy`` per array into ``directory`` (byte-deterministic).

    Use inside :func:`new_directory` so the set of files appears all at once.
    """
    for name, array in arrays.items():
        np.save(Path(directory) / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def load_arrays(
    directory: str | os.PathLike[str], *names: str, mmap: bool = False
) -> tuple[np.ndarray, ...]:
    """``directory/<name>.npy`` for each name; with ``mmap``, memory-mapped read-only, so only
    the rows that are used are ever read."""
    directory = Path(directory)
    mode: Literal["r"] | None = "r" if mmap else None
    return tuple(
        np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False) for name in names
    )


def save_joblib(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_path(path) as tmp:
        joblib.dump(obj, tmp, compress=3)


def load_joblib(path: str | os.PathLike[str]) -> Any:
    return joblib.load(path)


def write_csv(path: str | os.PathLike[str], columns: dict[str, Any]) -> None:
    """Write equal-length ``columns`` as a CSV with a header row (``None`` as empty; a
    value holding a comma or a quote is quoted)."""
    names = list(columns)
    values = [list(v) for v in columns.values()]
    if len({len(v) for v in values}) > 1:
        raise ValueError(f"columns have different lengths: {[len(v) for v in values]}")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(zip(*values, strict=True))
    write_text(path, text.getvalue())
