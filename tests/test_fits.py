"""Params that pass validation but do not fit the data stop the stage that sees the data,
before any work, naming the key, the value and what would fit (no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from digitrec import fits
from digitrec.params import FeaturizeParams, SearchParams, TrainParams
from digitrec.pipeline import feature_count


def stage(root: Path, name: str, **params) -> subprocess.CompletedProcess:
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, "-m", f"digitrec.stages.{name}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def refused(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A folder where fetch (bundled digits) and preprocess have run."""
    root = tmp_path_factory.mktemp("project")
    for name in ("fetch", "preprocess"):
        result = stage(root, name, fetch={"dataset": "digits"})
        assert result.returncode == 0, result.stderr
    return root


def test_fetch_refuses_a_limit_that_leaves_a_digit_without_images(tmp_path):
    result = stage(tmp_path, "fetch", fetch={"dataset": "digits", "limit": 5})
    refused(result, "fetch.limit = 5", "at least 5 training images", "use fetch.limit >= ")
    assert not (tmp_path / "data").exists()  # nothing written


def test_the_least_limit_fetch_suggests_is_enough(digits):
    labels = digits[1]
    train, test = labels[:1000], labels[1000:]
    (line,) = fits.limit_problems(train, test, 5)
    least = int(line.rsplit(">= ", 1)[1].split(",")[0])
    assert fits.limit_problems(train, test, least) == []
    assert fits.limit_problems(train, test, least - 1) != []


def test_featurize_refuses_hog_cells_larger_than_the_images(project):
    result = stage(project, "featurize", featurize={"method": "hog", "hog": {"pixels_per_cell": 8}})
    refused(
        result,
        "featurize.hog.pixels_per_cell = 8",
        "8x8 images",
        "use pixels_per_cell <= 4",
    )


def test_featurize_refuses_more_pca_components_than_features(project):
    result = stage(project, "featurize", featurize={"method": "raw", "pca": {"n_components": 65}})
    refused(result, "featurize.pca.n_components = 65", "64 features", "use at most 64")


def test_pca_fits_up_to_the_feature_count():
    params = FeaturizeParams(method="raw_hog", hog={"pixels_per_cell": 2}, pca={"n_components": 1})
    count = feature_count(params, (8, 8))
    fit = params.model_copy(update={"pca": params.pca.model_copy(update={"n_components": count})})
    assert fits.featurize_problems(fit, (8, 8), 10_000, feature_count) == []
    over = fit.model_copy(update={"pca": fit.pca.model_copy(update={"n_components": count + 1})})
    assert f"use at most {count}" in fits.featurize_problems(over, (8, 8), 10_000, feature_count)[0]


def test_train_needs_enough_images_of_each_class_for_calibration():
    labels = np.array([0] * 10 + [1] * 3)
    (line,) = fits.train_problems(TrainParams(), labels)
    assert line.startswith("train.svc.calibrate = true needs at least 5") and "1 (3)" in line
    uncalibrated = TrainParams(svc={"calibrate": False})
    assert fits.train_problems(uncalibrated, labels) == []
    assert "one class only" in fits.train_problems(TrainParams(), np.zeros(20))[0]


def test_search_folds_must_fit_the_classes():
    labels = np.array([0] * 10 + [1] * 3)
    (line,) = fits.search_problems(SearchParams(folds=5), labels)
    assert line.startswith("search.folds = 5") and "search.folds <= 3" in line
    assert fits.search_problems(SearchParams(folds=3), labels) == []


def test_a_stage_run_before_its_inputs_exist_says_which_is_missing(tmp_path):
    result = stage(tmp_path, "train")
    refused(result, "train: error: ", "features", "not found", "dvc repro")


def test_an_unreadable_params_file_is_named(tmp_path):
    (tmp_path / "params.yaml").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "digitrec.stages.fetch"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    refused(result, "params.yaml: cannot read it")
