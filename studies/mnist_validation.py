"""Compare MNIST recipes on a validation split of the training images (the test split is unused).

    python studies/mnist_validation.py NAME -S featurize.method=gradient ...
    python studies/mnist_validation.py NAME --fit 20000 --robustness -S ... --save FILE

``-S key=value`` overrides params.yaml like ``dvc exp run -S`` (``fetch.dataset=mnist`` is
implied). The whole pipeline (preprocess, featurize, train) is fitted on the first
``--fit`` training images and scored on the last ``--validation`` ones (by default the
first 50,000 and the last 10,000 of the 60,000; the two never overlap). With
``--robustness`` the same held-out images are also scored after each corruption of
:data:`CORRUPTIONS` (rotation by ±20 degrees, scaling by 0.7, thicker and thinner strokes,
a blur), applied to the raw 0-255 images. ``--save FILE`` adds the result to a JSON list
(replacing an earlier one of the same NAME and split) with the date, the commit and the
machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import _params as study_params
import numpy as np
from scipy import ndimage
from threadpoolctl import threadpool_limits

from digitrec.data.datasets import load_dataset
from digitrec.pipeline import fit_pipeline
from digitrec.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]
_CROSS = ndimage.generate_binary_structure(2, 1)  # 3x3 cross: one-pixel stroke change


def _affine(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Each image mapped by ``matrix`` (output -> input coordinates) about its centre."""
    centre = (np.array(images.shape[1:]) - 1) / 2
    offset = centre - matrix @ centre
    return np.stack(
        [ndimage.affine_transform(im, matrix, offset, order=1, mode="constant") for im in images]
    )


def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return _affine(images, np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]))


def scale(images: np.ndarray, factor: float) -> np.ndarray:
    return _affine(images, np.eye(2) / factor)


def thicker(images: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.grey_dilation(im, footprint=_CROSS) for im in images])


def thinner(images: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.grey_erosion(im, footprint=_CROSS) for im in images])


def blur(images: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.gaussian_filter(im, 1.0) for im in images])


CORRUPTIONS = {
    "rotate+20": lambda x: rotate(x, 20),
    "rotate-20": lambda x: rotate(x, -20),
    "scale0.7": lambda x: scale(x, 0.7),
    "thicker": thicker,
    "thinner": thinner,
    "blur1": blur,
}


def corrupt(images: np.ndarray, name: str) -> np.ndarray:
    """Raw uint8 images corrupted by ``CORRUPTIONS[name]``, back to uint8."""
    out = CORRUPTIONS[name](images.astype(np.float64))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def support_vectors(model) -> dict[str, int]:
    """Support vector counts of the model's SVCs (a cascade has two)."""
    last = model.steps[-1][1]
    found = {}
    for name in ("first_", "second_"):
        inner = getattr(getattr(last, name, None), "estimator", getattr(last, name, None))
        if hasattr(inner, "support_"):
            found[name.rstrip("_")] = len(inner.support_)
    if hasattr(last, "support_"):
        found["svc"] = len(last.support_)
    return found


def provenance() -> dict[str, object]:
    def git(*args):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": {
            "node": platform.node(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
    }


def save(path: Path, record: dict) -> None:
    records = json.loads(path.read_text()) if path.exists() else []
    key = (record["name"], record["fit"], record["validation"])
    records = [r for r in records if (r["name"], r["fit"], r["validation"]) != key]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([*records, record], indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a label for this configuration")
    study_params.add_arguments(parser)
    parser.add_argument("--fit", type=int, default=50_000, help="first N training images")
    parser.add_argument("--validation", type=int, default=10_000, help="last N training images")
    parser.add_argument("--robustness", action="store_true", help="also score corruptions")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--save", type=Path, metavar="FILE", help="add the result to FILE")
    args = parser.parse_args()
    given = ["fetch.dataset=mnist", *args.set]
    p = study_params.load(args, implied={"fetch.dataset": "mnist"})
    if p.fetch.dataset != "mnist" or p.fetch.limit:
        parser.error("needs fetch.dataset=mnist and no fetch.limit")
    data = load_dataset("mnist", test_size=p.fetch.test_size, seed=p.seed,
                        mirrors=p.fetch.mirrors, progress=False)  # fmt: skip
    x, y = data.train_images, data.train_labels
    if args.fit + args.validation > len(y):
        parser.error(f"--fit + --validation exceed the {len(y)} training images")
    x_val, y_val = x[len(y) - args.validation :], y[len(y) - args.validation :]

    with threadpool_limits(limits=args.threads):
        start = time.perf_counter()
        model = fit_pipeline(p, DATASETS["mnist"].spec, x[: args.fit], y[: args.fit])
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        errors = int(np.count_nonzero(model.predict(x_val) != y_val))
        predict_seconds = time.perf_counter() - start
        robustness = {}
        if args.robustness:
            for name in CORRUPTIONS:
                wrong = int(np.count_nonzero(model.predict(corrupt(x_val, name)) != y_val))
                robustness[name] = round(100 * wrong / len(y_val), 2)
    record = {
        "name": args.name,
        "overrides": given,
        "fit": f"training images 0-{args.fit - 1}",
        "validation": f"training images {len(y) - args.validation}-{len(y) - 1}",
        "errors": errors,
        "error_percent": round(100 * errors / len(y_val), 2),
        "fit_seconds": round(fit_seconds, 1),
        "predict_seconds": round(predict_seconds, 1),
        "support_vectors": support_vectors(model),
    }
    if robustness:
        record["corrupted_error_percent"] = robustness
        record["mean_corrupted_error_percent"] = round(float(np.mean(list(robustness.values()))), 2)
    record.update(provenance())
    print(json.dumps(record, indent=2))
    if args.save:
        save(args.save, record)


if __name__ == "__main__":
    main()
