"""Do params that passed validation fit the data? Checked at the start of the stage that
first sees the data's shape, before any work, so a misfit ends with the key, the value and
what would fit instead of a traceback from deep inside scikit-learn.

Each function returns one line per problem (empty: it fits); :func:`require` raises them
as a :class:`~digitrec.params.ParamsError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from digitrec.params import FeaturizeParams, ParamsError, SearchParams, TrainParams

CALIBRATION_FOLDS = 5  # train.svc.calibrate: sigmoid calibration on 5 stratified folds
MIN_TRAIN_PER_CLASS = CALIBRATION_FOLDS  # what fetch.limit must keep of every digit


def require(problems: Sequence[str]) -> None:
    if problems:
        raise ParamsError("params do not fit the data:\n  " + "\n  ".join(problems))


def featurize_problems(
    featurize: FeaturizeParams,
    shape: tuple[int, int],
    n_images: int,
    feature_count: Callable[[FeaturizeParams, tuple[int, int]], int],
) -> list[str]:
    """``featurize`` on ``n_images`` preprocessed images of ``shape`` (rows, columns);
    ``feature_count(featurize, shape)`` gives the features per image before PCA
    (:func:`digitrec.pipeline.feature_count`)."""
    lines = []
    rows, cols = shape
    if featurize.method in ("hog", "raw_hog"):
        hog = featurize.hog
        cells = min(rows, cols) // hog.pixels_per_cell
        if cells < hog.cells_per_block:
            widest = min(rows, cols) // hog.cells_per_block
            fix = (
                f"use pixels_per_cell <= {widest}, or cells_per_block <= {max(cells, 1)}"
                if widest >= 1
                else f"use cells_per_block <= {max(cells, 1)}"
            )
            lines.append(
                f"featurize.hog.pixels_per_cell = {hog.pixels_per_cell}: {rows}x{cols} images "
                f"hold {cells} cell(s) of that size per side, fewer than "
                f"featurize.hog.cells_per_block = {hog.cells_per_block}; {fix}"
            )
    if featurize.pca.n_components and not lines:
        n_features = feature_count(featurize, shape)
        most = min(n_features, n_images)
        if featurize.pca.n_components > most:
            limit = (
                f"the {n_features} features method {featurize.method} makes of {rows}x{cols} images"
                if n_features <= n_images
                else f"the {n_images} training images"
            )
            lines.append(
                f"featurize.pca.n_components = {featurize.pca.n_components}: more than {limit}; "
                f"use at most {most} (0: no PCA)"
            )
    return lines


def limit_problems(train_labels: np.ndarray, test_labels: np.ndarray, limit: int) -> list[str]:
    """``fetch.limit`` keeps the first ``limit`` of each split: enough of every digit the
    full training split holds? (``MIN_TRAIN_PER_CLASS`` training images, one test image.)"""
    if not limit:
        return []
    classes = np.unique(train_labels)
    kept_train = np.array([np.count_nonzero(train_labels[:limit] == c) for c in classes])
    kept_test = np.array([np.count_nonzero(test_labels[:limit] == c) for c in classes])
    short = classes[(kept_train < MIN_TRAIN_PER_CLASS) | (kept_test < 1)]
    if not len(short):
        return []
    shown = ", ".join(
        f"{c} ({kept_train[i]} train, {kept_test[i]} test)"
        for i, c in enumerate(classes)
        if c in short
    )
    least = _least_limit(train_labels, test_labels, classes)
    fix = f"use fetch.limit >= {least}, or 0 for all" if least else "use 0 for all"
    return [
        f"fetch.limit = {limit} leaves too few images of digit(s) {shown}: each needs at "
        f"least {MIN_TRAIN_PER_CLASS} training images (5-fold calibration and "
        f"cross-validation) and 1 test image; {fix}"
    ]


def _least_limit(train: np.ndarray, test: np.ndarray, classes: np.ndarray) -> int | None:
    """The smallest limit keeping enough of every class, or None when none does."""
    least = 0
    for c in classes:
        in_train, in_test = np.flatnonzero(train == c), np.flatnonzero(test == c)
        if len(in_train) < MIN_TRAIN_PER_CLASS or not len(in_test):
            return None
        least = max(least, in_train[MIN_TRAIN_PER_CLASS - 1] + 1, in_test[0] + 1)
    return int(least)


def train_problems(train: TrainParams, labels: np.ndarray) -> list[str]:
    """The chosen model on these training labels."""
    if train.positive_digit is not None:
        labels = labels == train.positive_digit
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        what = (
            f"train.positive_digit = {train.positive_digit}: "
            if train.positive_digit is not None
            else ""
        )
        return [
            f"{what}the {len(labels)} training images hold one class only; a classifier "
            "needs two or more: raise fetch.limit (or 0 for all)"
        ]
    need, key, why = 1, "", ""
    if train.model == "svc" and train.svc.calibrate:
        need, key = CALIBRATION_FOLDS, "train.svc.calibrate = true"
        why = f"{CALIBRATION_FOLDS}-fold calibration"
    elif train.model in ("hist_gb", "mlp") and train.model_params.early_stopping:  # type: ignore[attr-defined]
        need, key = 2, f"train.{train.model}.early_stopping = true"
        why = "a stratified validation split"
    lines = []
    if counts.min() < need:
        few = ", ".join(f"{c} ({n})" for c, n in zip(classes, counts, strict=True) if n < need)
        lines.append(
            f"{key} needs at least {need} training images of each class ({why}); "
            f"too few of: {few}: raise fetch.limit (or 0 for all)"
        )
    if train.model == "knn" and train.knn.n_neighbors > len(labels):
        lines.append(
            f"train.knn.n_neighbors = {train.knn.n_neighbors}: more than the {len(labels)} "
            f"training images; use at most {len(labels)}"
        )
    return lines


def search_problems(search: SearchParams, labels: np.ndarray) -> list[str]:
    """Stratified folds on the (subset of) training labels the search sees."""
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() >= search.folds:
        return []
    few = ", ".join(f"{c} ({n})" for c, n in zip(classes, counts, strict=True) if n < search.folds)
    return [
        f"search.folds = {search.folds}: each class needs at least that many of the "
        f"{len(labels)} images searched on (search.max_samples = {search.max_samples}); too "
        f"few of: {few}; use search.folds <= {max(int(counts.min()), 2)} or more images"
    ]
