"""The reproducibility contract's comparison, on the project's own dvc.lock and metrics."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from digitrec.gate import reproduction
from digitrec.gate import rules as gate_rules
from digitrec.gate.reproduction import Contract, ContractError, parse_contract

ROOT = Path(__file__).resolve().parents[2]
METRICS = ("metrics/evaluate.json", "metrics/search.json")


@pytest.fixture
def committed():
    """The committed dvc.lock and metrics, as the check reads them."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    metrics = {path: json.loads((ROOT / path).read_text()) for path in METRICS}
    return lock, metrics


@pytest.fixture
def contract() -> Contract:
    return parse_contract(yaml.safe_load((ROOT / "gate.yaml").read_text())["reproduce"])


def out(lock: dict, stage: str, path: str) -> dict:
    return next(o for o in lock["stages"][stage]["outs"] if o["path"] == path)


def dep(lock: dict, stage: str, path: str) -> dict:
    return next(d for d in lock["stages"][stage]["deps"] if d["path"] == path)


def other_machine(lock: dict) -> dict:
    """``lock`` as another CPU reproduces it: other model bytes, as its BLAS sums differ;
    the consumers of the model record the new hash as their dep."""
    lock = copy.deepcopy(lock)
    for path, md5 in [("models/model.skops", "1" * 32), ("models/model.joblib", "2" * 32)]:
        out(lock, "train", path)["md5"] = md5
        for stage in lock["stages"].values():
            for item in stage.get("deps", []):
                if item["path"] == path:
                    item["md5"] = md5
    return lock


def test_an_identical_reproduction_passes(committed, contract):
    lock, metrics = committed
    report = reproduction.compare(lock, copy.deepcopy(lock), metrics, metrics, contract)
    assert report.passed and not report.drift and not report.stale
    assert len(report.metrics) > 20 and all(m.difference in (0, None) for m in report.metrics)
    assert "Every output is byte for byte the committed one." in reproduction.render_markdown(
        report
    )


def test_machine_drift_passes_and_is_listed(committed, contract):
    lock, metrics = committed
    report = reproduction.compare(lock, other_machine(lock), metrics, metrics, contract)
    assert report.passed, reproduction.render_markdown(report)
    assert report.drift == ["train: models/model.joblib", "train: models/model.skops"]
    assert not report.stale  # evaluate's dep on the model is drift, not a stale commit
    text = reproduction.render_markdown(report)
    assert "Machine drift" in text and "- train: models/model.skops" in text
    assert text.rstrip().endswith("**PASS**: reproduced.")


def test_drift_outside_the_contract_fails(committed):
    lock, metrics = committed
    report = reproduction.compare(lock, other_machine(lock), metrics, metrics, Contract())
    assert not report.passed
    assert report.not_reproduced == ["train: models/model.joblib", "train: models/model.skops"]


def test_processed_data_must_be_identical(committed, contract):
    lock, metrics = committed
    reproduced = copy.deepcopy(lock)
    out(reproduced, "preprocess", "data/processed")["md5"] = "3" * 32 + ".dir"
    report = reproduction.compare(lock, reproduced, metrics, metrics, contract)
    assert report.not_reproduced == ["preprocess: data/processed"]
    assert "must be identical on every machine" in reproduction.render_markdown(report)


def test_an_edited_param_makes_the_commit_stale(committed, contract):
    lock, metrics = committed
    reproduced = copy.deepcopy(lock)
    reproduced["stages"]["train"]["params"]["params.yaml"]["train"]["svc"]["C"] = 5.0
    report = reproduction.compare(lock, reproduced, metrics, metrics, contract)
    assert not report.passed
    assert report.stale == ["train: param train.svc.C: 10.0 -> 5.0"]
    assert "the commit is stale" in reproduction.render_markdown(report)


def test_an_edited_source_file_makes_the_commit_stale(committed, contract):
    lock, metrics = committed
    reproduced = copy.deepcopy(lock)
    for stage in ("train", "evaluate"):
        dep(reproduced, stage, "src/digitrec/pipeline.py")["md5"] = "4" * 32
    report = reproduction.compare(lock, reproduced, metrics, metrics, contract)
    assert [s.split(" (")[0] for s in report.stale] == [
        "evaluate: dependency src/digitrec/pipeline.py changed",
        "train: dependency src/digitrec/pipeline.py changed",
    ]


