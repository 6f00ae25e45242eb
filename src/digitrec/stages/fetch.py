"""fetch: get the dataset (bundled or downloaded and verified) into data/raw/."""

from digitrec import fits, io, params, paths
from digitrec.data.datasets import load_dataset
from digitrec.registry import DATASETS
from digitrec.stages import run


def main() -> None:
    p = params.load("fetch")
    f = p.fetch
    full = load_dataset(f.dataset, test_size=f.test_size, seed=p.seed, mirrors=f.mirrors)
    fits.require(fits.limit_problems(full.train_labels, full.test_labels, f.limit))
    data = full.head(f.limit)
    spec = DATASETS[data.name].spec
    with io.new_directory(paths.RAW) as out:
        io.write_arrays(
            out,
            train_images=data.train_images,
            train_labels=data.train_labels,
            test_images=data.test_images,
            test_labels=data.test_labels,
        )
        io.write_json(
            out / paths.DATASET_INFO,
            {
                "dataset": data.name,
                "image_shape": list(spec.shape),
                "max_value": spec.max_value,
                "n_train": len(data.train_labels),
                "n_test": len(data.test_labels),
            },
        )


if __name__ == "__main__":
    run("fetch", main)
