import importlib
import json
import re

import numpy as np
import pytest
import yaml
from sklearn.base import clone

from digitrec import compute, io, params, search
from digitrec.imagespec import DIGITS
from digitrec.params import ComputeParams, ParamsError
from digitrec.pipeline import fit_pipeline

search_stage = importlib.import_module("digitrec.stages.search")

# Quick candidates: a calibrated SVC fits 300 digits in a few hundredths of a second.
SPACE = {"train.svc.C": [1, 10], "featurize.method": ["raw", "raw_hog"]}


def base_params(train=None, **search_params) -> params.Params:
    raw = {"search": {"space": SPACE, "folds": 3, **search_params}}
    return params.validate({**raw, "train": train} if train else raw)


@pytest.fixture(scope="module")
def train_digits(digits):
    images, labels = digits
    return images[:300], labels[:300]


def scores(results: dict) -> dict:
    """A search's cv_results_ without the timings (which differ from run to run)."""
    return {k: v for k, v in results.items() if "time" not in k}


def assert_same_results(first: dict, second: dict) -> None:
    first, second = scores(first), scores(second)
    assert first.keys() == second.keys()
    for key in first:
        if key == "params":
            assert first[key] == second[key]
        else:
            np.testing.assert_array_equal(np.asarray(first[key]), np.asarray(second[key]))


def test_a_candidate_is_the_model_its_overridden_params_describe(small_digits):
    x_train, y_train, x_test, _ = small_digits
    base = base_params()
    model = search.ParamsModel(base, DIGITS, **{"train.svc.C": 1, "preprocess.deskew": True})
    model.fit(x_train, y_train)
    expected = params.override(base, {"train.svc.C": 1, "preprocess.deskew": True})
    assert model.params_ == expected
    reference = fit_pipeline(expected, DIGITS, x_train, y_train)
    np.testing.assert_array_equal(model.predict(x_test), reference.predict(x_test))
    assert [name for name, _ in model.model_.steps][:2] == ["scale", "deskew"]


def test_overrides_are_estimator_params_that_clone_keeps():
    model = search.ParamsModel(base_params(), DIGITS, **{"train.svc.C": 1})
    model.set_params(**{"featurize.method": "raw", "train.svc.C": 100})
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.overrides == {"train.svc.C": 100, "featurize.method": "raw"}
    assert "train.svc.C=100" in repr(copy).replace("'", "").replace(": ", "=")


def test_a_wrong_override_fails_in_fit_with_the_params_message(small_digits):
    x_train, y_train, _, _ = small_digits
    model = search.ParamsModel(base_params(), DIGITS, **{"train.svc.C": -1})
    with pytest.raises(ParamsError, match=r"train\.svc\.C = -1: input should be greater than 0"):
        model.fit(x_train, y_train)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"train.svc.c": [1]},
            "search.space.train.svc.c: unknown key 'c'; allowed under train.svc: C",
        ),
        ({"fetch.limit": [10]}, "search.space.fetch.limit: cannot be searched"),
        ({"train.svc.C": [0]}, "search.space.train.svc.C = 0: input should be greater than 0"),
    ],
)
def test_a_bad_space_is_rejected_before_any_fitting(monkeypatch, space, message):
    def no_fit(self, X, y):
        raise AssertionError("fitted a candidate")

    monkeypatch.setattr(search.ParamsModel, "fit", no_fit)
    # A Params built in code skips validate(); build_search checks the space itself.
    base = params.Params(search=params.SearchParams(space=space))
    with pytest.raises(ParamsError, match=re.escape(message)):
        search.build_search(base, DIGITS)


def test_grid_search_ranks_every_candidate_and_names_the_best(train_digits):
    images, labels = train_digits
    fitted = search.build_search(base_params(), DIGITS).fit(images, labels)
    board = search.leaderboard(fitted)
    assert list(board) == [
        "rank",
        "featurize.method",
        "train.svc.C",
        "candidate",
        "mean_test_score",
        "std_test_score",
    ]
    assert len(board["rank"]) == 4 and board["rank"] == sorted(board["rank"])
    assert board["mean_test_score"][0] == max(board["mean_test_score"])
    assert set(board["candidate"]) == {
        f"featurize.method={m} train.svc.C={c}" for m in ("raw", "raw_hog") for c in (1, 10)
    }
    summary = search.summary(fitted, len(labels))
    assert summary["best_score"] == board["mean_test_score"][0] > 0.9
    assert summary["best_overrides"] == board["candidate"][0].split(" ")
    assert summary["best_params"] == {
        k: yaml.safe_load(v) for k, v in (a.split("=") for a in summary["best_overrides"])
    }
    assert {k: summary[k] for k in ("method", "folds", "n_candidates", "n_train")} == {
        "method": "grid",
        "folds": 3,
        "n_candidates": 4,
        "n_train": 300,
    }
    again = search.build_search(base_params(), DIGITS).fit(images, labels)
    assert_same_results(fitted.cv_results_, again.cv_results_)


def test_random_search_draws_at_most_the_grid(train_digits):
    images, labels = train_digits
    three = search.build_search(base_params(method="random", n_iter=3), DIGITS)
    assert three.n_iter == 3
    fitted = three.fit(images, labels)
    assert len(fitted.cv_results_["params"]) == 3
    assert search.summary(fitted, len(labels))["method"] == "random"
    assert search.build_search(base_params(method="random", n_iter=50), DIGITS).n_iter == 4


