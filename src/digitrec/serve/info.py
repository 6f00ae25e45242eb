"""What is being served: the model, and where the project records say it came from.

The project root is the nearest folder above the model holding ``dvc.yaml``. From it, when
present: ``dvc.lock`` (the params each stage ran with, the data versions, the model's md5,
compared with the served file), ``metrics/evaluate.json``, ``data/raw/dataset.json`` and the
git commit (read from ``.git``; git itself is not run). Anything missing is ``null``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from digitrec.artifact import Artifact
from digitrec.imagespec import DIGITS, ImageSpec
from digitrec.pipeline import image_spec

DATA_OUTS = ("fetch", "preprocess", "featurize")  # stages whose outs are the data versions
# The recipe to serve for real handwriting (`make serve-mnist`): 28x28 MNIST digits.
HANDWRITING_RECIPE = "mnist-gradient16-virtual-svc"


def describe(artifact: Artifact) -> dict[str, Any]:
    model = artifact.model
    path = artifact.path.resolve()
    root = project_of(path)
    lock = _read_yaml(root / "dvc.lock") if root else None
    metrics = _read_json(root / "metrics" / "evaluate.json") if root else None
    dataset_info = _read_json(root / "data" / "raw" / "dataset.json") if root else None
    params = _lock_params(lock)
    classes = getattr(model, "classes_", None)
    return {
        "model": {
            "path": str(artifact.path),
            "format": artifact.format,
            "sha256": artifact.sha256,
            "size_bytes": artifact.size,
            "image_spec": asdict(image_spec(model)),
            "classes": None if classes is None else [int(c) for c in classes],
            "probabilities": hasattr(model, "predict_proba"),
            "steps": [
                {"name": name, "type": f"{type(step).__module__}.{type(step).__qualname__}"}
                for name, step in model.steps
            ],
        },
        "dataset": _dataset(dataset_info, metrics, params),
        "training": training(
            (_dataset(dataset_info, metrics, params) or {}).get("dataset"), image_spec(model)
        ),
        "params": params,
        "metrics": metrics,
        "versions": {
            "code": git_version(root) if root else None,
            "data": _data_versions(lock),
            "model_in_dvc_lock": _model_in_lock(lock, root, path) if root else None,
        },
        "project_root": str(root) if root else None,
    }


def training(dataset: str | None, spec: ImageSpec) -> dict[str, str | None]:
    """``trained_on``: the data the model was trained on, as a sentence; ``advice``: for a
    model of 8x8 digits, which recipe to train and serve for real handwriting (else None)."""
    shape = "x".join(str(side) for side in spec.shape)
    name = dataset or "an unknown dataset"
    advice = None
    if spec.shape == DIGITS.shape:
        advice = (
            f"This model reads {shape} digits, a coarse format of scanned forms, and is "
            f"less accurate on photos, scans and drawings. For real handwriting, train and "
            f"serve the MNIST recipe {HANDWRITING_RECIPE} (28x28 images): run "
            f"`make serve-mnist` in the project."
        )
    return {"trained_on": f"Trained on {name} ({shape} images).", "advice": advice}


def dataset_of(model_path: str | Path) -> str | None:
    """The dataset the project holding ``model_path`` trained on (data/raw/dataset.json,
    else metrics/evaluate.json or the fetch params in dvc.lock), or None."""
    root = project_of(Path(model_path).resolve())
    if root is None:
        return None
    info = _read_json(root / "data" / "raw" / "dataset.json")
    metrics = _read_json(root / "metrics" / "evaluate.json")
    found = _dataset(info, metrics, _lock_params(_read_yaml(root / "dvc.lock")))
    return (found or {}).get("dataset")


def project_of(path: Path) -> Path | None:
    """The pipeline project (the nearest folder with a ``dvc.yaml``) that holds ``path``,
    found by walking up from it: the server imports no DVC, and the model file need not be
    in the current directory's project (``digitrec check`` uses DVC's own lookup)."""
    for folder in path.parents:
        if (folder / "dvc.yaml").is_file():
            return folder
    return None


def git_version(root: Path) -> dict[str, str | None] | None:
    """``{"commit", "ref"}`` of the checkout at ``root``, read from its ``.git`` files."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return {"commit": head, "ref": None}
        ref = head[4:].strip()
        loose = git / ref
        if loose.is_file():
            return {"commit": loose.read_text().strip(), "ref": ref}
        for line in (git / "packed-refs").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return {"commit": parts[0], "ref": ref}
        return {"commit": None, "ref": ref}  # a branch without commits
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _lock_params(lock: dict | None) -> dict[str, Any] | None:
    """The params every stage ran with, merged (``dvc.lock`` records them per stage)."""
    if not lock:
        return None
    merged: dict[str, Any] = {}
    for stage in (lock.get("stages") or {}).values():
        for values in (stage.get("params") or {}).values():
            merged.update(values or {})
    return merged or None


def _data_versions(lock: dict | None) -> dict[str, str] | None:
    if not lock:
        return None
    stages = lock.get("stages") or {}
    versions = {
        out["path"]: out.get("md5")
        for name in DATA_OUTS
        for out in (stages.get(name) or {}).get("outs") or []
        if "path" in out
    }
    return versions or None


def _model_in_lock(lock: dict | None, root: Path, path: Path) -> dict[str, Any] | None:
    """The md5 ``dvc.lock`` records for the served file, and whether the file matches."""
    if not lock:
        return None
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        return None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == relative:
                actual = hashlib.md5(path.read_bytes()).hexdigest()
                return {
                    "path": relative,
                    "md5": out.get("md5"),
                    "matches": actual == out.get("md5"),
                }
    return None


def _dataset(info: dict | None, metrics: dict | None, params: dict | None) -> dict | None:
    if info:
        return info
    name = (metrics or {}).get("dataset") or ((params or {}).get("fetch") or {}).get("dataset")
    return {"dataset": name} if name else None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
