"""featurize: turn preprocessed training images into feature rows (fit on train only).

Pixels and HOG are computed in chunks of ``compute.chunk_size`` images on the chosen
backend (a Dask cluster with ``compute.backend: dask``); PCA and scaling, which need every
row, are fitted here. The result is the same whichever backend computes it.
"""

from digitrec import compute, fits, io, params, paths
from digitrec.pipeline import build_featurizer, feature_count
from digitrec.stages import run


def main() -> None:
    p = params.load("featurize")
    images, labels = io.load_arrays(paths.PROCESSED, "train_images", "train_labels")
    shape = images.shape[1:]
    fits.require(fits.featurize_problems(p.featurize, shape, len(images), feature_count))
    featurizer = build_featurizer(p.featurize, p.seed)
    with compute.backend(p.compute) as n_jobs:
        features = compute.fit_transform_chunked(featurizer, images, p.compute.chunk_size, n_jobs)
    with io.new_directory(paths.FEATURES) as out:
        io.write_arrays(out, train_features=features, train_labels=labels)
        io.save_joblib(out / paths.TRANSFORMER, featurizer)


if __name__ == "__main__":
    run("featurize", main)
