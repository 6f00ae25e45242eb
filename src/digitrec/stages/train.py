"""train: fit the classifier and save the whole Pipeline (raw image -> label), as joblib
and as a checksummed skops file (what evaluate, predict and serve load)."""

from digitrec import artifact, fits, io, params, paths
from digitrec.models.registry import fit_classifier, learning_curve
from digitrec.pipeline import assemble
from digitrec.stages import run


def main() -> None:
    p = params.load("train")
    features, labels = io.load_arrays(paths.FEATURES, "train_features", "train_labels")
    fits.require(fits.train_problems(p.train, labels))
    featurizer = io.load_joblib(paths.FEATURES / paths.TRANSFORMER)
    # Virtual SVs read the support vectors' images; memory-mapped, nothing else is read.
    (images,) = io.load_arrays(paths.PROCESSED, "train_images", mmap=True)
    classifier = fit_classifier(p.train, p.seed, features, labels, images, featurizer)
    model = assemble(io.load_joblib(paths.PROCESSED / paths.TRANSFORMER), featurizer, classifier)
    with io.new_directory(paths.PLOTS / "train") as out:
        io.write_csv(out / "learning_curve.csv", learning_curve(classifier))
    io.save_joblib(paths.MODEL_JOBLIB, model)
    artifact.save_model(paths.MODEL, model)  # model.skops + model.sha256


if __name__ == "__main__":
    run("train", main)
