"""Where joblib-parallel work runs: this machine, or a Dask cluster (``compute`` params).

scikit-learn parallelises through joblib, and joblib runs its tasks on a Dask cluster
inside ``joblib.parallel_config(backend="dask")``. :func:`backend` opens that context for
the chosen backend, so the same code (a cross-validated search, chunked feature
extraction) runs locally or on a cluster and gives the same results: each task computes
exactly what it would compute locally. Dask is an optional extra
(``pip install 'digitrec[distributed]'``), imported only when it is chosen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from digitrec.errors import UserError
from digitrec.params import ComputeParams

INSTALL_HINT = "pip install 'digitrec[distributed]'"


class ComputeError(UserError, RuntimeError):
    """The chosen compute backend cannot be used (missing package, unreachable scheduler)."""


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ComputeError(
            "compute.backend = 'dask' needs dask.distributed, which is not installed; "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return distributed


@contextlib.contextmanager
def _dask_client(params: ComputeParams) -> Iterator[object]:
    """A client of the scheduler at ``params.scheduler``, or of a LocalCluster started
    here (``n_jobs`` single-threaded worker processes) and closed on exit."""
    distributed = _distributed()
    if params.scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=params.n_jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
        with cluster, distributed.Client(cluster, set_as_default=False) as client:
            yield client
        return
    try:
        client = distributed.Client(params.scheduler, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ComputeError(
            f"compute.scheduler = {params.scheduler!r}: cannot connect to a Dask scheduler "
            f"there ({exc}); start one (`dask scheduler`, then `dask worker ADDRESS` on each "
            "machine) or set compute.scheduler: null to start a LocalCluster"
        ) from None
    with client:
        yield client


@contextlib.contextmanager
def backend(params: ComputeParams) -> Iterator[int]:
    """Run joblib-parallel code in the body on the backend ``params`` choose.

    Yields:
        the ``n_jobs`` to give scikit-learn estimators and :func:`map_chunks`: the local
        process count, or -1 on Dask (joblib's Dask backend always uses every worker).

    Raises:
        ComputeError: Dask is chosen but not installed, or its scheduler is unreachable.
    """
    if params.backend == "local" and params.n_jobs == 1:
        yield 1  # in this process
        return
    if params.backend == "local":
        # Worker processes with BLAS on one thread, as in the stages: the same results.
        with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
            yield params.n_jobs
        return
    with _dask_client(params) as client, joblib.parallel_config(backend="dask", client=client):
        yield -1


def map_chunks(
    function: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, chunk_size: int, n_jobs: int
) -> np.ndarray:
    """``function`` applied to consecutive chunks of ``chunk_size`` rows, results stacked.

    Equal to ``function(rows)`` whenever ``function`` treats each row on its own. Chunks run
    as joblib tasks on the current backend (see :func:`backend`); each result is copied
    into the output as it arrives, in order, so only the output and a few chunks are ever
    held (no final concatenation).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if len(rows) <= chunk_size:
        return function(rows)
    starts = range(0, len(rows), chunk_size)
    chunks = (rows[start : start + chunk_size] for start in starts)
    if n_jobs == 1:
        parts = map(function, chunks)
    else:
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
        parts = parallel(joblib.delayed(function)(chunk) for chunk in chunks)
    out: np.ndarray | None = None
    for start, part in zip(starts, parts, strict=True):
        if out is None:
            out = np.empty((len(rows), *part.shape[1:]), dtype=part.dtype)
        out[start : start + len(part)] = part
    assert out is not None  # there is at least one chunk
    return out


def fit_transform_chunked(
    pipeline: Pipeline, rows: np.ndarray, chunk_size: int, n_jobs: int
) -> np.ndarray:
    """Fit ``pipeline`` on ``rows`` and return the transformed rows, exactly as
    ``pipeline.fit_transform(rows)`` does.

    The first step must learn nothing from the data and treat each row on its own (pixels,
    HOG): it is fitted here and applied in chunks by :func:`map_chunks`. The later steps
    (PCA, scaling) need every row at once and are fitted here on the stacked result.
    Everything fitted here runs in this process, whatever the backend, so the fitted
    ``pipeline`` is the same object, down to its pickled bytes.
    """
    with joblib.parallel_config(backend="sequential"):
        first = pipeline.steps[0][1].fit(rows)
    transformed = map_chunks(first.transform, rows, chunk_size, n_jobs)
    if len(pipeline) == 1:
        return transformed
    with joblib.parallel_config(backend="sequential"):
        return pipeline[1:].fit_transform(transformed)
