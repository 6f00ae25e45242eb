"""evaluate: measure the saved model (the skops file predict and serve load) on the raw
test images; write metrics and plots."""

from digitrec import artifact, io, params, paths
from digitrec.evaluation import plots
from digitrec.evaluation.metrics import confusion, evaluate
from digitrec.stages import run


def main() -> None:
    p = params.load("evaluate")
    info = io.read_json(paths.RAW / paths.DATASET_INFO)
    images, labels = io.load_arrays(paths.RAW, "test_images", "test_labels")
    result = evaluate(artifact.load_model(paths.MODEL), images, labels)
    io.write_json(paths.METRICS / "evaluate.json", {"dataset": info["dataset"], **result.metrics})

    names = result.class_names
    wrong = result.y_true != result.y_pred
    with io.new_directory(paths.PLOTS / "evaluate") as out:
        io.write_csv(
            out / "predictions.csv",
            {
                "actual": [names[i] for i in result.y_true],
                "predicted": [names[i] for i in result.y_pred],
            },
        )
        io.write_csv(out / "precision_recall.csv", result.precision_recall)
        plots.save_confusion_matrix_png(confusion(result), names, out / "confusion_matrix.png")
        plots.save_misclassified_png(
            images[wrong],
            [names[i] for i in result.y_true[wrong]],
            [names[i] for i in result.y_pred[wrong]],
            out / "misclassified.png",
            max_images=p.evaluate.max_misclassified,
        )


if __name__ == "__main__":
    run("evaluate", main)
