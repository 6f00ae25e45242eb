"""Cross-validated hyperparameter search over params.yaml itself.

A candidate is a set of dotted overrides of the validated params, spelled as
``dvc exp run -S`` takes them (``train.svc.C``, ``featurize.hog.pixels_per_cell``), so the
best one applies as it is. :class:`ParamsModel` is a scikit-learn classifier whose
parameters are those overrides: it builds and fits the whole model (raw image -> label)
from the overridden params, which lets scikit-learn's searches (grid, random, successive
halving) tune preprocessing, features and classifier together, fold by fold, on the
training images only.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import accuracy_score
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    ParameterGrid,
    RandomizedSearchCV,
    StratifiedKFold,
    train_test_split,
)
from sklearn.utils.validation import check_is_fitted

from digitrec import params as params_module
from digitrec.imagespec import ImageSpec
from digitrec.params import Params
from digitrec.pipeline import fit_pipeline
from digitrec.sklearn_compat import BaseSearchCV

SCORING = "accuracy"  # of the digit, or of the yes/no answer for a one-vs-rest detector


class ParamsModel(ClassifierMixin, BaseEstimator):
    """The model that ``base`` params with dotted ``overrides`` describe, as one estimator.

    Its parameters are ``base``, ``spec`` and one per override, named by its params path:
    ``ParamsModel(base, spec, **{"train.svc.C": 10})``. ``set_params`` adds or changes
    overrides and ``clone`` keeps them, so a search sets a candidate like any estimator's
    parameters. ``fit`` validates the overridden params (a wrong key or value raises
    :class:`~digitrec.params.ParamsError`) and fits the whole Pipeline exactly as the
    preprocess, featurize and train stages do.

    Attributes:
        params_: the overridden, validated params of the fitted model.
        model_: the fitted Pipeline (raw image -> label).
        classes_: its classes (the digits, or 0/1 for a one-vs-rest detector).
    """

    def __init__(self, base: Params, spec: ImageSpec, **overrides: Any):
        self.base = base
        self.spec = spec
        self.overrides = overrides

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"base": self.base, "spec": self.spec, **self.overrides}

    def set_params(self, **params: Any) -> ParamsModel:
        for key, value in params.items():
            if key in ("base", "spec"):
                setattr(self, key, value)
            else:
                self.overrides = {**self.overrides, key: value}
        return self

    def fit(self, X, y):
        self.params_ = params_module.override(self.base, self.overrides)
        self.model_ = fit_pipeline(self.params_, self.spec, X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.model_.predict(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy; a one-vs-rest detector is scored on the yes/no answer."""
        check_is_fitted(self)
        y = np.asarray(y)
        digit = self.params_.train.positive_digit
        if digit is not None:
            y = (y == digit).astype(np.int64)
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))


def n_candidates(space: Mapping[str, list[Any]]) -> int:
    """Combinations in the full grid of ``space`` (1 for an empty space: params as they are)."""
    return len(ParameterGrid(dict(space)))


def build_search(base: Params, spec: ImageSpec, n_jobs: int = 1) -> BaseSearchCV:
    """The unfitted search ``base.search`` describes, over :class:`ParamsModel` candidates.

    Folds are stratified and shuffled with ``base.seed``, like every random draw of the
    search, so the result depends on the params alone (not on ``n_jobs`` or the backend).

    Raises:
        ParamsError: a key of the space is unknown or not searchable, or a value is invalid.
    """
    search = base.search
    params_module.check_space(search.space)
    space = {key: list(values) for key, values in search.space.items()}
    common: dict[str, Any] = {
        "cv": StratifiedKFold(search.folds, shuffle=True, random_state=base.seed),
        "n_jobs": n_jobs,
        "refit": False,  # the search suggests params; train fits the model
        "error_score": "raise",
    }
    estimator = ParamsModel(base, spec)
    if search.method == "grid":
        return GridSearchCV(estimator, space, **common)
    if search.method == "random":
        n_iter = min(search.n_iter, n_candidates(space))
        return RandomizedSearchCV(estimator, space, n_iter=n_iter, random_state=base.seed, **common)
    return HalvingGridSearchCV(
        estimator, space, factor=search.factor, random_state=base.seed, **common
    )


