"""A classifier registered at run time is validated, trained, predicted and documented
like the built-in ones, and unregistering it leaves everything as it was."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field
from sklearn.neighbors import NearestCentroid

from digitrec import params
from digitrec.imagespec import DIGITS
from digitrec.models.registry import build_classifier
from digitrec.params import CLASSIFIERS, Params, ParamsError, Section, TrainParams
from digitrec.pipeline import fit_pipeline
from digitrec.registry import ClassifierEntry

ROOT = Path(__file__).resolve().parents[2]


class CentroidParams(Section):
    metric: Literal["euclidean", "manhattan"] = Field(
        "euclidean", description="toy: the distance to the nearest class centroid"
    )


def build_centroid(p: CentroidParams, seed: int) -> NearestCentroid:
    return NearestCentroid(metric=p.metric)


TOY = ClassifierEntry("toy_centroid", CentroidParams, build_centroid)


@pytest.fixture(scope="module")
def parameters_page():
    """docs/parameters.md as scripts/build_docs.py writes it, from the current schema."""
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "scripts/build_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda: module.parameters_page(ROOT)


@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_")
def test_a_registered_classifier_is_validated_trained_and_documented(small_digits, parameters_page):
    x_train, y_train, x_test, y_test = small_digits
    page = parameters_page()
    with CLASSIFIERS.registered(TOY):
        raw = {"train": {"model": "toy_centroid", "toy_centroid": {"metric": "manhattan"}}}
        p = params.validate(raw)
        assert p.train.model_params == CentroidParams(metric="manhattan")
        assert TrainParams().toy_centroid == CentroidParams()  # defaults, as every section
        searched = params.override(p, {"train.toy_centroid.metric": "euclidean"})
        assert searched.train.toy_centroid.metric == "euclidean"
        with pytest.raises(ParamsError) as wrong:
            params.validate({"train": {"toy_centroid": {"metric": "cosine", "metrc": 1}}})
        assert (
            "train.toy_centroid.metric = 'cosine': input should be 'euclidean' or 'manhattan'"
            in str(wrong.value)
        )
        assert (
            "train.toy_centroid.metrc: unknown key; allowed under train.toy_centroid: metric; "
            "did you mean 'metric'?" in str(wrong.value)
        )

        model = fit_pipeline(p, DIGITS, x_train, y_train)
        assert isinstance(model.steps[-1][1], NearestCentroid)
        assert model.steps[-1][1].metric == "manhattan"
        assert (model.predict(x_test) == y_test).mean() > 0.8  # chance is 0.1
        detector = build_classifier(p.train.model_copy(update={"positive_digit": 3}), 0)
        assert isinstance(detector.estimator, NearestCentroid)

        documented = parameters_page()
        assert "`train.toy_centroid.metric`" in documented
        assert "`hist_gb` \\| `mlp` \\| `toy_centroid`" in documented
        assert "toy: the distance to the nearest class centroid" in documented

    assert "toy_centroid" not in CLASSIFIERS
    assert "toy_centroid" not in TrainParams.model_fields
    assert "toy_centroid" not in Params().train.model_dump()
    with pytest.raises(ParamsError, match=r"train\.model = 'toy_centroid': input should be"):
        params.validate(raw)
    assert parameters_page() == page


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="classifier 'svc' is already registered"):
        CLASSIFIERS.register(ClassifierEntry("svc", CentroidParams, build_centroid))
    with pytest.raises(ValueError, match="not a valid identifier"):
        CLASSIFIERS.register(ClassifierEntry("toy centroid", CentroidParams, build_centroid))
    with pytest.raises(KeyError, match="unknown classifier 'toy'; expected one of 'svc'"):
        CLASSIFIERS.unregister("toy")
    assert list(TrainParams.model_fields)[2:] == list(CLASSIFIERS)


def test_params_stay_light():
    """Stages import params first: it must not pull in numpy, scikit-learn, the models
    or the data loaders (builders and loaders are named, imported when used)."""
    code = "import sys, digitrec.params; print(*sorted(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(ROOT / "src")},
        ).stdout.split()
    )
    heavy = {"numpy", "sklearn", "digitrec.models", "digitrec.data"}
    assert not heavy & loaded
