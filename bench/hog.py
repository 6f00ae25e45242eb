"""Benchmark: batch ``digitrec.kernels.hog`` against the scikit-image per-image loop.

    python bench/hog.py                # MNIST (if present) and scikit-learn digits
    python bench/hog.py --n 20000 --n-ref 300 --repeats 5
    python bench/hog.py --save         # also write bench/results/hog.json

Both run on one thread (threadpoolctl), in the same process, best of ``--repeats``.
The batch kernel is timed on ``--n`` images (default: all 70,000 MNIST images), the
scikit-image loop on the first ``--n-ref`` of them; the maximum absolute difference is
taken over those ``--n-ref`` images.  The time for 70,000 images is measured for the
batch kernel when ``--n`` is 70,000 and extrapolated (and labelled so) otherwise.
``--save [PATH]`` writes the figures and their provenance as JSON (see ``_common.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _common import (
    FULL,
    MNIST_DIR,
    add_save_option,
    best_of,
    load_mnist,
    print_first_kernel_calls,
    save,
    significant,
)
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from digitrec import kernels


def run(name: str, images: np.ndarray, params: dict, n: int, n_ref: int, repeats: int) -> dict:
    """Time both on ``name``'s images, print the figures and return them."""
    n = min(n, len(images))
    n_ref = min(n_ref, n)
    batch, ref_images = images[:n], images[:n_ref]
    print(f"\n== {name}: {n} images {images.shape[1]}x{images.shape[2]}, {params}")

    t_ref, ref = best_of(lambda: kernels.hog_reference(ref_images, **params), repeats)
    t_fast, out = best_of(lambda: kernels.hog(batch, **params), repeats)
    us_ref = t_ref / n_ref * 1e6
    us_fast = t_fast / n * 1e6
    diff = float(np.abs(out[:n_ref] - ref).max())
    print(f"skimage loop   {us_ref:9.1f} us/image   ({n_ref} images)")
    print(f"batch kernel   {us_fast:9.1f} us/image   ({n} images, {out.shape[1]} features)")
    print(f"speed-up       {us_ref / us_fast:9.1f} x")
    print(f"max |diff|     {diff:9.2e}")
    label = "measured" if n == FULL else "extrapolated"
    print(
        f"70,000 images: batch {us_fast * FULL / 1e6:.2f} s ({label}), "
        f"skimage loop {us_ref * FULL / 1e6:.1f} s (extrapolated)"
    )
    return {
        "dataset": name,
        "image_size": f"{images.shape[1]}x{images.shape[2]}",
        "params": ", ".join(f"{k}={v}" for k, v in params.items()),
        "images": n,
        "digitrec_us_per_image": significant(us_fast),
        "reference": "skimage.feature.hog, one image at a time",
        "reference_images": n_ref,
        "reference_us_per_image": significant(us_ref),
        "speedup": significant(us_ref / us_fast, 3),
        "max_abs_diff": significant(diff, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=FULL, help="images for the batch kernel")
    parser.add_argument("--n-ref", type=int, default=500, help="images for the skimage loop")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    add_save_option(parser, "hog")
    args = parser.parse_args(argv)

    with threadpool_limits(limits=1):
        print_first_kernel_calls()
        mnist = load_mnist(args.mnist_dir)
        if mnist is None:
            print(f"MNIST not found in {args.mnist_dir}: using random 28x28 images instead")
            mnist = np.random.default_rng(0).random((args.n, 28, 28))
            name = "random 28x28"
        else:
            name = "MNIST"
        params = dict(orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
        rows = [
            run(name, mnist, {**params, "block_norm": norm}, args.n, args.n_ref, args.repeats)
            for norm in ("L2-Hys", "L1")
        ]
        digits = load_digits().images / 16.0
        params = dict(orientations=9, pixels_per_cell=(2, 2), cells_per_block=(2, 2))
        rows.append(run("scikit-learn digits", digits, params, args.n, args.n_ref, args.repeats))
    if args.save:
        save(
            args.save,
            "hog",
            __doc__.split("\n")[0],
            argv,
            settings={"repeats": args.repeats, "threads": 1},
            results=rows,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
