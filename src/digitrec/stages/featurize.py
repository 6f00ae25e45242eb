"""featurize: turn preprocessed training images into feature rows (fit on train only)."""

from digitrec import io, params, paths
from digitrec.pipeline import build_featurizer
from digitrec.stages import run


def main() -> None:
    p = params.load("featurize")
    images, labels = io.load_arrays(paths.PROCESSED, "train_images", "train_labels")
    featurizer = build_featurizer(p.featurize, p.seed)
    features = featurizer.fit_transform(images)
    with io.new_directory(paths.FEATURES) as out:
        io.write_arrays(out, train_features=features, train_labels=labels)
        io.save_joblib(out / paths.TRANSFORMER, featurizer)


if __name__ == "__main__":
    run("featurize", main)