def test_halving_search_records_its_rounds(train_digits):
    images, labels = train_digits
    # The first round fits on 150 images: too few for calibration's 5 inner folds.
    base = base_params(train={"svc": {"calibrate": False}}, method="halving", factor=2)
    fitted = search.build_search(base, DIGITS).fit(images, labels)
    board = search.leaderboard(fitted)
    assert board["round"] == [3, 2, 2, 1, 1, 1, 1]  # 4 candidates, then 2, then the best
    assert board["n_samples"][0] > min(board["n_samples"])
    summary = search.summary(fitted, len(labels))
    assert summary["method"] == "halving" and summary["n_candidates"] == 4


def test_an_empty_space_cross_validates_params_as_they_are(train_digits):
    images, labels = train_digits
    base = params.validate({"search": {"space": {}, "folds": 3}})
    fitted = search.build_search(base, DIGITS).fit(images, labels)
    assert search.leaderboard(fitted)["candidate"] == ["params.yaml"]
    assert search.summary(fitted, len(labels))["best_overrides"] == []


def test_a_detector_is_scored_on_its_yes_no_answer(small_digits):
    x_train, y_train, x_test, y_test = small_digits
    base = params.validate({"train": {"positive_digit": 3, "svc": {"calibrate": False}}})
    model = search.ParamsModel(base, DIGITS).fit(x_train, y_train)
    assert list(model.classes_) == [0, 1]
    expected = np.mean(model.predict(x_test) == (y_test == 3))
    assert model.score(x_test, y_test) == pytest.approx(expected) and expected > 0.9


@pytest.mark.parametrize(
    "value", [10, 0.001, 1e-5, "scale", "L2-Hys", "true", None, True, [64, 32], "a,b"]
)
def test_assignment_values_read_back_as_the_same_value(value):
    text = search.as_assignment_value(value)
    assert yaml.safe_load(text) == value or float(yaml.safe_load(text)) == value
    assert " " not in text


def test_changes_lists_only_what_differs_from_params_yaml():
    base = params.validate({"train": {"svc": {"C": 10}}})
    best = {"preprocess.deskew": True, "train.svc.C": 10.0}
    assert search.changes(base, best) == ["preprocess.deskew=true"]


def test_training_subset_is_stratified_deterministic_and_in_order(digits):
    images, labels = digits
    sub_images, sub_labels = search.training_subset(images, labels, 200, seed=1)
    assert len(sub_labels) == 200 and np.bincount(sub_labels).min() >= 19
    again = search.training_subset(images, labels, 200, seed=1)
    np.testing.assert_array_equal(again[0], sub_images)
    index = [int(np.flatnonzero((images == image).all(axis=(1, 2)))[0]) for image in sub_images]
    assert index == sorted(index)
    assert search.training_subset(images, labels, 0, seed=1)[0] is images


def test_the_search_in_local_processes_equals_the_search_in_this_process(train_digits):
    images, labels = train_digits
    base = base_params(method="random", n_iter=2)
    here = search.build_search(base, DIGITS).fit(images, labels)
    with compute.backend(ComputeParams(n_jobs=2)) as n_jobs:
        processes = search.build_search(base, DIGITS, n_jobs).fit(images, labels)
    assert_same_results(here.cv_results_, processes.cv_results_)


def test_the_search_on_dask_equals_the_local_search(train_digits, dask_cluster):
    images, labels = train_digits
    base = base_params(method="random", n_iter=3)
    local = search.build_search(base, DIGITS).fit(images, labels)
    dask = ComputeParams(backend="dask", scheduler=dask_cluster.scheduler_address)
    with compute.backend(dask) as n_jobs:
        distributed = search.build_search(base, DIGITS, n_jobs).fit(images, labels)
    assert_same_results(local.cv_results_, distributed.cv_results_)
    assert distributed.best_params_ == local.best_params_


def write_raw(directory, images, labels) -> None:
    raw = directory / "data/raw"
    raw.mkdir(parents=True)
    io.write_arrays(raw, train_images=images, train_labels=labels)
    io.write_json(raw / "dataset.json", {"dataset": "digits"})


def test_the_stage_writes_deterministic_metrics_and_leaderboard(train_digits, stage_dir, capsys):
    images, labels = train_digits
    root = stage_dir(search={"space": {"train.svc.C": [1, 10]}, "folds": 3, "max_samples": 250})
    write_raw(root, images, labels)
    search_stage.main()
    metrics = (root / "metrics/search.json").read_bytes()
    board = (root / "plots/search/leaderboard.csv").read_bytes()
    best = json.loads(metrics)
    assert best["n_train"] == 250 and best["n_candidates"] == 2
    assert best["best_overrides"] == [f"train.svc.C={best['best_params']['train.svc.C']}"]
    assert board.decode().splitlines()[0] == (
        "rank,train.svc.C,candidate,mean_test_score,std_test_score"
    )
    log = capsys.readouterr().err
    assert "candidate" in log and "best: accuracy" in log
    if best["best_params"]["train.svc.C"] == 1:
        assert "apply it with: dvc exp run -S train.svc.C=1" in log
    else:
        assert "params.yaml already holds it" in log

    search_stage.main()
    assert (root / "metrics/search.json").read_bytes() == metrics
    assert (root / "plots/search/leaderboard.csv").read_bytes() == board


def test_the_stage_refuses_a_bad_space_before_reading_data(stage_dir):
    stage_dir(search={"space": {"train.svm.C": [1]}})
    with pytest.raises(ParamsError, match=r"search\.space\.train\.svm\.C: unknown key 'svm'"):
        search_stage.main()