def test_a_changed_command_or_a_missing_stage_is_stale(committed, contract):
    lock, metrics = committed
    reproduced = copy.deepcopy(lock)
    reproduced["stages"]["fetch"]["cmd"] += " --fast"
    del reproduced["stages"]["search"]
    report = reproduction.compare(lock, reproduced, metrics, metrics, contract)
    assert report.stale[0].startswith("fetch: command ")
    assert report.stale[1] == "search: committed, but not reproduced"


def test_a_metric_outside_its_tolerance_fails_with_a_table(committed, contract):
    lock, metrics = committed
    reproduced_metrics = copy.deepcopy(metrics)
    reproduced_metrics["metrics/evaluate.json"]["accuracy"] -= 0.0028
    report = reproduction.compare(lock, lock, metrics, reproduced_metrics, contract)
    assert not report.passed
    (failed,) = report.failed_metrics
    assert failed.metric == "metrics/evaluate.json:accuracy"
    text = reproduction.render_markdown(report)
    row = next(line for line in text.splitlines() if "`metrics/evaluate.json:accuracy`" in line)
    before = metrics["metrics/evaluate.json"]["accuracy"]
    assert row == (
        f"| `metrics/evaluate.json:accuracy` | {before:.6g} | {before - 0.0028:.6g} | -0.0028 | 0 |"
    )


def test_a_declared_tolerance_absorbs_a_small_difference(committed):
    lock, metrics = committed
    reproduced_metrics = copy.deepcopy(metrics)
    reproduced_metrics["metrics/evaluate.json"]["average_precision_micro"] += 1e-7
    loose = Contract(tolerance={"metrics/evaluate.json:average_precision_micro": 1e-6})
    assert reproduction.compare(lock, lock, metrics, reproduced_metrics, loose).passed
    assert not reproduction.compare(lock, lock, metrics, reproduced_metrics, Contract()).passed


def test_a_metric_missing_on_one_side_or_of_another_value_fails(committed, contract):
    lock, metrics = committed
    reproduced_metrics = copy.deepcopy(metrics)
    del reproduced_metrics["metrics/evaluate.json"]["f1_macro"]
    reproduced_metrics["metrics/evaluate.json"]["dataset"] = "mnist"
    report = reproduction.compare(lock, lock, metrics, reproduced_metrics, contract)
    failed = {m.metric: m.reproduced for m in report.failed_metrics}
    assert failed == {
        "metrics/evaluate.json:dataset": "mnist",
        "metrics/evaluate.json:f1_macro": reproduction.MISSING,
    }


def test_the_committed_contract_keeps_data_exact_and_lets_models_drift(contract):
    assert contract.may_drift("models/model.skops") and contract.may_drift("data/features")
    assert not contract.may_drift("data/raw") and not contract.may_drift("data/processed")
    assert contract.tolerance_of("metrics/evaluate.json:accuracy") == 0.0


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ([], "expected a mapping"),
        ({"drift": "models"}, "drift = 'models': expected a list"),
        ({"tolerance": {"accuracy": 0.1}}, "name a metric as '<file>:<key>'"),
        ({"tolerance": {"m.json:a": -1}}, "must be a number >= 0"),
        ({"tolerence": {}}, "unknown key(s) tolerence"),
    ],
)
def test_an_invalid_contract_is_refused(section, expected):
    with pytest.raises(ContractError, match=r"invalid|expected") as info:
        parse_contract(section)
    assert expected in str(info.value)


def test_the_rules_file_allows_the_contract_beside_the_rules():
    data = yaml.safe_load((ROOT / "gate.yaml").read_text())
    assert gate_rules.parse_rules(data)  # the reproduce section is not an unknown key
    with pytest.raises(gate_rules.RulesError, match="allowed are metrics, reproduce"):
        gate_rules.parse_rules({**data, "reproduced": {}})
