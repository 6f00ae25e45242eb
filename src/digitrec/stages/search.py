"""search: cross-validate candidate params (search.space) on the training images only.

Writes metrics/search.json (the best candidate, also as `dvc exp run -S` assignments) and
plots/search/leaderboard.csv (every candidate), and prints the best candidates with their
fit times and the command that applies the best. It suggests params and changes nothing:
`train` never reads its outputs.
"""

import sys

from digitrec import compute, fits, io, params, paths, search
from digitrec.registry import DATASETS
from digitrec.stages import run


def main() -> None:
    p = params.load("search")
    info = io.read_json(paths.RAW / paths.DATASET_INFO)
    images, labels = io.load_arrays(paths.RAW, "train_images", "train_labels")
    images, labels = search.training_subset(images, labels, p.search.max_samples, p.seed)
    fits.require(fits.search_problems(p.search, labels))
    with compute.backend(p.compute) as n_jobs:
        fitted = search.build_search(p, DATASETS[info["dataset"]].spec, n_jobs).fit(images, labels)
    best = search.summary(fitted, len(labels))
    io.write_json(paths.METRICS / "search.json", best)
    with io.new_directory(paths.PLOTS / "search") as out:
        io.write_csv(out / "leaderboard.csv", search.leaderboard(fitted))
    print(search.report(fitted, search.changes(p, best["best_params"])), file=sys.stderr)


if __name__ == "__main__":
    run("search", main)
