"""Saving and loading the model safely: skops + SHA-256 record + reviewed trusted types."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from digitrec import artifact
from digitrec.artifact import (
    ArtifactError,
    load_artifact,
    load_model,
    model_bytes,
    model_paths,
    save_model,
)
from digitrec.imagespec import DIGITS
from digitrec.io import save_joblib
from digitrec.models.registry import build_classifier
from digitrec.params import CLASSIFIERS, Params
from digitrec.pipeline import assemble, build_featurizer, build_preprocessor
from digitrec.transforms.preprocessing import ImageScaler


def test_save_writes_the_model_and_its_checksum(saved_model):
    assert saved_model.path.suffix == ".skops"
    data = saved_model.path.read_bytes()
    assert saved_model.sha256 == hashlib.sha256(data).hexdigest()
    assert saved_model.checksum_path.read_text() == f"{saved_model.sha256}  model.skops\n"
    assert zipfile.is_zipfile(saved_model.path)


def test_loaded_model_predicts_exactly_as_the_original(saved_model, trained, digits):
    images = digits[0][1500:1797]
    loaded = load_model(saved_model.path)
    assert isinstance(loaded, Pipeline)
    assert np.array_equal(loaded.predict(images), trained.predict(images))
    assert np.array_equal(loaded.predict_proba(images), trained.predict_proba(images))


def test_same_model_same_bytes(tmp_path, saved_model, trained):
    """skops alone names arrays and objects by memory address and stamps the time;
    our files depend on the model only, in this process and in a fresh one."""
    (tmp_path / "again").mkdir()
    again = save_model(tmp_path / "again", trained)  # again/model.skops
    assert again.path.read_bytes() == saved_model.path.read_bytes()
    assert again.checksum_path.read_bytes() == saved_model.checksum_path.read_bytes()
    code = (
        "import sys; from digitrec.artifact import load_model, save_model; "
        "save_model(sys.argv[2], load_model(sys.argv[1]))"
    )
    other = tmp_path / "other" / "model"
    other.parent.mkdir()
    subprocess.run(
        [sys.executable, "-c", code, str(saved_model.path), str(other)], check=True, timeout=120
    )
    assert (other.parent / "model.skops").read_bytes() == saved_model.path.read_bytes()
    assert (other.parent / "model.sha256").read_bytes() == saved_model.checksum_path.read_bytes()


def test_skops_alone_is_not_byte_stable(trained):
    """Why canonicalisation exists: two plain skops dumps of one model differ (object ids
    differ between the copies), ours do not."""
    import copy

    twin = copy.deepcopy(trained)
    assert sio.dumps(trained) != sio.dumps(twin)
    assert model_bytes(trained) == model_bytes(twin)


def test_padding_inside_record_arrays_is_zeroed():
    """Tree nodes are padded records whose padding holds stale memory: the same tree must
    still give the same bytes."""
    import io

    dtype = np.dtype(
        {"names": ["a", "b"], "formats": ["<i8", "u1"], "offsets": [0, 8], "itemsize": 16}
    )

    def npy(garbage: int) -> bytes:
        records = np.zeros(5, dtype)
        records.view(np.uint8)[:] = garbage  # padding bytes too
        records["a"], records["b"] = np.arange(5), 1
        buf = io.BytesIO()
        np.save(buf, records)
        return buf.getvalue()

    assert npy(0xAB) != npy(0xCD)
    clean = artifact._zero_padding("1.npy", npy(0xAB))
    assert clean == artifact._zero_padding("1.npy", npy(0xCD))
    records = np.load(io.BytesIO(clean))
    assert records["a"].tolist() == [0, 1, 2, 3, 4] and records["b"].tolist() == [1] * 5
    assert set(records.view(np.uint8).reshape(5, 16)[:, 9:].ravel()) == {0}


@pytest.fixture
def copy_of(tmp_path, saved_model):
    def make():
        target = tmp_path / "copy.skops"
        target.write_bytes(saved_model.path.read_bytes())
        target.with_suffix(".sha256").write_bytes(saved_model.checksum_path.read_bytes())
        return target

    return make


def test_a_tampered_model_is_refused(copy_of, saved_model):
    path = copy_of()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum mismatch") as err:
        load_model(path)
    message = str(err.value)
    assert saved_model.sha256 in message  # what was recorded
    assert hashlib.sha256(bytes(data)).hexdigest() in message  # what the file is
    assert "refusing to load" in message


def test_a_truncated_model_is_refused(copy_of):
    path = copy_of()
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(path)


def test_a_different_record_is_refused(copy_of):
    path = copy_of()
    path.with_suffix(".sha256").write_text(f"{'0' * 64}  copy.skops\n")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(path)


def test_a_model_without_record_is_refused(copy_of):
    path = copy_of()
    path.with_suffix(".sha256").unlink()
    with pytest.raises(ArtifactError, match="no checksum recorded"):
        load_model(path)


@pytest.mark.parametrize("record", ["", "not-a-digest  copy.skops\n", "abc\n"])
def test_a_malformed_record_is_refused(copy_of, record):
    path = copy_of()
    path.with_suffix(".sha256").write_text(record)
    with pytest.raises(ArtifactError, match="not a SHA-256 record"):
        load_model(path)


def write_with_record(path, data: bytes):
    path.write_bytes(data)
    path.with_suffix(".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    return path


def test_untrusted_types_are_refused_even_with_a_matching_record(tmp_path):
    """Someone who can rewrite both files: the allow-list still stops code from running."""
    evil = Pipeline([("scale", ImageScaler(DIGITS)), ("run", FunctionTransformer(os.system))])
    path = write_with_record(tmp_path / "evil.skops", model_bytes(evil))
    with pytest.raises(ArtifactError, match=r"not on the trusted list: .*system"):
        load_model(path)
    with pytest.raises(ArtifactError, match="not on the trusted list"):
        save_model(tmp_path / "evil2", evil)  # and training could not have written it
    assert not (tmp_path / "evil2.skops").exists()


def test_wildcard_modules_trust_only_their_own_classes():
    assert artifact.is_trusted("digitrec.transforms.features.Hog")
    assert artifact.is_trusted("digitrec.transforms.features.Pixels")
    assert artifact.is_trusted("digitrec.transforms.features.GradientDirections")
    assert not artifact.is_trusted("digitrec.transforms.features.np")  # a module, imported there
    assert not artifact.is_trusted(
        "digitrec.transforms.features.BaseEstimator"
    )  # defined elsewhere
    assert not artifact.is_trusted("digitrec.transforms.features.missing")
    assert not artifact.is_trusted("builtins.eval")
    assert not artifact.is_trusted("posix.system")


def test_other_files_are_refused(tmp_path):
    plain = Pipeline([("clf", LogisticRegression())])
    path = write_with_record(tmp_path / "plain.skops", model_bytes(plain))
    with pytest.raises(ArtifactError, match="not a digitrec model"):
        load_model(path)
    path = write_with_record(tmp_path / "dict.skops", model_bytes({"a": 1}))
    with pytest.raises(ArtifactError, match="holds a dict"):
        load_model(path)
    path = write_with_record(tmp_path / "junk.skops", b"PK\x03\x04 not really a zip")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_model(path)
    with pytest.raises(ArtifactError, match="not found; run `dvc repro` first"):
        load_model(tmp_path / "missing.skops")
    with pytest.raises(ArtifactError, match="unknown model format"):
        load_model(tmp_path / "model.onnx")


def test_pickles_load_only_when_allowed(tmp_path, trained):
    path = tmp_path / "model.joblib"
    save_joblib(path, trained)
    with pytest.raises(ArtifactError, match="runs code when it is loaded"):
        load_model(path)
    loaded = load_artifact(path, allow_pickle=True)
    assert loaded.format == "joblib" and loaded.sha256 is None
    assert isinstance(loaded.model, Pipeline)


def test_model_paths(tmp_path):
    assert model_paths(tmp_path) == (tmp_path / "model.skops", tmp_path / "model.sha256")
    assert model_paths(tmp_path / "m") == (tmp_path / "m.skops", tmp_path / "m.sha256")
    assert model_paths(tmp_path / "m.skops") == (tmp_path / "m.skops", tmp_path / "m.sha256")
    with pytest.raises(ValueError, match=r"ends in \.skops"):
        model_paths(tmp_path / "m.joblib")


def test_a_directory_holds_model_skops(tmp_path, trained):
    saved = save_model(tmp_path, trained)
    assert saved.path == tmp_path / "model.skops"
    assert load_artifact(tmp_path).sha256 == saved.sha256


VARIANTS = [
    *({"train": {"model": name}} for name in CLASSIFIERS),
    {"train": {"model": "logreg", "positive_digit": 3}},
    {"train": {"model": "svc", "svc": {"calibrate": False}, "positive_digit": 7}},
    {"train": {"model": "knn", "knn": {"p": 1}}, "featurize": {"pca": {"n_components": 10}}},
    {"train": {"model": "knn", "knn": {"p": 1.5}}, "featurize": {"pca": {"n_components": 10}}},
    {"train": {"model": "knn"}, "featurize": {"pca": {"n_components": 10}}},
    {
        "train": {"model": "mlp"},
        "preprocess": {"deskew": True, "center": True},
        "featurize": {"method": "raw_hog", "pca": {"n_components": 20, "whiten": True}},
    },
    {"featurize": {"method": "hog", "standardize": True}},
    {"featurize": {"method": "gradient"}},
]
SMALL = {
    "random_forest": {"n_estimators": 5},
    "extra_trees": {"n_estimators": 5},
    "hist_gb": {"max_iter": 5},
    "mlp": {"max_iter": 20, "hidden_layer_sizes": [16]},
}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: str(v).replace(" ", ""))
def test_every_pipeline_the_project_builds_round_trips(tmp_path, digits, variant):
    """The trusted list covers every model params.yaml can ask for."""
    train = dict(variant.get("train", {}))
    name = train.get("model", "svc")
    if name in SMALL:
        train.setdefault(name, SMALL[name])
    p = Params.model_validate({**variant, "train": train})
    images, labels = digits[0][:300], digits[1][:300]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny MLPs do not converge
        pre = build_preprocessor(DIGITS, p.preprocess)
        feat = build_featurizer(p.featurize, 0)
        features = feat.fit_transform(pre.fit_transform(images))
        model = assemble(pre, feat, build_classifier(p.train, 0).fit(features, labels))
    saved = save_model(tmp_path / "model", model)
    loaded = load_model(saved.path)
    test = digits[0][1500:1600]
    assert np.array_equal(loaded.predict(test), model.predict(test))
    try:
        expected = model.predict_proba(test)
    except AttributeError:  # DigitDetector over an SVC without calibration: no probabilities
        return
    assert np.array_equal(loaded.predict_proba(test), expected)
