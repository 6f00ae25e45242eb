from pathlib import Path

import pytest
import yaml

from digitrec import artifact, params
from digitrec.params import STAGE_KEYS, Params, ParamsError

ROOT = Path(__file__).resolve().parents[1]


# Mappings whose keys are data, not params keys (the search space's params paths).
MAPPING_VALUES = {"search.space"}


def leaf_keys(tree, prefix=""):
    keys = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in MAPPING_VALUES:
            keys |= leaf_keys(value, name + ".")
        else:
            keys.add(name)
    return keys


def schema_keys(model, prefix=""):
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, params.Section):
            keys |= schema_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_project_params_are_valid_and_spell_out_every_key():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.validate(raw)
    # Defaults in code never decide a result: every key is written in params.yaml.
    assert leaf_keys(raw) == schema_keys(Params)


def test_dvc_yaml_declares_exactly_the_keys_each_stage_reads():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == list(STAGE_KEYS)
    for name, stage in stages.items():
        assert tuple(stage["params"]) == STAGE_KEYS[name], name
        assert stage["cmd"].endswith(f"python -m digitrec.stages.{name}")


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def _module_file(module: str) -> str:
    path = "src/" + module.replace(".", "/")
    return f"{path}/__init__.py" if (ROOT / path).is_dir() else f"{path}.py"


def test_evaluate_depends_on_every_module_whose_classes_a_model_holds():
    """evaluate runs the saved model's code: every class a model file may hold (the
    artifact's trusted digitrec types) must be a dependency, or a change to it would not
    re-run evaluate."""
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]["deps"]
    modules = {name.rsplit(".", 1)[0] for name in artifact.TRUSTED_TYPES}
    modules = {m for m in modules | set(artifact.TRUSTED_MODULES) if m.startswith("digitrec.")}
    missing = sorted(f for f in map(_module_file, modules) if not _covered(f, deps))
    assert not missing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"train": {"model": "svm"}}, "train.model = 'svm': input should be 'svc', 'linear_svc'"),
        ({"train": {"svc": {"C": -1}}}, "train.svc.C = -1: input should be greater than 0"),
        ({"fetch": {"test_size": 1.5}}, "fetch.test_size = 1.5: input should be less than 1"),
        ({"fetch": {"dataset": "cifar"}}, "'digits', 'mnist' or 'optdigits'"),
        ({"featurize": {"method": "sift"}}, "featurize.method = 'sift'"),
        ({"featurize": {"hog": {"block_norm": "L3"}}}, "featurize.hog.block_norm = 'L3'"),
        ({"featurize": {"gradient": {"power": 2}}}, "featurize.gradient.power = 2"),
        ({"featurize": {"gradient": {"directions": 1}}}, "featurize.gradient.directions = 1"),
        ({"train": {"positive_digit": 10}}, "train.positive_digit = 10"),
        ({"train": {"svc": {"cascade_margin": 0}}}, "train.svc.cascade_margin = 0: input should"),
        (
            {"train": {"svc": {"cascade_margin": 1.0}}},
            "train.svc: cascade_margin = 1.0 needs virtual support vectors (virtual_shift >= 1",
        ),
        (
            {"train": {"svc": {"virtual_rotate": 45}}},
            "train.svc.virtual_rotate = 45: input should be less than or equal to 30",
        ),
        (
            {"train": {"svc": {"virtual_scale": -0.1}}},
            "train.svc.virtual_scale = -0.1: input should be greater than or equal to 0",
        ),
        (
            {"train": {"svc": {"virtual_thickness": 2}}},
            "train.svc.virtual_thickness = 2: input should be less than or equal to 1",
        ),
        (
            {
                "train": {
                    "positive_digit": 3,
                    "svc": {"cascade_margin": 1.0, "virtual_shift": 1, "calibrate": False},
                }
            },
            "train: svc.cascade_margin needs a multi-class SVC",
        ),
        (
            {"train": {"svc": {"cascade_features": 40}}},
            "train.svc: cascade_features = 40 needs a cascade_margin",
        ),
        ({"train": {"knn": {"n_neighbours": 3}}}, "train.knn.n_neighbours: unknown key"),
        ({"seed": -1}, "seed = -1: input should be greater than or equal to 0"),
        (
            {"compute": {"backend": "spark"}},
            "compute.backend = 'spark': input should be 'local' or 'dask'",
        ),
        (
            {"compute": {"n_jobs": 0}},
            "compute.n_jobs = 0: input should be greater than or equal to 1",
        ),
        (
            {"search": {"method": "bayes"}},
            "search.method = 'bayes': input should be 'grid', 'random' or 'halving'",
        ),
        (
            {"search": {"space": {"train.svc.c": [1]}}},
            "search.space.train.svc.c: unknown key 'c'; allowed under train.svc: C, kernel, gamma",
        ),
        (
            {"search": {"space": {"train.nope": [1]}}},
            "search.space.train.nope: unknown key 'nope'; allowed under train: model, "
            "positive_digit",
        ),
        (
            {"search": {"space": {"fetch.dataset": ["mnist"]}}},
            "search.space.fetch.dataset: cannot be searched; expected a key under preprocess, ",
        ),
        (
            {"search": {"space": {"train.svc": [1]}}},
            "search.space.train.svc: a section, not a value; allowed under train.svc: C, kernel",
        ),
        ({"search": {"space": {"train.model.svc": [1]}}}, "train.model is a value, not a section"),
        (
            {"search": {"space": {"train.svc.C": [1, -1]}}},
            "search.space.train.svc.C = -1: input should be greater than 0",
        ),
        (
            {"search": {"space": {"train.svc.C": 10}}},
            "search.space.train.svc.C = 10: input should be a valid list",
        ),
        (
            {"search": {"space": {"train.svc.C": []}}},
            "search.space.train.svc.C = []: list should have at least 1 item",
        ),
        (
            {"search": {"space": {"train": {"svc": {"C": [1]}}, "train.svc.C": [2]}}},
            "search.space: train.svc.C is given twice",
        ),
    ],
)
def test_wrong_values_name_the_key_the_value_and_what_is_allowed(raw, expected):
    with pytest.raises(ParamsError) as info:
        params.validate(raw)
    assert expected in str(info.value)


