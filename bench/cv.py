"""Cross-validate the whole pipeline on the training split only (the test split is unused).

    python bench/cv.py                                   # params.yaml as it is, 5 folds
    python bench/cv.py -S featurize.method=raw --folds 10

``-S key=value`` overrides params.yaml like ``dvc exp run -S``. Prints the mean and standard
deviation of the fold accuracies.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import yaml
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from digitrec import params as params_module
from digitrec.data.datasets import load_dataset
from digitrec.imagespec import SPECS
from digitrec.pipeline import fit_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    overrides = {}
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        overrides[key] = yaml.safe_load(value)
    try:
        p = params_module.override(params_module.load(path=args.params), overrides, sections=None)
    except params_module.ParamsError as exc:
        raise SystemExit(f"error: {exc}") from None
    data = load_dataset(p.fetch.dataset, test_size=p.fetch.test_size, seed=p.seed,
                        limit=p.fetch.limit, mirrors=p.fetch.mirrors)  # fmt: skip
    x, y = data.train_images, data.train_labels
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=p.seed)
    start = time.perf_counter()
    scores = []
    with threadpool_limits(limits=1):
        for train, test in folds.split(x, y):
            model = fit_pipeline(p, SPECS[data.name], x[train], y[train])
            scores.append(model.score(x[test], y[test]))
    scores = np.array(scores)
    print(f"{data.name}: {len(data.train_labels)} training images, {args.folds}-fold CV "
          f"accuracy {100 * scores.mean():.2f} % ± {100 * scores.std():.2f} "
          f"({time.perf_counter() - start:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
