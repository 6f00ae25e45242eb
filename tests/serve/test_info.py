"""GET /model inside a DVC project: params, metrics, data and code versions."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from digitrec.artifact import load_artifact
from digitrec.imagespec import DIGITS, MNIST
from digitrec.serve.app import create_app
from digitrec.serve.info import HANDWRITING_RECIPE, dataset_of, describe, git_version, training

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def project(tmp_path, saved_model):
    """A project laid out like this one: dvc.yaml, dvc.lock, metrics, data/raw, .git."""
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    for src in (saved_model.path, saved_model.checksum_path):
        shutil.copy(src, root / "models" / src.name)
    md5 = hashlib.md5(saved_model.path.read_bytes()).hexdigest()
    (root / "dvc.yaml").write_text("stages: {}\n")
    lock = {
        "schema": "2.0",
        "stages": {
            "fetch": {
                "params": {"params.yaml": {"seed": 42, "fetch": {"dataset": "digits"}}},
                "outs": [{"path": "data/raw", "hash": "md5", "md5": "aaa.dir"}],
            },
            "featurize": {
                "params": {"params.yaml": {"featurize": {"method": "raw_hog"}}},
                "outs": [{"path": "data/features", "hash": "md5", "md5": "bbb.dir"}],
            },
            "train": {
                "params": {"params.yaml": {"seed": 42, "train": {"model": "svc"}}},
                "outs": [
                    {"path": "models/model.skops", "hash": "md5", "md5": md5},
                    {"path": "models/model.sha256", "hash": "md5", "md5": "ccc"},
                ],
            },
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / "metrics").mkdir()
    (root / "metrics" / "evaluate.json").write_text(
        json.dumps({"accuracy": 0.99, "dataset": "digits"})
    )
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "dataset.json").write_text(
        json.dumps({"dataset": "digits", "n_train": 1437})
    )
    (root / ".git" / "refs" / "heads").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git" / "refs" / "heads" / "main").write_text(COMMIT + "\n")
    return root


def test_model_info_reports_provenance(project, saved_model):
    info = describe(load_artifact(project / "models" / "model.skops"))
    assert info["project_root"] == str(project)
    assert info["dataset"] == {"dataset": "digits", "n_train": 1437}
    assert info["params"] == {
        "seed": 42,
        "fetch": {"dataset": "digits"},
        "featurize": {"method": "raw_hog"},
        "train": {"model": "svc"},
    }
    assert info["metrics"] == {"accuracy": 0.99, "dataset": "digits"}
    assert info["versions"]["code"] == {"commit": COMMIT, "ref": "refs/heads/main"}
    assert info["versions"]["data"] == {"data/raw": "aaa.dir", "data/features": "bbb.dir"}
    assert info["versions"]["model_in_dvc_lock"]["matches"] is True
    assert info["model"]["sha256"] == saved_model.sha256


def test_model_info_notices_a_model_that_is_not_the_locked_one(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    lock["stages"]["train"]["outs"][0]["md5"] = "f" * 32
    (project / "dvc.lock").write_text(yaml.safe_dump(lock))
    info = describe(load_artifact(project / "models" / "model.skops"))
    assert info["versions"]["model_in_dvc_lock"] == {
        "path": "models/model.skops",
        "md5": "f" * 32,
        "matches": False,
    }


def test_git_version_from_packed_refs_and_detached_head(project):
    (project / ".git" / "refs" / "heads" / "main").unlink()
    (project / ".git" / "packed-refs").write_text(f"# pack-refs\n{COMMIT} refs/heads/main\n")
    assert git_version(project) == {"commit": COMMIT, "ref": "refs/heads/main"}
    (project / ".git" / "HEAD").write_text(COMMIT + "\n")
    assert git_version(project) == {"commit": COMMIT, "ref": None}
    shutil.rmtree(project / ".git")
    assert git_version(project) is None


def test_the_endpoint_serves_the_description(project, start_server):
    with start_server(create_app(project / "models" / "model.skops")) as s:
        info = httpx.get(f"{s.url}/model", timeout=30).json()
        health = httpx.get(f"{s.url}/health", timeout=30).json()
    assert info["versions"]["code"]["commit"] == COMMIT
    assert info["metrics"]["accuracy"] == 0.99
    assert health["dataset"] == "digits"


def test_model_info_says_what_the_model_was_trained_on(project, tmp_path):
    info = describe(load_artifact(project / "models" / "model.skops"))
    assert info["training"]["trained_on"] == "Trained on digits (8x8 images)."
    assert HANDWRITING_RECIPE in info["training"]["advice"]
    assert dataset_of(project / "models" / "model.skops") == "digits"
    # Without data/raw, the fetch params in dvc.lock still tell; outside a project, nothing.
    shutil.rmtree(project / "data")
    (project / "metrics" / "evaluate.json").unlink()
    assert dataset_of(project / "models" / "model.skops") == "digits"
    assert dataset_of(tmp_path / "elsewhere" / "model.skops") is None


def test_only_an_8x8_model_is_pointed_to_the_handwriting_recipe():
    assert training("mnist", MNIST) == {
        "trained_on": "Trained on mnist (28x28 images).",
        "advice": None,
    }
    eight = training(None, DIGITS)
    assert eight["trained_on"] == "Trained on an unknown dataset (8x8 images)."
    assert HANDWRITING_RECIPE in eight["advice"] and "28x28" in eight["advice"]


def test_make_serve_mnist_builds_the_recipe_the_advice_names():
    """One recipe for real handwriting: the Makefile's target serves what the advice says."""
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert f"MNIST_RECIPE ?= {HANDWRITING_RECIPE}\n" in makefile