def test_a_search_space_may_nest_sections_and_reads_as_params_paths():
    space = {"train": {"svc": {"C": [1, 10]}}, "preprocess.deskew": [False, True]}
    loaded = params.validate({"search": {"space": space}})
    assert loaded.search.space == {"train.svc.C": [1, 10], "preprocess.deskew": [False, True]}


def test_override_applies_dotted_keys_like_dvc_exp_run_set():
    base = params.validate({"train": {"model": "knn"}})
    changed = params.override(base, {"train.knn.n_neighbors": 7, "preprocess.deskew": True})
    assert changed.train.knn.n_neighbors == 7 and changed.preprocess.deskew is True
    assert changed.train.model == "knn" and base.train.knn.n_neighbors == 3
    assert params.override(base, {}) == base
    with pytest.raises(ParamsError, match=r"train\.knn\.n_neighbors = 0: input should be greater"):
        params.override(base, {"train.knn.n_neighbors": 0})
    with pytest.raises(
        ParamsError, match=r"unknown key 'k'; allowed under train\.knn: n_neighbors"
    ):
        params.override(base, {"train.knn.k": 7})


def test_override_anywhere_when_sections_is_none():
    base = params.validate({})
    with pytest.raises(ParamsError, match=r"search\.space\.fetch\.dataset: cannot be searched"):
        params.override(base, {"fetch.dataset": "mnist"})
    changed = params.override(base, {"fetch.dataset": "mnist", "seed": 7}, sections=None)
    assert changed.fetch.dataset == "mnist" and changed.seed == 7
    with pytest.raises(ParamsError, match=r"^fetch\.datset: unknown key 'datset'"):
        params.override(base, {"fetch.datset": "mnist"}, sections=None)
    with pytest.raises(ParamsError, match=r"unknown key 'sed'; allowed under the top level"):
        params.override(base, {"sed": 7}, sections=None)


