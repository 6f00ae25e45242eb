"""preprocess: scale (and optionally deskew, centre) the training images."""

from digitrec import io, params, paths
from digitrec.pipeline import build_preprocessor
from digitrec.registry import DATASETS
from digitrec.stages import run


def main() -> None:
    p = params.load("preprocess")
    info = io.read_json(paths.RAW / paths.DATASET_INFO)
    images, labels = io.load_arrays(paths.RAW, "train_images", "train_labels")
    preprocessor = build_preprocessor(DATASETS[info["dataset"]].spec, p.preprocess)
    processed = preprocessor.fit_transform(images)
    with io.new_directory(paths.PROCESSED) as out:
        io.write_arrays(out, train_images=processed, train_labels=labels)
        io.save_joblib(out / paths.TRANSFORMER, preprocessor)


if __name__ == "__main__":
    run("preprocess", main)
