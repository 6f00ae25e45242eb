import importlib
import io as stdio
import os
import socket
import subprocess
import sys

import joblib
import numpy as np
import pytest

from digitrec import compute, io, params
from digitrec.imagespec import DIGITS
from digitrec.params import ComputeParams, FeaturizeParams, ParamsError, PreprocessParams
from digitrec.pipeline import build_featurizer, build_preprocessor

featurize_stage = importlib.import_module("digitrec.stages.featurize")

FEATURES = [
    FeaturizeParams(method="raw_hog", hog={"pixels_per_cell": 2}),
    FeaturizeParams(method="hog", pca={"n_components": 12}, standardize=True),
]


@pytest.fixture(scope="module")
def processed(digits):
    images, _ = digits
    return build_preprocessor(DIGITS, PreprocessParams()).fit_transform(images[:700])


def dump(obj) -> bytes:
    buffer = stdio.BytesIO()
    joblib.dump(obj, buffer, compress=3)
    return buffer.getvalue()


def on(cluster) -> ComputeParams:
    return ComputeParams(backend="dask", scheduler=cluster.scheduler_address)


@pytest.mark.parametrize("chunk_size", [1, 64, 699, 700, 5000])
def test_map_chunks_equals_one_call_on_every_row(processed, chunk_size):
    hog = build_featurizer(FEATURES[0], 0).steps[0][1].fit(processed)
    expected = hog.transform(processed)
    np.testing.assert_array_equal(
        compute.map_chunks(hog.transform, processed, chunk_size, n_jobs=1), expected
    )


def test_map_chunks_needs_a_positive_chunk_size(processed):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        compute.map_chunks(np.sqrt, processed, 0, n_jobs=1)


@pytest.mark.parametrize("feat", FEATURES)
def test_chunked_featurizing_equals_fit_transform_to_the_byte(processed, feat):
    whole = build_featurizer(feat, 0)
    expected = whole.fit_transform(processed)
    chunked = build_featurizer(feat, 0)
    np.testing.assert_array_equal(
        compute.fit_transform_chunked(chunked, processed, 100, n_jobs=1), expected
    )
    assert dump(chunked) == dump(whole)  # the saved transformer is the same too


@pytest.mark.parametrize("feat", FEATURES)
def test_featurizing_on_dask_equals_the_local_result(processed, feat, dask_cluster):
    local = build_featurizer(feat, 0)
    expected = local.fit_transform(processed)
    featurizer = build_featurizer(feat, 0)
    with compute.backend(on(dask_cluster)) as n_jobs:
        assert n_jobs == -1
        distributed = compute.fit_transform_chunked(featurizer, processed, 100, n_jobs)
    np.testing.assert_array_equal(distributed, expected)
    assert dump(featurizer) == dump(local)


def test_the_featurize_stage_gives_the_same_files_on_dask(digits, stage_dir, dask_cluster):
    images, labels = digits
    root = stage_dir()
    processed = root / "data/processed"
    processed.mkdir(parents=True)
    io.write_arrays(processed, train_images=images[:300] / 16.0, train_labels=labels[:300])
    outputs = ["train_features.npy", "train_labels.npy", "transformer.joblib"]

    featurize_stage.main()
    local = {name: (root / "data/features" / name).read_bytes() for name in outputs}
    stage_dir(
        compute={"backend": "dask", "scheduler": dask_cluster.scheduler_address, "chunk_size": 64}
    )
    featurize_stage.main()
    assert {name: (root / "data/features" / name).read_bytes() for name in outputs} == local


def test_the_local_backend_runs_here_or_in_single_threaded_processes():
    with compute.backend(ComputeParams(n_jobs=1)) as n_jobs:
        assert n_jobs == 1
    with compute.backend(ComputeParams(n_jobs=2)) as n_jobs:
        assert n_jobs == 2
        threads = joblib.Parallel(n_jobs=n_jobs)(
            joblib.delayed(os.environ.get)("OMP_NUM_THREADS") for _ in range(2)
        )
        assert threads == ["1", "1"]


def test_without_a_scheduler_a_local_cluster_runs_the_tasks_and_is_closed():
    with compute.backend(ComputeParams(backend="dask", n_jobs=2)):
        backend, _ = joblib.parallel.get_active_backend()
        client = backend.client
        assert list(client.nthreads().values()) == [1, 1]  # two single-threaded workers
        pids = joblib.Parallel(n_jobs=-1)(joblib.delayed(os.getpid)() for _ in range(4))
        assert os.getpid() not in pids
    assert client.status == "closed" and client.cluster.status.name == "closed"


def test_dask_backend_without_dask_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with (
        pytest.raises(compute.ComputeError, match=r"pip install 'digitrec\[distributed\]'"),
        compute.backend(ComputeParams(backend="dask")),
    ):
        pass


def test_an_unreachable_scheduler_names_the_key_and_the_address():
    import dask

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(compute.ComputeError, match=f"compute.scheduler = '{address}': cannot"),
        compute.backend(ComputeParams(backend="dask", scheduler=address)),
    ):
        pass


def test_a_wrong_backend_names_the_key_and_the_allowed_values():
    with pytest.raises(ParamsError, match=r"compute\.backend = 'spark': input should be 'local'"):
        params.validate({"compute": {"backend": "spark"}})


def test_importing_digitrec_never_imports_dask():
    modules = [
        "digitrec",
        "digitrec.compute",
        "digitrec.search",
        "digitrec.stages.search",
        "digitrec.stages.featurize",
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        + "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