def test_all_errors_are_reported_at_once():
    with pytest.raises(ParamsError) as info:
        params.validate({"train": {"model": "x", "svc": {"C": 0}}})
    assert "train.model" in str(info.value) and "train.svc.C" in str(info.value)


def test_a_stage_reads_only_its_own_keys(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\nfetch: {dataset: mnist}\ntrain: {model: nonsense}\n")
    loaded = params.load("fetch", path)
    assert loaded.seed == 1 and loaded.fetch.dataset == "mnist"
    with pytest.raises(ParamsError, match=r"params.yaml: invalid params:\n  train.model"):
        params.load("train", path)
    # Keys a stage does not declare stay at their defaults, so they cannot influence it.
    assert params.load("preprocess", path).seed == Params().seed


def test_unreadable_params_file(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        params.load("fetch", tmp_path / "missing.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("fetch: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        params.load("fetch", bad)
    bad.write_text("- a list\n")
    with pytest.raises(ParamsError, match="mapping"):
        params.load("fetch", bad)


def test_unknown_stage_name():
    with pytest.raises(ValueError, match="unknown stage 'fit'"):
        params.load("fit")


def _leaf_fields(model, prefix=""):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            yield from _leaf_fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_the_schema_defaults_are_params_yaml():
    """One source: the schema's defaults are the committed params.yaml, so code and tests
    that build params from the defaults exercise the model `dvc repro` trains."""
    committed = params.validate(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert Params() == committed


def test_every_key_is_described_in_the_schema():
    """docs/parameters.md is generated from these descriptions."""
    undescribed = [key for key, field in _leaf_fields(Params) if not field.description]
    assert not undescribed, f"params.py: give these fields a description: {undescribed}"


def test_unknown_top_level_keys_are_refused_with_the_closest_key(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\nfeaturise:\n  method: hog\n")
    # even a stage that does not read the misspelt section refuses it
    for stage in (None, "fetch", "train"):
        with pytest.raises(ParamsError, match=r"featurise: unknown key; allowed at the top"):
            params.load(stage, path)
    with pytest.raises(ParamsError, match=r"did you mean 'featurize'\?"):
        params.load("fetch", path)


def test_unknown_nested_keys_name_the_closest_key():
    with pytest.raises(ParamsError, match=r"fetch\.datset: unknown key; allowed under fetch: "):
        params.validate({"fetch": {"datset": "mnist"}})
    with pytest.raises(ParamsError, match=r"did you mean 'dataset'\?"):
        params.validate({"fetch": {"datset": "mnist"}})
    with pytest.raises(ParamsError, match=r"unknown key 'c'; .*did you mean 'C'\?"):
        params.override(params.validate({}), {"train.svc.c": 1})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"train": {"svc": {"C": float("inf")}}}, "train.svc.C = inf: input should be a finite"),
        ({"featurize": {"gradient": {"blur": float("nan")}}}, "featurize.gradient.blur = nan"),
        ({"train": {"mlp": {"max_iter": 10**400}}}, "train.mlp.max_iter = 100000000000...(401"),
        ({"featurize": {"pca": {"n_components": -(10**30)}}}, "featurize.pca.n_components = -1"),
        ({"search": {"space": {"train.svc.C": [1, 10**30]}}}, "search.space.train.svc.C[1] = "),
    ],
)
def test_infinite_and_huge_numbers_are_refused_with_their_key(raw, expected):
    with pytest.raises(ParamsError) as info:
        params.validate(raw)
    assert expected in str(info.value)
