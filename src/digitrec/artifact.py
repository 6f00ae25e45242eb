"""Save and load the model artifact safely: skops format, a SHA-256 record, trusted types.

A joblib/pickle file runs arbitrary code when it is loaded, so the model is also saved with
`skops <https://skops.readthedocs.io>`_, whose loader builds only the types it is told to
trust. :func:`save_model` writes two files::

    models/model.skops    the fitted Pipeline (a zip of schema.json and .npy arrays)
    models/model.sha256   "<hex digest>  model.skops" (``sha256sum -c`` reads it)

and :func:`load_model` refuses a file

- whose SHA-256 differs from the record (modified or corrupted after training), or that
  has no record;
- that holds a type outside skops' defaults and :data:`TRUSTED_TYPES` (the reviewed
  allow-list of what digitrec pipelines contain), listing the offending types;
- that is not a digitrec model (a Pipeline whose first step is an ``ImageScaler``).

Pickle files (``.joblib``, ``.pkl``) load only with ``allow_pickle=True``.

skops itself does not write the same bytes twice for the same model: arrays are named and
objects numbered by their memory address (``id()``), zip entries carry the current time,
and tree models' record arrays carry uninitialised padding bytes. :func:`model_bytes`
canonicalises the archive (objects and files numbered in order of appearance, padding
zeroed, fixed timestamps, entries sorted, deflated), so the same model always gives the
same file and the same checksum, as DVC's byte-for-byte reproducibility needs.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from digitrec import io as dio
from digitrec.errors import UserError

SUFFIX = ".skops"
CHECKSUM_SUFFIX = ".sha256"
DEFAULT_NAME = "model"
PICKLE_SUFFIXES = frozenset({".joblib", ".pkl", ".pickle"})

# Types skops does not trust by default that digitrec pipelines contain (every model in
# digitrec.params.CLASSIFIERS, with and without DigitDetector, deskew, centring, PCA and
# standardisation: tests/serve/test_artifact.py saves and loads each). Reviewed: our own
# estimators hold only numbers, arrays and ImageSpecs; the scikit-learn ones are fitted
# state (trees, KD/ball trees, distance metrics, calibrators, the MLP's optimiser).
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "digitrec.pipeline.DigitPipeline",
        "digitrec.imagespec.ImageSpec",
        "digitrec.transforms.preprocessing.ImageScaler",
        "digitrec.transforms.preprocessing.Clean",
        "digitrec.transforms.preprocessing.Deskew",
        "digitrec.transforms.preprocessing.Center",
        "digitrec.models.registry.DigitDetector",
        "digitrec.models.svm.BatchedSVC",
        "digitrec.models.cascade.SVCCascade",
        "sklearn.frozen._frozen.FrozenEstimator",
        "digitrec.models.calibration.BatchedCalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    }
)
# Modules whose own classes are all trusted ("digitrec.transforms.features.*"): a name counts
# only if it is a class defined in that module, not anything importable through it.
TRUSTED_MODULES: tuple[str, ...] = ("digitrec.transforms.features",)

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_SCHEMA = "schema.json"


class ArtifactError(UserError, ValueError):
    """A model file that is missing, unverified, tampered with, or not a digitrec model."""


@dataclass(frozen=True)
class Artifact:
    """A loaded, verified model and where it came from."""

    model: Pipeline
    path: Path
    sha256: str | None  # None for a pickle loaded with allow_pickle=True
    size: int
    format: str  # "skops" or "joblib"


@dataclass(frozen=True)
class SavedModel:
    path: Path
    checksum_path: Path
    sha256: str


def model_paths(target: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(model file, checksum file)`` for ``target``: a directory (``model.skops`` in it),
    a path without suffix (``.skops`` added) or a ``.skops`` path."""
    p = Path(target)
    if p.is_dir():
        p = p / f"{DEFAULT_NAME}{SUFFIX}"
    elif p.suffix == "":
        p = p.with_name(p.name + SUFFIX)
    elif p.suffix != SUFFIX:
        raise ValueError(f"{target}: a skops model path ends in {SUFFIX} (or has no suffix)")
    return p, p.with_suffix(CHECKSUM_SUFFIX)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_bytes(model: Any) -> bytes:
    """The canonical skops serialisation of ``model``: same model, same bytes."""
    import skops.io as sio

    return _canonical(sio.dumps(model))