def training_subset(
    images: np.ndarray, labels: np.ndarray, max_samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_samples`` images (0 = all), stratified by label, in their order."""
    if not max_samples or max_samples >= len(labels):
        return images, labels
    keep, _ = train_test_split(
        np.arange(len(labels)), train_size=max_samples, stratify=labels, random_state=seed
    )
    keep = np.sort(keep)
    return images[keep], labels[keep]


def as_assignment_value(value: Any) -> str:
    """``value`` as YAML that ``dvc exp run -S key=VALUE`` reads back as ``value``."""
    if isinstance(value, str) and "," not in value and _reads_back(value):
        return value
    return json.dumps(value, separators=(",", ":"))


def _reads_back(text: str) -> bool:
    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False


def _round(x: float) -> float:
    return round(float(x), 6)


def _ranked(search: BaseSearchCV) -> np.ndarray:
    """Indices of the evaluated candidates, best first (ties in their evaluation order)."""
    ranks = np.asarray(search.cv_results_["rank_test_score"])
    return np.lexsort((np.arange(len(ranks)), ranks))


def leaderboard(search: BaseSearchCV) -> dict[str, list]:
    """Every evaluated candidate of a fitted search, best first: rank, one column per
    searched key, a ``candidate`` label (its ``-S`` assignments), mean and standard
    deviation of the fold scores (successive halving adds its round and sample count).

    Fit times are left out: they differ from run to run, and these columns are committed.
    """
    results = search.cv_results_
    order = _ranked(search)
    candidates = [results["params"][i] for i in order]
    keys = sorted({key for candidate in candidates for key in candidate})
    columns: dict[str, list] = {"rank": [int(results["rank_test_score"][i]) for i in order]}
    for key in keys:
        columns[key] = [as_assignment_value(c[key]) for c in candidates]
    columns["candidate"] = [
        " ".join(f"{k}={as_assignment_value(c[k])}" for k in keys) or "params.yaml"
        for c in candidates
    ]
    columns["mean_test_score"] = [_round(results["mean_test_score"][i]) for i in order]
    columns["std_test_score"] = [_round(results["std_test_score"][i]) for i in order]
    if "iter" in results:
        columns["round"] = [int(results["iter"][i]) + 1 for i in order]
        columns["n_samples"] = [int(results["n_resources"][i]) for i in order]
    return columns


def changes(base: Params, candidate: Mapping[str, Any]) -> list[str]:
    """The ``key=value`` assignments of ``candidate`` that change ``base``."""
    return [
        f"{key}={as_assignment_value(value)}"
        for key, value in candidate.items()
        if params_module.override(base, {key: value}) != base
    ]


def report(search: BaseSearchCV, changed: list[str], shown: int = 10) -> str:
    """A fitted search for the log: the best ``shown`` candidates with their mean fit time
    (which the committed files leave out), then the command that applies the best."""
    board = leaderboard(search)
    seconds = [float(search.cv_results_["mean_fit_time"][i]) for i in _ranked(search)]
    lines = [f"{'rank':>4}  {'accuracy':>17}  {'fit':>7}  candidate"]
    for i in range(min(shown, len(seconds))):
        score = f"{board['mean_test_score'][i]:.4f} ± {board['std_test_score'][i]:.4f}"
        lines.append(
            f"{board['rank'][i]:>4}  {score:>17}  {seconds[i]:>6.2f}s  {board['candidate'][i]}"
        )
    best = f"best: {SCORING} {search.best_score_:.4f}"
    if changed:
        command = " ".join(f"-S {shlex.quote(a)}" for a in changed)
        lines.append(f"{best}; apply it with: dvc exp run {command}")
    else:
        lines.append(f"{best}; params.yaml already holds it")
    return "\n".join(lines)


def summary(search: BaseSearchCV, n_samples: int) -> dict[str, Any]:
    """The deterministic metrics of a fitted search (no timings)."""
    best = {key: search.best_params_[key] for key in sorted(search.best_params_)}
    candidates = getattr(search, "n_candidates_", None)
    return {
        "method": _method(search),
        "scoring": SCORING,
        "folds": search.cv.get_n_splits(),
        "n_train": n_samples,
        "n_candidates": int(candidates[0]) if candidates else len(search.cv_results_["params"]),
        "best_score": _round(search.best_score_),
        "best_std": _round(search.cv_results_["std_test_score"][search.best_index_]),
        "best_params": best,
        "best_overrides": [f"{k}={as_assignment_value(v)}" for k, v in best.items()],
    }


def _method(search: BaseSearchCV) -> str:
    if isinstance(search, HalvingGridSearchCV):
        return "halving"
    return "random" if isinstance(search, RandomizedSearchCV) else "grid"
