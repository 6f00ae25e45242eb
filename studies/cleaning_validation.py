"""Choose the cleaning settings (``digitrec.transforms.cleaning``) on a validation split of
the MNIST training images (the test split is unused).

    python studies/cleaning_validation.py -S preprocess.deskew=true -S featurize.method=gradient ...
    python studies/cleaning_validation.py --model FILE --validation 2000 --save FILE

The pipeline of params.yaml with the ``-S`` overrides (``fetch.dataset=mnist`` implied) is
fitted on the first ``--fit`` training images, or loaded from ``--model`` (a joblib file
fitted that way), and scored on the last ``--validation`` ones after each corruption of
params.yaml's ``robustness`` suite, along both paths of the robustness stage: the raw
arrays into the model (with its ``clean`` step), and each image through ``normalize``
first. Each setting of :data:`GRID` is scored, and ``off`` (no cleaning at all) beside
them. Prints the mean corruption error and the clean error per setting and path;
``--save FILE`` writes them with the date, the commit and the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import _params as study_params
import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from digitrec.data.datasets import load_dataset
from digitrec.evaluation.robustness import corrupt, predict_normalized
from digitrec.pipeline import DigitPipeline, fit_pipeline
from digitrec.registry import DATASETS
from digitrec.transforms import cleaning
from digitrec.transforms.preprocessing import Clean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _common import provenance  # noqa: E402

# (noise threshold, smoothing sigma, line margin); None: no cleaning
GRID: dict[str, tuple[float, float, float] | None] = {
    "off": None,
    **{
        f"noisy {noisy} smoothing {smoothing}": (noisy, smoothing, 0.05)
        for noisy in (0.03, 0.05, 0.08)
        for smoothing in (0.7, 1.0, 1.5)
    },
    "noisy 0.05 smoothing 1.0 margin 0.1": (0.05, 1.0, 0.1),
}


@contextlib.contextmanager
def settings(setting: tuple[float, float, float] | None):
    saved = (cleaning.NOISY, cleaning.SMOOTHING, cleaning.LINE_MARGIN, cleaning.ruled_lines)
    if setting is None:
        cleaning.NOISY = np.inf
        cleaning.ruled_lines = np.zeros_like  # type: ignore[assignment]
    else:
        cleaning.NOISY, cleaning.SMOOTHING, cleaning.LINE_MARGIN = setting
    try:
        yield
    finally:
        cleaning.NOISY, cleaning.SMOOTHING, cleaning.LINE_MARGIN, cleaning.ruled_lines = saved


def with_clean_step(model: DigitPipeline, images: np.ndarray) -> DigitPipeline:
    """``model`` with a clean step after its first (``ImageScaler``), whether it had one."""
    steps = [(n, s) for n, s in model.steps if n != "clean"]
    return DigitPipeline([steps[0], ("clean", Clean().fit(images)), *steps[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    study_params.add_arguments(parser)
    parser.add_argument("--model", type=Path, help="a fitted pipeline (joblib) to score")
    parser.add_argument("--fit", type=int, default=50_000, help="first N training images")
    parser.add_argument("--validation", type=int, default=10_000, help="last N training images")
    parser.add_argument("--save", type=Path, metavar="FILE")
    args = parser.parse_args()
    p = study_params.load(args, implied={"fetch.dataset": "mnist"})
    spec = DATASETS["mnist"].spec
    data = load_dataset("mnist", test_size=p.fetch.test_size, seed=p.seed,
                        mirrors=p.fetch.mirrors, progress=False)  # fmt: skip
    x, y = data.train_images, data.train_labels
    x_val, y_val = x[len(y) - args.validation :], y[len(y) - args.validation :]
    with threadpool_limits(limits=1):
        if args.model:
            model = joblib.load(args.model)
        else:
            model = fit_pipeline(p, spec, x[: args.fit], y[: args.fit])
        model = with_clean_step(model, x_val)
        corrupted = {"clean": x_val}
        for name, severity in p.robustness.corruptions.selected().items():
            corrupted[name] = corrupt(x_val, name, severity, spec, p.seed)
        results = {}
        for label, setting in GRID.items():
            with settings(setting):
                errors = {
                    name: {
                        "raw": float(np.mean(model.predict(images) != y_val)),
                        "normalized": float(
                            np.mean(predict_normalized(model, images, spec) != y_val)
                        ),
                    }
                    for name, images in corrupted.items()
                }
            row = {
                path: {
                    "clean_error": round(errors["clean"][path], 4),
                    "mean_corruption_error": round(
                        float(np.mean([e[path] for n, e in errors.items() if n != "clean"])), 4
                    ),
                }
                for path in ("raw", "normalized")
            }
            results[label] = row | {"errors": errors}
            print(label, json.dumps(row), flush=True)
    if args.save:
        record = {
            "model": str(args.model) if args.model else f"fit on training images 0-{args.fit - 1}",
            "overrides": args.set,
            "validation": f"training images {len(y) - args.validation}-{len(y) - 1}",
            "results": results,
            **provenance(ROOT),
        }
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