def save_model(target: str | os.PathLike[str], model: Pipeline) -> SavedModel:
    """Write ``model`` as ``<target>.skops`` plus its ``.sha256`` record (see
    :func:`model_paths`), each atomically; return where and the digest.

    The bytes are read back before anything is written: the model must load with the
    trusted types and re-serialise to the same bytes, so an artifact that the service
    would refuse (a new untrusted type) fails training, not serving.
    """
    path, checksum_path = model_paths(target)
    data = model_bytes(model)
    reloaded = _load_skops(data, path)
    if model_bytes(reloaded) != data:
        raise ArtifactError(f"{path}: the model does not survive a skops round trip")
    digest = sha256_hex(data)
    dio.write_bytes(path, data)
    dio.write_text(checksum_path, f"{digest}  {path.name}\n")
    return SavedModel(path, checksum_path, digest)


def read_checksum(checksum_path: Path) -> str:
    """The digest recorded in a ``sha256sum``-style file."""
    try:
        text = checksum_path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ArtifactError(
            f"{checksum_path} not found: no checksum recorded for the model, refusing to "
            "load an unverified file (the train stage writes both; run `dvc repro`)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{checksum_path}: cannot read the checksum record: {e}") from e
    digest = text.split()[0].lower() if text.split() else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ArtifactError(f"{checksum_path}: not a SHA-256 record: {text[:80]!r}")
    return digest


def load_artifact(path: str | os.PathLike[str], *, allow_pickle: bool = False) -> Artifact:
    """Load and verify a model; see the module docstring for what is refused.

    ``path``: a ``.skops`` file (its ``.sha256`` must sit beside it), a directory holding
    ``model.skops``, or, with ``allow_pickle=True`` only, a ``.joblib``/``.pkl`` file.
    Raises :class:`ArtifactError` with a message meant for the person running it.
    """
    p = Path(path)
    if p.is_dir():
        p = p / f"{DEFAULT_NAME}{SUFFIX}"
    if p.suffix.lower() in PICKLE_SUFFIXES:
        return _load_pickle(p, allow_pickle)
    if p.suffix != SUFFIX:
        raise ArtifactError(f"{p}: unknown model format; expected a {SUFFIX} file")
    if not p.is_file():
        raise ArtifactError(f"model {p} not found; run `dvc repro` first")
    expected = read_checksum(p.with_suffix(CHECKSUM_SUFFIX))
    data = p.read_bytes()
    actual = sha256_hex(data)
    if actual != expected:
        raise ArtifactError(
            f"{p}: checksum mismatch: the file's SHA-256 is {actual} but "
            f"{p.with_suffix(CHECKSUM_SUFFIX).name} records {expected}; the model was "
            "modified or corrupted after training, refusing to load it "
            f"(restore it with `dvc checkout {p}` or re-create it with `dvc repro`)"
        )
    model = _load_skops(data, p)
    return Artifact(model, p, actual, len(data), "skops")


def load_model(path: str | os.PathLike[str], *, allow_pickle: bool = False) -> Pipeline:
    """The verified Pipeline (raw image -> label) in ``path``; see :func:`load_artifact`."""
    return load_artifact(path, allow_pickle=allow_pickle).model


def is_trusted(type_name: str) -> bool:
    """Whether ``type_name`` (``module.Class``) is on the reviewed allow-list."""
    if type_name in TRUSTED_TYPES:
        return True
    module, _, name = type_name.rpartition(".")
    if module not in TRUSTED_MODULES:
        return False
    obj = getattr(importlib.import_module(module), name, None)
    return isinstance(obj, type) and obj.__module__ == module


