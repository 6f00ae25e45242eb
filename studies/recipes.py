"""Measure documented recipes end to end: `dvc exp run evaluate robustness -S ...` in a fresh
copy of the project (the model, its test metrics and its robustness to corruptions).

Prints a Markdown table (dataset, features, model, test accuracy, error, wall time of the
whole pipeline from fetch to metrics). MNIST and optdigits are downloaded through the real
fetch stage: point DIGITREC_MIRRORS at a mirror if the default ones are unreachable.

    python studies/recipes.py                     # every recipe below
    python studies/recipes.py digits-raw-svc mnist-pca-svc
    python studies/recipes.py --save metrics/recipes mnist-virtual-svc

``--save DIR`` also writes each recipe's metrics, wall time, command and provenance (when, on
which commit and on what machine it was measured: ``provenance`` in ``bench/_common.py``) to
DIR/<recipe>.json, which ``make docs`` renders in ``docs/results.md``;
``--keep DIR`` runs the recipes in DIR/<recipe> and keeps them (to benchmark the models, e.g.
``python bench/predict.py --model DIR/<recipe>/models/model.skops --images DIR/<recipe>/data/raw``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from digitrec import artifact

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # the benchmarks' provenance, one definition for both
from _common import provenance  # noqa: E402

PROJECT_FILES = [
    "src",
    "templates",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    ".dvcignore",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
]

# The MNIST virtual SV recipe; its cascade variant adds the cascade's two params.
_MNIST_VIRTUAL_SVC = [
    "fetch.dataset=mnist",
    "preprocess.deskew=true",
    "featurize.hog.pixels_per_cell=4",
    "featurize.hog.orientations=9",
    "featurize.hog.block_norm=L2-Hys",
    "featurize.pca.n_components=200",
    "train.svc.calibrate=false",
    "train.svc.virtual_shift=1",
    "train.svc.virtual_directions=8",
]

RECIPES: dict[str, list[str]] = {
    "digits-default": [],
    "digits-raw-svc": ["featurize.method=raw"],
    "digits-raw-knn": ["featurize.method=raw", "train.model=knn"],
    "digits-logreg": ["featurize.method=raw", "featurize.standardize=true", "train.model=logreg"],
    "digits-random-forest": ["featurize.method=raw", "train.model=random_forest"],
    "digits-mlp": [
        "featurize.method=raw",
        "train.model=mlp",
        "train.mlp.alpha=0.1",
        "train.mlp.early_stopping=false",
    ],
    "digits-detector-3": ["train.positive_digit=3"],
    "optdigits-default": ["fetch.dataset=optdigits"],
    "optdigits-gradient": ["fetch.dataset=optdigits", "featurize.method=gradient"],
    "mnist-pca-svc": [
        "fetch.dataset=mnist",
        "featurize.method=raw",
        "featurize.pca.n_components=50",
        "train.svc.calibrate=false",
    ],
    "mnist-deskew-hog-pca-svc": [
        "fetch.dataset=mnist",
        "preprocess.deskew=true",
        "featurize.hog.pixels_per_cell=4",
        "featurize.hog.orientations=9",
        "featurize.hog.block_norm=L2-Hys",
        "featurize.pca.n_components=80",
        "train.svc.calibrate=false",
    ],
    "mnist-virtual-svc": _MNIST_VIRTUAL_SVC,
    "mnist-virtual-svc-cascade": [
        *_MNIST_VIRTUAL_SVC,
        "train.svc.cascade_features=40",
        "train.svc.cascade_margin=1.0",
    ],
    "mnist-gradient-virtual-svc": [
        "fetch.dataset=mnist",
        "preprocess.deskew=true",
        "featurize.method=gradient",
        "featurize.gradient.upsample=1",
        "featurize.pca.n_components=200",
        "train.svc.calibrate=false",
        "train.svc.virtual_shift=1",
        "train.svc.virtual_directions=8",
        "train.svc.virtual_rotate=12",
        "train.svc.virtual_scale=0.15",
        "train.svc.virtual_thickness=0.75",
    ],
    "mnist-gradient16-virtual-svc": [
        "fetch.dataset=mnist",
        "preprocess.deskew=true",
        "featurize.method=gradient",
        "featurize.gradient.upsample=1",
        "featurize.gradient.directions=16",
        "featurize.pca.n_components=200",
        "train.svc.calibrate=false",
        "train.svc.virtual_shift=1",
        "train.svc.virtual_directions=8",
        "train.svc.virtual_rotate=12",
        "train.svc.virtual_scale=0.15",
        "train.svc.virtual_thickness=0.75",
    ],
}


def describe(overrides: list[str]) -> dict[str, str]:
    values = dict(o.split("=", 1) for o in overrides)
    features = values.get("featurize.method", "raw_hog")
    if values.get("preprocess.deskew") == "true":
        features = "deskew + " + features
    if "featurize.pca.n_components" in values:
        features += f" + PCA({values['featurize.pca.n_components']})"
    model = values.get("train.model", "svc")
    copies = []
    if "train.svc.virtual_shift" in values:
        copies.append(f"{values['train.svc.virtual_shift']} px, "
                      f"{values.get('train.svc.virtual_directions', '8')} directions")  # fmt: skip
    for key, text in [("rotate", "rotations ±{}°"), ("scale", "scalings 1 ± {}"),
                      ("thickness", "strokes ± {} of a 3x3 dilation")]:  # fmt: skip
        if f"train.svc.virtual_{key}" in values:
            copies.append(text.format(values[f"train.svc.virtual_{key}"]))
    if copies:
        model += f" + virtual SVs ({'; '.join(copies)})"
    if "train.svc.cascade_margin" in values:
        first = values.get("train.svc.cascade_features")
        model += f", an SVC on the first {first} components" if first else ", first-round SVM"
        model += f" where clear by {values['train.svc.cascade_margin']}"
    if "train.positive_digit" in values:
        model += f" (is it a {values['train.positive_digit']}?)"
    return {"dataset": values.get("fetch.dataset", "digits"), "features": features, "model": model}


def run_recipe(name: str, overrides: list[str], workdir: Path) -> dict:
    repo = workdir / name
    for item in PROJECT_FILES:
        source, target = ROOT / item, repo / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "project"], cwd=repo, check=True)
    # The model, its test metrics and its robustness; not the search stage.
    command = [sys.executable, "-m", "dvc", "exp", "run", "evaluate", "robustness"]
    for override in overrides:
        command += ["-S", override]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    stages = {m[0]: float(m[1]) for m in re.findall(r"(\w+): done in ([\d.]+) s", done.stderr)}
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    robustness = json.loads((repo / "metrics/robustness.json").read_text())
    line = " ".join(["dvc exp run evaluate robustness", *(f"-S {o}" for o in overrides)])
    return {
        **describe(overrides),
        "metrics": metrics,
        "robustness": robustness,
        "seconds": seconds,
        "train_seconds": stages.get("train"),
        "stage_seconds": stages,
        **predict_speed(repo),
        "command": line,
    }


def predict_speed(repo: Path) -> dict[str, float]:
    """Test images per second of the saved model, predicting the whole test set at once
    (in-process after load, one BLAS thread; best of 3)."""
    model = artifact.load_model(repo / "models/model.skops")
    images = np.load(repo / "data/raw/test_images.npy")
    best = float("inf")
    with threadpool_limits(limits=1):
        for _ in range(3):
            start = time.perf_counter()
            model.predict(images)
            best = min(best, time.perf_counter() - start)
    return {"predict_images_per_second": round(len(images) / best)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="*", metavar="RECIPE", help=", ".join(RECIPES))
    parser.add_argument("--save", type=Path, metavar="DIR", help="write DIR/<recipe>.json")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="run in DIR/<recipe>, keep it")
    args = parser.parse_args()
    names = args.recipes or list(RECIPES)
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipes {unknown}; expected some of {list(RECIPES)}")
    print(
        "| recipe | dataset | features | model | test accuracy (error) | fetch to metrics "
        "| train | predict |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with contextlib.ExitStack() as stack:
        tmp = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="recipes-"))
        for name in names:
            r = run_recipe(name, RECIPES[name], Path(tmp))
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                record = {
                    "recipe": name,
                    **r,
                    "seconds": round(r["seconds"], 1),
                    "provenance": provenance(ROOT),
                }
                text = json.dumps(record, indent=2, sort_keys=True) + "\n"
                (args.save / f"{name}.json").write_text(text, encoding="utf-8")
            m = r["metrics"]
            score = f"{100 * m['accuracy']:.2f} % ({100 * (1 - m['accuracy']):.2f} %)"
            if "f1" in m:
                score += f" (F1 {m['f1']:.3f}, AP {m['average_precision']:.3f})"
            dataset = f"{r['dataset']} ({m['n_test']} test)"
            row = [
                f"`{name}`",
                dataset,
                r["features"],
                r["model"],
                score,
                f"{r['seconds']:.0f} s",
                f"{r['train_seconds']:.0f} s",
                f"{r['predict_images_per_second']:,} images/s",
            ]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
