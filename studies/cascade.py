"""Choose ``train.svc.cascade_margin`` on training data: the cascade against the final SVM.

    python studies/cascade.py --project DIR
    python studies/cascade.py --project DIR --margins 0.5 1 1.5 --cache /tmp/cascade.joblib

DIR is a project whose preprocess and featurize stages have run with the recipe's params
(``python studies/recipes.py --keep DIRS mnist-virtual-svc`` leaves one in
DIRS/mnist-virtual-svc). The test set is not read: ``--validation`` stratified training
images are held out, the virtual SV method's two rounds (DIR's train params) are fitted on
the rest, and for each margin the script prints the share of held-out images the first
SVM leaves to the final one, the errors of the cascade, of the final SVM alone and of the
first SVM alone, how many of the cascade's labels differ from the final SVM's, and the
time to label the held-out features (BLAS threads: ``--threads``).

``--first-features K`` fits the first SVM on the K leading features (PCA components) only,
as ``train.svc.cascade_features`` does. ``--cache FILE`` keeps the fitted cascade (joblib)
and reuses it when it was fitted on the same split (refitting only the first SVM when K
differs).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from digitrec import io, params, paths
from digitrec.models.cascade import SVCCascade
from digitrec.models.registry import fit_classifier


def load_split(project: Path, validation: int):
    """The project's train params and training data, and a stratified held-out split."""
    p = params.load("train", project / params.PARAMS_FILE)
    features, labels = io.load_arrays(project / paths.FEATURES, "train_features", "train_labels")
    fit, held_out = train_test_split(
        np.arange(len(labels)), test_size=validation, stratify=labels, random_state=p.seed
    )
    return p, features, labels, fit, held_out


def fit_cascade(project: Path, p, features, labels, fit, first_features):
    """Both rounds of the virtual SV method on the ``fit`` rows, as an SVCCascade."""
    svc = p.train.svc.model_copy(update={"cascade_margin": 1.0, "cascade_features": first_features})
    train = params.TrainParams.model_validate(  # the recipe must allow a cascade
        p.train.model_copy(update={"svc": svc}).model_dump()
    )
    featurizer = io.load_joblib(project / paths.FEATURES / paths.TRANSFORMER)
    (images,) = io.load_arrays(project / paths.PROCESSED, "train_images", mmap=True)
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        cascade = fit_classifier(
            train, p.seed, features[fit], labels[fit], np.asarray(images[fit]), featurizer
        )
    print(f"fitted on {len(fit)} training images in {time.perf_counter() - start:.0f} s")
    return cascade


def unfrozen(estimator):
    """The estimator inside a ``FrozenEstimator``, or ``estimator`` itself."""
    return getattr(estimator, "estimator", estimator)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, default=Path("."))
    ap.add_argument("--validation", type=int, default=10_000, help="held-out training images")
    ap.add_argument("--margins", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0, 1.5])
    ap.add_argument(
        "--first-features",
        type=int,
        help="train.svc.cascade_features; 0 = the first round (default: the project's)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, help="keep the fitted cascade here (joblib)")
    args = ap.parse_args()

    p, features, labels, fit, held_out = load_split(args.project, args.validation)
    k = p.train.svc.cascade_features if args.first_features is None else args.first_features
    k = k or None  # 0: the first round itself
    cached = joblib.load(args.cache) if args.cache and args.cache.exists() else {}
    cascade = cached.get("cascade")
    if cascade is None or cached.get("held_out") != len(held_out):
        cascade = fit_cascade(args.project, p, features, labels, fit, k)
    elif cascade.first_features != k:  # the same final SVM; only the first is fitted again
        first = clone(unfrozen(cascade.first_))
        cascade = SVCCascade(first, cascade.second_, first_features=k)  # second_: frozen
        cascade.fit(features[fit], labels[fit])
    if args.cache:
        joblib.dump({"cascade": cascade, "held_out": len(held_out)}, args.cache)
    x, y = features[held_out], labels[held_out]
    first, second = unfrozen(cascade.first_), unfrozen(cascade.second_)

    with threadpool_limits(limits=args.threads):
        start = time.perf_counter()
        final = second.predict(x)
        final_s = time.perf_counter() - start
        alone = first.predict(x if k is None else x[:, :k])
        rows = []
        for margin in args.margins:
            cascade.set_params(margin=margin)
            start = time.perf_counter()
            labels = cascade.predict(x)
            seconds = time.perf_counter() - start
            routed = cascade.routed_to_second(x).mean()
            rows.append((margin, routed, labels, seconds))

    n = len(y)
    print(
        f"{n} held-out training images; first SVM: {len(first.support_)} support vectors of "
        f"{first.shape_fit_[1]} features; final SVM: {len(second.support_)} of "
        f"{second.shape_fit_[1]}; {args.threads} BLAS threads"
    )
    print(
        f"final SVM alone: {(final != y).sum()} errors ({(final != y).mean():.2%}), {final_s:.2f} s"
    )
    print(f"first SVM alone: {(alone != y).sum()} errors ({(alone != y).mean():.2%})")
    print("| margin | to the final SVM | errors | error | differ from final | time | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for margin, routed, labels, seconds in rows:
        errors = int((labels != y).sum())
        print(
            f"| {margin:g} | {routed:.1%} | {errors} | {errors / n:.2%} | "
            f"{int((labels != final).sum())} | {seconds:.2f} s | {final_s / seconds:.1f}x |"
        )


if __name__ == "__main__":
    main()
