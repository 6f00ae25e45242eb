"""Benchmark: the featurize stage's extraction on all 70,000 MNIST images.

    python bench/featurize.py                  # best of 3, chunks of compute.chunk_size
    python bench/featurize.py --repeats 5 --chunk-size 1000
    python bench/featurize.py --save           # also write bench/results/featurize.json

Times what the featurize stage computes for the MNIST recipes before PCA: deskewed
images -> pixels and HOG (4x4-pixel cells, 9 orientations, L2-Hys) side by side, through
``compute.fit_transform_chunked`` as the stage calls it, on one thread. Prints the best wall
and CPU time of ``--repeats`` runs, and the same extraction with scikit-image's per-image
``hog`` in place of digitrec's batch kernel (timed on ``--n-ref`` images, extrapolated).
``--save [PATH]`` writes the figures and their provenance as JSON (see ``_common.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    FULL,
    MNIST_DIR,
    add_save_option,
    load_mnist,
    print_first_kernel_calls,
    save,
    significant,
)
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from digitrec import compute, kernels
from digitrec.params import ComputeParams
from digitrec.transforms.features import Hog, Pixels, SequentialFeatureUnion

HOG = dict(orientations=9, pixels_per_cell=4, cells_per_block=2, block_norm="L2-Hys")


class ReferenceHog(Hog):
    """The same features from scikit-image's ``hog``, one image at a time."""

    def transform(self, X):
        return kernels.hog_reference(
            X,
            orientations=self.orientations,
            pixels_per_cell=(self.pixels_per_cell,) * 2,
            cells_per_block=(self.cells_per_block,) * 2,
            block_norm=self.block_norm,
        )


def extract(images: np.ndarray, hog: Hog, chunk_size: int) -> tuple[float, float, np.ndarray]:
    """Wall and CPU seconds of the stage's extraction, and its result."""
    pipeline = Pipeline(
        [("features", SequentialFeatureUnion([("pixels", Pixels()), ("hog", hog)]))]
    )
    wall, cpu = time.perf_counter(), time.process_time()
    features = compute.fit_transform_chunked(pipeline, images, chunk_size, n_jobs=1)
    return time.perf_counter() - wall, time.process_time() - cpu, features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--chunk-size", type=int, default=ComputeParams().chunk_size)
    parser.add_argument("--n-ref", type=int, default=500, help="images for scikit-image")
    parser.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    add_save_option(parser, "featurize")
    args = parser.parse_args(argv)

    mnist = load_mnist(args.mnist_dir)
    dataset = "deskewed MNIST"
    if mnist is None:
        print(f"MNIST not found in {args.mnist_dir}: using random 28x28 images instead")
        mnist = np.random.default_rng(0).random((FULL, 28, 28))
        dataset = "deskewed random 28x28"
    with threadpool_limits(limits=1):
        print_first_kernel_calls()
        images = kernels.deskew(mnist)
        runs = [extract(images, Hog(**HOG), args.chunk_size) for _ in range(args.repeats)]
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        features = runs[-1][2]
        ref_wall, _, ref = extract(images[: args.n_ref], ReferenceHog(**HOG), args.chunk_size)
    ref_total = ref_wall / args.n_ref * len(images)
    diff = float(np.abs(features[: args.n_ref] - ref).max())
    print(f"{len(images)} deskewed MNIST images -> {features.shape[1]} features (pixels + HOG)")
    print(
        f"digitrec     {wall:6.2f} s wall, {cpu:6.2f} s CPU  (best of {args.repeats}, "
        f"chunks of {args.chunk_size}, 1 thread)"
    )
    print(f"scikit-image {ref_total:6.1f} s (extrapolated from {args.n_ref} images)")
    print(f"speed-up     {ref_total / wall:6.1f} x    max |diff| {diff:.1e}")
    if args.save:
        row = {
            "dataset": dataset,
            "images": len(images),
            "features": features.shape[1],
            "digitrec_wall_s": significant(wall),
            "digitrec_cpu_s": significant(cpu),
            "reference": "the same with skimage.feature.hog, one image at a time",
            "reference_images": args.n_ref,
            "reference_s_extrapolated": significant(ref_total),
            "speedup": significant(ref_total / wall, 3),
            "max_abs_diff": significant(diff, 2),
        }
        settings = {"repeats": args.repeats, "chunk_size": args.chunk_size, "threads": 1}
        save(args.save, "featurize", __doc__.split("\n")[0], argv, settings=settings, results=[row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
