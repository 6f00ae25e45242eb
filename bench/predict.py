"""Inference speed of the saved pipeline, against the same model predicting with scikit-learn.

    python bench/predict.py                          # models/model.skops on data/raw's test set
    python bench/predict.py --model m.skops --images data/raw --repeat 5
    python bench/predict.py --save                   # also write bench/results/predict.json

The reference is the very same fitted model with digitrec's ``BatchedSVC`` and
``BatchedCalibratedClassifierCV`` turned back into scikit-learn's ``SVC`` and
``CalibratedClassifierCV`` (same fitted state, libsvm's per-sample decision function),
digitrec's ``PCA`` and ``DigitPipeline`` into scikit-learn's ``PCA`` and ``Pipeline``, and
a cascade routes by scikit-learn's decision values.
Prints, for both: the time to predict the whole test set (best of --repeat, on --threads
BLAS threads; libsvm itself uses one) and the time for one image (in-process, after load,
one BLAS thread: the median over --single test images in order, best of --repeat passes,
the two predictors' passes in turn; every pass's median is printed too, since a shared
machine's load moves them), their ratios, and whether the predictions are identical (they
must be). ``--save [PATH]`` writes these figures, the model's SHA-256 and their provenance
as JSON (see ``_common.py``).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
from _common import add_save_option, save, significant
from sklearn import decomposition
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils.validation import check_array
from threadpoolctl import threadpool_limits

from digitrec import artifact, paths
from digitrec.models.calibration import BatchedCalibratedClassifierCV
from digitrec.models.cascade import SVCCascade
from digitrec.models.svm import BatchedSVC, _clear_winners
from digitrec.pipeline import DigitPipeline
from digitrec.transforms.features import PCA


class ReferenceCascade(SVCCascade):
    """An :class:`SVCCascade` routing by scikit-learn's own one-vs-one decision values
    (libsvm, one sample at a time) instead of ``BatchedSVC.clear_winners``."""

    def _routes(self, X):
        X = check_array(X, accept_sparse="csr")
        first = copy.copy(getattr(self.first_, "estimator", self.first_))
        k = self.first_features
        x = X if k is None else X[:, :k]
        dec = first.set_params(decision_function_shape="ovo").decision_function(x)
        if len(self.classes_) == 2:  # scikit-learn flips the sign of libsvm's binary value
            dec = -dec[:, None]
        return X, _clear_winners(dec, self.margin, len(self.classes_))


REFERENCE = {
    DigitPipeline: Pipeline,
    PCA: decomposition.PCA,
    BatchedSVC: SVC,
    BatchedCalibratedClassifierCV: CalibratedClassifierCV,
    SVCCascade: ReferenceCascade,
}


def as_reference(model):
    """A deep copy of ``model`` whose batched estimators are scikit-learn's own again."""
    ref = copy.deepcopy(model)
    seen: set[int] = set()

    def visit(obj) -> None:
        if id(obj) in seen or not hasattr(obj, "__dict__"):
            return
        seen.add(id(obj))
        if type(obj) in REFERENCE:
            obj.__class__ = REFERENCE[type(obj)]
        for value in vars(obj).values():
            for item in value if isinstance(value, list | tuple) else [value]:
                for leaf in item if isinstance(item, tuple) else [item]:
                    visit(leaf)

    visit(ref)
    return ref


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def one_image_ms(predict, images: np.ndarray, n: int) -> float:
    """The median milliseconds of ``n`` one-image calls, over the images in order."""
    predict(images[:1])  # warm-up
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        predict(images[i % len(images)][None])
        times[i] = time.perf_counter() - start
    return 1000 * float(np.median(times))


