"""robustness: the saved model's accuracy on corrupted test images, straight from the raw
arrays and through digitrec.transforms.imaging.normalize (as predict and serve take
pictures); writes metrics/robustness.json and plots/robustness/."""

from digitrec import artifact, io, params, paths
from digitrec.evaluation import plots, robustness
from digitrec.registry import DATASETS
from digitrec.stages import run


def main() -> None:
    p = params.load("robustness")
    r = p.robustness
    info = io.read_json(paths.RAW / paths.DATASET_INFO)
    images, labels = io.load_arrays(paths.RAW, "test_images", "test_labels")
    if r.n_images:
        images, labels = images[: r.n_images], labels[: r.n_images]
    spec = DATASETS[info["dataset"]].spec
    model = artifact.load_model(paths.MODEL)
    metrics, conditions = robustness.measure(
        model, images, labels, spec, r.corruptions.selected(), p.seed
    )
    io.write_json(paths.METRICS / "robustness.json", {"dataset": info["dataset"], **metrics})
    table = robustness.accuracy_table(metrics)
    mce = metrics["mean_corruption_error"]
    with io.new_directory(paths.PLOTS / "robustness") as out:
        io.write_csv(out / "accuracy.csv", table)
        plots.save_accuracy_bars_png(
            table["condition"],
            {path: table[path] for path in robustness.PATHS},
            out / "accuracy.png",
            title=f"{info['dataset']}: accuracy on {metrics['n_images']} test images\nmean "
            f"corruption error {mce['raw']:.3f} raw, {mce['normalized']:.3f} normalized",
        )
        plots.save_gallery_png(
            robustness.gallery_rows(conditions, robustness.targets(model, labels), r.gallery),
            out / "gallery.png",
            title=robustness.GALLERY_TITLE,
            vmax=spec.max_value,
        )


if __name__ == "__main__":
    run("robustness", main)
