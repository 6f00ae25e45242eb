"""Sharing the DVC cache through a remote: the real `dvc push` and `dvc pull` with a
local-folder remote (the same commands serve S3, GCS or SSH remotes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

# The outputs DVC caches (the rest, metrics and plots, are committed to git).
CACHED = ("data", "models/model.joblib", "models/model.skops")


def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def dvc(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run(cwd, env, sys.executable, "-m", "dvc", *args)


def cached_files(root: Path) -> dict[str, bytes]:
    files = {}
    for name in CACHED:
        path = root / name
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file() and file.name != ".gitignore":
                files[file.relative_to(root).as_posix()] = file.read_bytes()
    return files


def test_push_then_pull_brings_back_every_output_byte_for_byte(tmp_path, scratch_project):
    project, remote = tmp_path / "project", tmp_path / "remote"
    env = scratch_project(project, tmp_path / "downloads")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["fetch"]["limit"] = 300  # a small pipeline: this is about the cache, not the model
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(project, env, "git", "init", "-q", "-b", "main")
    dvc(project, env, "remote", "add", "-d", "storage", str(remote))
    dvc(project, env, "repro")
    run(project, env, "git", "add", "-A")
    run(project, env, "git", "commit", "-q", "-m", "reproduced, with a remote")
    outputs = cached_files(project)
    assert {
        "data/raw/train_images.npy",
        "data/features/train_features.npy",
        "models/model.skops",
        "models/model.joblib",
    } <= set(outputs)

    pushed = dvc(project, env, "push")
    assert "pushed" in pushed.stdout and any(remote.rglob("*"))
    assert "in sync" in dvc(project, env, "status", "--cloud").stdout

    # Lose every copy but the remote's: the cache and the workspace outputs.
    shutil.rmtree(project / ".dvc/cache")
    for name in CACHED:
        path = project / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert "deleted" in dvc(project, env, "status").stdout

    dvc(project, env, "pull")
    assert cached_files(project) == outputs
    assert dvc(project, env, "status", "--quiet").returncode == 0
    assert "up to date" in dvc(project, env, "status").stdout

    # A fresh clone of the repository gets the same files without running anything.
    clone = tmp_path / "clone"
    run(tmp_path, env, "git", "clone", "-q", str(project), str(clone))
    dvc(clone, env, "pull")
    assert cached_files(clone) == outputs
    assert "up to date" in dvc(clone, env, "status").stdout
    run(clone, env, "git", "diff", "--exit-code")