def breakdown(model, images: np.ndarray, n: int) -> None:
    """Where one image's time goes: each step timed alone over the same images and, for a
    cascade, the median call by route (labelled by the first SVM, the image right after
    one sent on, whose data the final SVM's reads have evicted, and sent on)."""
    images = images[:n]
    print(f"one image, median ms over {n} test images in order (one BLAS thread):")
    with threadpool_limits(limits=1):
        x = images
        for name, step in model.steps[:-1]:
            print(f"  step {name}: {one_image_ms(step.transform, x, n):.3f}")
            x, before = step.transform(x), x
        name, last = model.steps[-1]
        print(f"  step {name}: {one_image_ms(last.predict, x, n):.3f}")
        if hasattr(last, "predict_through"):  # as the model predicts: the step before too
            before_name, before_step = model.steps[-2]
            through = one_image_ms(lambda r: last.predict_through(before_step, r), before, n)
            print(f"  steps {before_name} and {name}, through: {through:.3f}")
        plain = Pipeline(model.steps)  # scikit-learn's, with its per-call checks
        times, plain_times = np.empty(n), np.empty(n)
        model.predict(images[:1])
        for i in range(n):  # the two in turn, image by image (the same noise), first in turn
            pair = ((model, times), (plain, plain_times))
            for p, out in pair if i % 2 else pair[::-1]:
                start = time.perf_counter()
                p.predict(images[i][None])
                out[i] = 1000 * (time.perf_counter() - start)
        print(f"  whole pipeline: {np.median(times):.3f}")
        print(f"  the same steps in scikit-learn's Pipeline: {np.median(plain_times):.3f}")
        if hasattr(last, "routed_to_second"):
            sent = last.routed_to_second(x)
            after = np.r_[False, sent[:-1]] & ~sent
            for label, rows in [
                ("labelled by the first SVM, not right after one sent on", ~sent & ~after),
                ("right after an image sent on", after),
                ("sent on to the final SVM", sent),
            ]:
                print(f"  {label} ({rows.mean():.1%}): {np.median(times[rows]):.3f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=paths.MODEL)
    ap.add_argument("--images", type=Path, default=Path("data/raw"), help="holds test_images.npy")
    ap.add_argument(
        "--repeat", type=int, default=3, help="whole-set runs and one-image passes; the best counts"
    )
    ap.add_argument(
        "--single", type=int, default=200, help="one-image calls a pass; their median counts"
    )
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for the whole set")
    ap.add_argument(
        "--breakdown", action="store_true", help="only time one image step by step and by route"
    )
    add_save_option(ap, "predict")
    args = ap.parse_args(argv)
    if args.save and args.breakdown:
        ap.error("--save saves the comparison with scikit-learn, not --breakdown")
    loaded = artifact.load_artifact(args.model)
    model = loaded.model
    images = np.load(args.images / "test_images.npy")
    start = time.perf_counter()
    model.predict(images[:1])
    print(
        f"first prediction after load (compiles the kernels, or loads them from cache): "
        f"{time.perf_counter() - start:.2f} s, not in the figures"
    )
    if args.breakdown:
        breakdown(model, images, args.single)
        return
    reference = as_reference(model)
    method = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    models = {"digitrec": model, "scikit-learn": reference}
    rows = {}
    for name, m in models.items():
        with threadpool_limits(limits=args.threads):
            labels = m.predict(images)
            all_s = timed(lambda m=m: m.predict(images), args.repeat)
        rows[name] = {"labels": labels, "all_s": all_s, "one_ms": []}
    with threadpool_limits(limits=1):
        for _ in range(args.repeat):  # passes of the two in turn, so both see the same noise
            for name, m in models.items():
                rows[name]["one_ms"].append(one_image_ms(getattr(m, method), images, args.single))
    fast, ref = rows["digitrec"], rows["scikit-learn"]
    for r in rows.values():
        r["one_ms"], r["passes"] = min(r["one_ms"]), r["one_ms"]
    same = np.array_equal(fast["labels"], ref["labels"])
    threads = f"{args.threads} thread{'s' if args.threads > 1 else ''}"
    print(f"{args.model}: {len(images)} test images of {images.shape[1:]}, whole set on {threads}")
    print("| predictor | whole test set | per image (batched) | one image, " + method + " |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        per = 1e6 * r["all_s"] / len(images)
        print(f"| {name} | {r['all_s']:.2f} s | {per:.0f} µs | {r['one_ms']:.2f} ms |")
    print(
        f"speed-up: whole set {ref['all_s'] / fast['all_s']:.1f}x, "
        f"one image {ref['one_ms'] / fast['one_ms']:.1f}x; identical predictions: {same}"
    )
    print(
        f"one image: the median over {args.single} images, best of {args.repeat} passes; each pass:"
    )
    for name, r in rows.items():
        print(f"  {name}: {', '.join(f'{ms:.2f}' for ms in r['passes'])} ms")
    if args.save:
        results = [
            {
                "predictor": name,
                "whole_set_s": significant(r["all_s"]),
                "per_image_batched_us": significant(1e6 * r["all_s"] / len(images)),
                "one_image_ms": significant(r["one_ms"]),
                "one_image_ms_each_pass": [significant(ms, 3) for ms in r["passes"]],
            }
            for name, r in rows.items()
        ]
        summary = {
            "model": str(args.model),
            "model_sha256": loaded.sha256,
            "test_images": len(images),
            "image_shape": "x".join(map(str, images.shape[1:])),
            "one_image_method": method,
            "speedup_whole_set": significant(ref["all_s"] / fast["all_s"], 3),
            "speedup_one_image": significant(ref["one_ms"] / fast["one_ms"], 3),
            "identical_predictions": same,
        }
        settings = {"repeat": args.repeat, "single": args.single, "threads": args.threads}
        save(
            args.save,
            "predict",
            __doc__.split("\n")[0],
            argv,
            settings=settings,
            results=results,
            summary=summary,
        )
    if not same:
        raise SystemExit("predictions differ from the reference")


if __name__ == "__main__":
    main()
