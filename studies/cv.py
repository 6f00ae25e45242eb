"""Cross-validate the whole pipeline on the training split only (the test split is unused).

    python studies/cv.py                                   # params.yaml as it is, 5 folds
    python studies/cv.py -S featurize.method=raw --folds 10
    python studies/cv.py -S fetch.dataset=optdigits --writer-blocks --folds 10

``-S key=value`` overrides params.yaml like ``dvc exp run -S``. Prints the mean and standard
deviation of the fold accuracies.

``--writer-blocks`` (optdigits only) holds out groups of writers instead of shuffled images,
which is what optdigits' test set (13 writers not in the training set) measures; shuffled
folds put every writer on both sides and overrate what adapts to the training writers.
``optdigits.tra`` is three parts (rows 0-1929, 1930-2877, 2878-3822: the original
training, validation and writer-dependent test sets) that each list the same 30 writers in
the same order; a row's relative position within its part stands for its writer (found from
the file: a digit's nearest neighbour of the same class sits at the same relative position
in another part far more often than by chance). Fold k holds out the rows whose relative
position lies in [k/folds, (k+1)/folds) in all three parts: about 30/folds writers each.
"""

from __future__ import annotations

import argparse
import time

import _params as study_params
import numpy as np
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from digitrec.data.datasets import load_dataset
from digitrec.pipeline import fit_pipeline
from digitrec.registry import DATASETS

# Where the parts of optdigits.tra start (see the module docstring).
OPTDIGITS_PARTS = (0, 1930, 2878)


def writer_blocks(n: int, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) indices holding out contiguous writer groups of optdigits.tra."""
    starts = np.array([*OPTDIGITS_PARTS, n])
    if n <= starts[-2]:
        raise ValueError(f"--writer-blocks needs the whole optdigits.tra (3,823 rows), got {n}")
    rows = np.arange(n)
    part = np.searchsorted(starts, rows, side="right") - 1
    position = (rows - starts[part]) / (starts[part + 1] - starts[part])
    group = np.minimum((position * folds).astype(int), folds - 1)
    return [(np.flatnonzero(group != k), np.flatnonzero(group == k)) for k in range(folds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    study_params.add_arguments(parser)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--writer-blocks",
        action="store_true",
        help="optdigits: hold out groups of writers, not shuffled images",
    )
    args = parser.parse_args()
    p = study_params.load(args)
    data = load_dataset(
        p.fetch.dataset,
        test_size=p.fetch.test_size,
        seed=p.seed,
        limit=p.fetch.limit,
        mirrors=p.fetch.mirrors,
    )
    x, y = data.train_images, data.train_labels
    if args.writer_blocks:
        if data.name != "optdigits" or p.fetch.limit:
            parser.error("--writer-blocks needs -S fetch.dataset=optdigits (and no fetch.limit)")
        splits = writer_blocks(len(y), args.folds)
        kind = "writer-block"
    else:
        splits = StratifiedKFold(args.folds, shuffle=True, random_state=p.seed).split(x, y)
        kind = "stratified"
    start = time.perf_counter()
    scores, errors = [], 0
    with threadpool_limits(limits=1):
        for train, test in splits:
            model = fit_pipeline(p, DATASETS[data.name].spec, x[train], y[train])
            wrong = int(np.count_nonzero(model.predict(x[test]) != y[test]))
            scores.append(1 - wrong / len(test))
            errors += wrong
    scores = np.array(scores)
    print(
        f"{data.name}: {len(data.train_labels)} training images, {args.folds}-fold {kind} CV "
        f"accuracy {100 * scores.mean():.2f} % ± {100 * scores.std():.2f} "
        f"({errors} errors in all; {time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
