"""Benchmark: batch ``deskew`` / ``center`` against their per-image SciPy references.

    python bench/deskew.py             # MNIST (if present) and scikit-learn digits
    python bench/deskew.py --n 20000 --n-ref 2000 --repeats 5
    python bench/deskew.py --save      # also write bench/results/deskew.json

Both run on one thread (threadpoolctl), in the same process, best of ``--repeats``.
The batch kernels are timed on ``--n`` images (default: all 70,000 MNIST images), the
SciPy loops (``deskew_reference``: ``ndimage.affine_transform``; ``center_reference``:
``ndimage.shift``) on the first ``--n-ref``; the maximum absolute difference is taken
over those.  The time for 70,000 images is measured for the batch kernels when ``--n``
is 70,000 and extrapolated (and labelled so) otherwise.
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

REFERENCES = {
    "deskew": "scipy.ndimage.affine_transform, one image at a time",
    "center": "scipy.ndimage.shift, one image at a time",
}


def run(name: str, images: np.ndarray, n: int, n_ref: int, repeats: int) -> list[dict]:
    """Time both kernels and their references on ``name``'s images, print and return."""
    n = min(n, len(images))
    n_ref = min(n_ref, n)
    batch, ref_images = images[:n], images[:n_ref]
    print(f"\n== {name}: {n} images {images.shape[1]}x{images.shape[2]}")
    rows = []
    for kernel, reference in [
        (kernels.deskew, kernels.deskew_reference),
        (kernels.center, kernels.center_reference),
    ]:
        t_ref, ref = best_of(lambda f=reference: np.stack([f(im) for im in ref_images]), repeats)
        t_fast, out = best_of(lambda f=kernel: f(batch), repeats)
        us_ref = t_ref / n_ref * 1e6
        us_fast = t_fast / n * 1e6
        diff = float(np.abs(out[:n_ref] - ref).max())
        label = "measured" if n == FULL else "extrapolated"
        print(f"{kernel.__name__}:")
        print(f"  scipy loop     {us_ref:8.2f} us/image   ({n_ref} images)")
        print(f"  batch kernel   {us_fast:8.2f} us/image   ({n} images)")
        print(f"  speed-up       {us_ref / us_fast:8.1f} x")
        print(f"  max |diff|     {diff:8.2e}")
        print(
            f"  70,000 images: batch {us_fast * FULL / 1e6:.2f} s ({label}), "
            f"scipy loop {us_ref * FULL / 1e6:.1f} s (extrapolated)"
        )
        rows.append(
            {
                "dataset": name,
                "image_size": f"{images.shape[1]}x{images.shape[2]}",
                "kernel": kernel.__name__,
                "images": n,
                "digitrec_us_per_image": significant(us_fast),
                "reference": REFERENCES[kernel.__name__],
                "reference_images": n_ref,
                "reference_us_per_image": significant(us_ref),
                "speedup": significant(us_ref / us_fast, 3),
                "max_abs_diff": significant(diff, 2),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=FULL, help="images for the batch kernels")
    parser.add_argument("--n-ref", type=int, default=2000, help="images for the SciPy loops")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    add_save_option(parser, "deskew")
    args = parser.parse_args(argv)

    with threadpool_limits(limits=1):
        print_first_kernel_calls()
        mnist = load_mnist(args.mnist_dir)
        if mnist is None:
            print(f"MNIST not found in {args.mnist_dir}: using random 28x28 images instead")
            mnist = np.random.default_rng(0).random((args.n, 28, 28))
            rows = run("random 28x28", mnist, args.n, args.n_ref, args.repeats)
        else:
            rows = run("MNIST", mnist, args.n, args.n_ref, args.repeats)
        digits = load_digits().images / 16.0
        rows += run("scikit-learn digits", digits, args.n, args.n_ref, args.repeats)
    if args.save:
        save(
            args.save,
            "deskew",
            __doc__.split("\n")[0],
            argv,
            settings={"repeats": args.repeats, "threads": 1},
            results=rows,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