def _load_skops(data: bytes, path: Path) -> Pipeline:
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as e:  # not a zip, no schema.json, unknown protocol ...
        raise ArtifactError(f"{path}: not a readable skops file: {e}") from e
    refused = [t for t in found if not is_trusted(t)]
    if refused:
        raise ArtifactError(
            f"{path}: refusing to load types that are not on the trusted list: "
            f"{', '.join(refused)} (review them, then add them to "
            "digitrec.artifact.TRUSTED_TYPES if they are safe)"
        )
    try:
        model = sio.loads(data, trusted=found)
    except Exception as e:
        raise ArtifactError(f"{path}: cannot load the skops file: {e}") from e
    return _check_model(model, path)


def _load_pickle(path: Path, allow_pickle: bool) -> Artifact:
    if not allow_pickle:
        raise ArtifactError(
            f"{path}: a pickle/joblib file runs code when it is loaded; load the "
            f"verified {path.with_suffix(SUFFIX).name} instead (allow pickles only for "
            "files you made yourself)"
        )
    if not path.is_file():
        raise ArtifactError(f"model {path} not found; run `dvc repro` first")
    model = _check_model(dio.load_joblib(path), path)
    return Artifact(model, path, None, path.stat().st_size, "joblib")


def _check_model(model: Any, path: Path) -> Pipeline:
    from digitrec.pipeline import image_spec

    if not isinstance(model, Pipeline):
        raise ArtifactError(f"{path}: not a digitrec model: holds a {type(model).__name__}")
    try:
        image_spec(model)
    except TypeError as e:
        raise ArtifactError(f"{path}: {e}") from e
    return model


def _zero_padding(name: str, payload: bytes) -> bytes:
    """A structured ``.npy`` array rewritten with its padding bytes zeroed.

    scikit-learn's tree nodes are records of 57 bytes padded to 64; the padding holds
    whatever memory held before, so the same tree would give different bytes each time.
    """
    if not name.endswith(".npy"):
        return payload
    array = np.load(io.BytesIO(payload), allow_pickle=False)
    if array.dtype.names is None:
        return payload
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    # np.zeros allocates zeroed memory; np.zeros_like only sets the fields, not the padding
    clean = np.zeros(array.shape, dtype=array.dtype, order="F" if fortran else "C")
    for field in array.dtype.names:
        clean[field] = array[field]
    out = io.BytesIO()
    np.save(out, clean, allow_pickle=False)
    return out.getvalue()


def _canonical(data: bytes) -> bytes:
    """Rewrite a skops archive so its bytes depend on the model only.

    ``__id__`` values (object ids, used to share objects) and file names (``<id>.npy``,
    ``<uuid>.bin``) are renumbered in order of first appearance in the schema; set members
    are sorted; padding inside record arrays is zeroed; zip entries are written sorted,
    deflated, with a fixed time and mode.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        schema = json.loads(zf.read(_SCHEMA))
        files = {n: zf.read(n) for n in zf.namelist() if n != _SCHEMA}

    def set_key(node: Any) -> str:
        def strip(x: Any) -> Any:
            if isinstance(x, dict):
                return {
                    k: (sha256_hex(files[v]) if k == "file" and v in files else strip(v))
                    for k, v in x.items()
                    if k != "__id__"
                }
            return [strip(v) for v in x] if isinstance(x, list) else x

        return json.dumps(strip(node), sort_keys=True)

    ids: dict[Any, int] = {}
    names: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for v in node:
                walk(v)
            return
        if not isinstance(node, dict):
            return
        if node.get("__loader__") == "SetNode" and isinstance(node.get("content"), list):
            node["content"].sort(key=set_key)
        if "__id__" in node:
            node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)  # never 0: falsy
        name = node.get("file")
        if isinstance(name, str) and name in files:
            node["file"] = names.setdefault(name, f"{len(names) + 1}{Path(name).suffix}")
        for v in node.values():
            walk(v)

    walk(schema)
    if set(names) != set(files):
        raise ArtifactError(
            f"unexpected skops layout: unreferenced files {set(files) - set(names)}"
        )
    entries = {_SCHEMA: json.dumps(schema, indent=2).encode("utf-8")}
    entries |= {names[n]: _zero_padding(n, payload) for n, payload in files.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the platform
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name], compresslevel=6)
    return out.getvalue()
