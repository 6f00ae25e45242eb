"""The accuracy gate's logic (rules, comparison, status, report) and the CI workflow lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from digitrec.cli.check import ANCESTRY, _generations
from digitrec.gate import rules as gate_rules
from digitrec.gate.rules import NO_BASELINE, PipelineStatus, Report, Rule, RulesError

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github/workflows/ci.yml"
EVAL = "metrics/evaluate.json"


def rule(key="accuracy", direction="higher", **limits) -> Rule:
    return Rule(metric=f"{EVAL}:{key}", path=EVAL, key=key, direction=direction, **limits)


# --- rules ------------------------------------------------------------------------------


def test_the_committed_rules_file_parses_and_guards_the_default_accuracy():
    rules = gate_rules.load_rules((ROOT / "gate.yaml").read_text())
    by_metric = {r.metric: r for r in rules}
    accuracy = by_metric[f"{EVAL}:accuracy"]
    assert (accuracy.path, accuracy.key, accuracy.direction) == (EVAL, "accuracy", "higher")
    assert accuracy.min == 0.985 and accuracy.max_drop is not None
    committed = {f"{EVAL}:{k}": v for k, v in yaml.safe_load((ROOT / EVAL).read_text()).items()}
    for r in rules:  # the committed metrics satisfy their own floors
        assert r.min is None or committed[r.metric] >= r.min, r.metric


def test_rules_with_every_field():
    rules = gate_rules.parse_rules(
        {
            "metrics": {
                "metrics/evaluate.json:f1_per_class.3": {"direction": "higher", "min": 0.9},
                "metrics/loss.json:val_loss": {
                    "direction": "lower",
                    "max": 0.5,
                    "max_drop": 0,
                    "min": 0,
                },
            }
        }
    )
    assert rules == [
        Rule(f"{EVAL}:f1_per_class.3", EVAL, "f1_per_class.3", "higher", min=0.9),
        Rule(
            "metrics/loss.json:val_loss",
            "metrics/loss.json",
            "val_loss",
            "lower",
            min=0.0,
            max=0.5,
            max_drop=0.0,
        ),
    ]


def test_every_problem_in_a_rules_file_is_reported_at_once():
    text = """
metrics:
  metrics/evaluate.json:accuracy:
    direction: up
    min: high
    max_dorp: 0.01
  accuracy:
    direction: higher
    min: 0.9
  metrics/evaluate.json:f1_macro:
    direction: higher
    max_drop: -0.1
  metrics/evaluate.json:recall_macro:
    direction: lower
    min: 0.9
    max: 0.5
  metrics/evaluate.json:precision_macro:
    direction: higher
  metrics/evaluate.json:n_test: 360
thresholds: {}
"""
    with pytest.raises(RulesError) as info:
        gate_rules.load_rules(text, "gate.yaml")
    message = str(info.value)
    assert message.startswith("gate.yaml: invalid rules:\n")
    for expected in [
        "unknown top-level key(s) thresholds",
        "metrics/evaluate.json:accuracy.direction = 'up': must be 'higher' or 'lower'",
        "metrics/evaluate.json:accuracy.min = 'high': must be a finite number",
        "metrics/evaluate.json:accuracy: unknown key(s) max_dorp: allowed are direction, min,",
        "'accuracy': name a metric as '<metrics file>:<key>'",
        "metrics/evaluate.json:f1_macro.max_drop = -0.1: must be >= 0",
        "metrics/evaluate.json:recall_macro: min (0.9) is greater than max (0.5)",
        "metrics/evaluate.json:precision_macro: give at least one of min, max, max_drop",
        "metrics/evaluate.json:n_test: expected a mapping with direction, min, max, max_drop, "
        "got int",
    ]:
        assert expected in message
    assert len(message.splitlines()) == 10  # the heading and one line per problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping with a 'metrics' key, got nothing"),
        ("[1, 2]", "expected a mapping with a 'metrics' key, got list"),
        ("metrics: {}", "metrics: expected a non-empty mapping"),
        ("metrics: [a]", "metrics: expected a non-empty mapping"),
        ("metrics: {a:b: {direction: higher, min: .nan}}", "a:b.min = nan: must be a finite"),
        ("metrics: {a:b: {direction: higher, min: true}}", "a:b.min = True: must be a finite"),
        ("metrics: {a: [", "gate.yaml: not valid YAML"),
    ],
)
def test_malformed_rules_files(text, expected):
    with pytest.raises(RulesError) as info:
        gate_rules.load_rules(text)
    assert expected in str(info.value)


# --- comparison -------------------------------------------------------------------------


def metrics(accuracy=0.991667, **more):
    return {EVAL: {"accuracy": accuracy, "f1_per_class": {"3": 0.98}, **more}}


def test_unchanged_and_improved_metrics_pass():
    rules = [rule(min=0.985, max_drop=0.005), rule("f1_per_class.3", min=0.9, max_drop=0)]
    outcomes = gate_rules.compare(rules, metrics(), metrics())
    assert [o.passed for o in outcomes] == [True, True]
    assert outcomes[0].change == 0.0 and outcomes[1].baseline == outcomes[1].now == 0.98
    better = gate_rules.compare(rules, metrics(0.995), metrics())
    assert better[0].passed and better[0].change == pytest.approx(0.003333)


def test_a_drop_beyond_max_drop_fails_even_above_the_floor():
    [outcome] = gate_rules.compare([rule(min=0.985, max_drop=0.005)], metrics(0.986111), metrics())
    assert not outcome.passed
    assert outcome.failures == ["dropped 0.005556 (> 0.005)"]
    assert outcome.change == pytest.approx(-0.005556)


def test_a_drop_of_exactly_max_drop_passes_despite_float_noise():
    assert 0.99 - 0.985 > 0.005  # what a naive comparison would trip on
    [outcome] = gate_rules.compare([rule(max_drop=0.005)], metrics(0.985), metrics(0.99))
    assert outcome.passed


def test_below_the_floor_fails_even_without_a_drop():
    [outcome] = gate_rules.compare([rule(min=0.985, max_drop=0.005)], metrics(0.98), metrics(0.98))
    assert outcome.failures == ["below min 0.985"]


def test_lower_is_better_metrics():
    loss = {EVAL: {"loss": 0.30}}
    rules = [rule("loss", "lower", max=0.4, max_drop=0.05)]
    assert gate_rules.compare(rules, {EVAL: {"loss": 0.25}}, loss)[0].passed  # improved
    assert gate_rules.compare(rules, {EVAL: {"loss": 0.34}}, loss)[0].passed  # rose within limit
    [rose] = gate_rules.compare(rules, {EVAL: {"loss": 0.36}}, loss)
    assert rose.failures == ["rose 0.06 (> 0.05)"]
    [high] = gate_rules.compare(rules, {EVAL: {"loss": 0.45}}, {EVAL: {"loss": 0.44}})
    assert high.failures == ["above max 0.4"]
    assert rules[0].describe() == "lower is better; <= 0.4; rise <= 0.05"


def test_a_metric_missing_on_either_side_fails():
    rules = [rule(min=0.9, max_drop=0.01)]
    [now_missing] = gate_rules.compare(rules, {EVAL: {"f1_macro": 0.99}}, metrics())
    assert now_missing.now == gate_rules.MISSING
    assert now_missing.failures == ["accuracy missing in the workspace"]
    [file_missing] = gate_rules.compare(rules, {EVAL: None}, metrics())
    assert file_missing.failures == [f"{EVAL} missing in the workspace"]
    [base_missing] = gate_rules.compare(rules, metrics(), {EVAL: {"f1_macro": 0.99}}, "`main`")
    assert base_missing.baseline == gate_rules.MISSING
    assert base_missing.failures == ["accuracy missing at `main`"]


def test_no_baseline_checks_only_the_absolute_limits():
    rules = [rule(min=0.985, max_drop=0.005)]
    for baseline in (None, {EVAL: None}, {}):  # no revision, no file there
        [ok] = gate_rules.compare(rules, metrics(0.99), baseline)
        assert ok.passed and ok.baseline == NO_BASELINE and ok.change is None
        [low] = gate_rules.compare(rules, metrics(0.98), baseline)
        assert low.failures == ["below min 0.985"]


def test_non_numeric_values_fail():
    [outcome] = gate_rules.compare([rule("dataset", min=0)], {EVAL: {"dataset": "digits"}}, None)
    assert outcome.failures == ["dataset in the workspace is not a number: 'digits'"]


def test_lookup_finds_exact_and_dotted_keys():
    data = {"a.b": 1, "f1_per_class": {"3": 0.5}, "x": 2}
    assert gate_rules.lookup(data, "a.b") == (True, 1)
    assert gate_rules.lookup(data, "f1_per_class.3") == (True, 0.5)
    assert gate_rules.lookup(data, "f1_per_class.4") == (False, None)
    assert gate_rules.lookup(data, "x.y") == (False, None)


# --- dvc status ---------------------------------------------------------------------------


def test_a_clean_status_is_up_to_date():
    assert gate_rules.summarize_status({}).up_to_date


def test_a_changed_param_makes_the_lock_stale():
    status = {"train": [{"changed deps": {"params.yaml": {"train": "modified"}}}]}
    summary = gate_rules.summarize_status(status)
    assert summary.stale == ["train: changed deps: modified params.yaml (train modified)"]
    assert not summary.absent and not summary.up_to_date


def test_outputs_absent_from_a_fresh_clone_are_not_called_stale():
    status = {  # `dvc status` in a clone that never ran or pulled the pipeline
        "fetch": [{"changed outs": {"data/raw": "not in cache"}}],
        "train": [
            {"changed deps": {"data/raw": "deleted"}},
            {"changed outs": {"models/model.joblib": "deleted"}},
        ],
        "evaluate": [{"changed deps": {"models/model.joblib": "deleted"}}],
    }
    summary = gate_rules.summarize_status(status)
    assert summary.stale == []
    assert summary.absent == [
        "fetch: changed outs: not in cache data/raw",
        "train: changed outs: deleted models/model.joblib",
    ]


def test_changed_code_commands_and_metrics_are_stale():
    status = {
        "train": [
            {
                "changed deps": {
                    "src/digitrec/models/registry.py": "modified",
                    "src/gone.py": "deleted",
                }
            },
            "changed command",
        ],
        "evaluate": [{"changed outs": {"metrics/evaluate.json": "modified"}}],
    }
    assert gate_rules.summarize_status(status).stale == [
        "train: changed deps: modified src/digitrec/models/registry.py",
        "train: changed deps: deleted src/gone.py",
        "train: changed command",
        "evaluate: changed outs: modified metrics/evaluate.json",
    ]


# --- report -------------------------------------------------------------------------------


def test_the_markdown_report_of_a_failing_gate():
    rules = [rule(min=0.985, max_drop=0.005), rule("f1|macro", min=0.9)]
    current = {EVAL: {"accuracy": 0.980556, "f1|macro": 0.98}}
    baseline = {EVAL: {"accuracy": 0.991667, "f1|macro": 0.99}}
    outcomes = gate_rules.compare(rules, current, baseline, "`main`")
    status = PipelineStatus(stale=["train: changed deps: modified params.yaml (train modified)"])
    report = Report("main", "0123456789abcdef", outcomes, ["A note."], status)
    assert not report.passed
    text = gate_rules.render_markdown(report)
    assert text.splitlines() == [
        "### digitrec check: workspace against `main` (0123456)",
        "",
        "| metric | baseline | now | change | rule | result |",
        "|---|---:|---:|---:|---|---|",
        "| `metrics/evaluate.json:accuracy` | 0.991667 | 0.980556 | -0.011111 "
        "| higher is better; >= 0.985; drop <= 0.005 "
        "| **FAIL**: below min 0.985; dropped 0.011111 (> 0.005) |",
        "| `metrics/evaluate.json:f1\\|macro` | 0.99 | 0.98 | -0.01 | higher is better; >= 0.9 "
        "| pass |",
        "",
        "- A note.",
        "- **FAIL**: `dvc.lock` and the metrics are stale: run `dvc repro` and commit "
        "`dvc.lock` and the metrics (a change must carry the metrics it produces). "
        "`dvc status` says:",
        "  - train: changed deps: modified params.yaml (train modified)",
        "",
        "**FAIL**: 1 of 2 rules failed and the pipeline is not up to date.",
    ]


def test_the_markdown_report_of_a_passing_gate_without_a_baseline():
    outcomes = gate_rules.compare([rule(min=0.985, max_drop=0.005)], metrics(), None)
    report = Report("HEAD~1", None, outcomes, ["No baseline: ..."], PipelineStatus())
    assert report.passed
    text = gate_rules.render_markdown(report)
    assert "| no baseline | 0.991667 |  |" in text
    assert "- Pipeline: up to date (`dvc status` is clean)." in text
    assert text.endswith("**PASS**: 1 of 1 rules hold.\n")
    unchecked = gate_rules.render_markdown(Report("main", "abc", outcomes, [], None))
    assert "Pipeline status not checked (`--no-status`)" in unchecked


def test_a_stale_pipeline_alone_fails_the_gate():
    outcomes = gate_rules.compare([rule(min=0.985)], metrics(), metrics())
    absent = PipelineStatus(absent=["fetch: changed outs: not in cache data/raw"])
    report = Report("main", "abc", outcomes, [], absent)
    assert not report.passed
    text = gate_rules.render_markdown(report)
    assert "run `dvc repro` (or `dvc pull`) first, or pass `--no-status`" in text
    assert text.endswith("**FAIL**: the pipeline is not up to date.\n")


@pytest.mark.parametrize(
    ("rev", "generations"),
    [("HEAD~1", 1), ("HEAD~", 1), ("HEAD^", 1), ("HEAD~3", 3), ("main~2^", 3), ("HEAD^2", 1)],
)
def test_ancestry_revisions_and_the_depth_they_need(rev, generations):
    match = ANCESTRY.match(rev)
    assert match and _generations(match["steps"]) == generations
    assert ANCESTRY.match("origin/main") is None


# --- the CI workflow ----------------------------------------------------------------------


def actionlint() -> str:
    """The actionlint binary installed in this environment (a pinned dev dependency)."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    assert found, "actionlint not found: install the pinned dev dependencies (requirements.lock)"
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    # shellcheck/pyflakes integrations off: the result must not depend on what else is
    # installed on the machine.
    return subprocess.run(
        [actionlint(), "-oneline", "-no-color", "-shellcheck=", "-pyflakes=", str(path)],
        capture_output=True,
        text=True,
    )


def test_the_ci_workflow_passes_actionlint():
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / ".github/workflows/ci.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text()
    text = text.replace("github.base_ref", "github.base_branch")  # no such context property
    text = text.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest")  # misspelt key
    broken.write_text(text)
    result = lint(broken)
    assert result.returncode != 0
    assert "base_branch" in result.stdout and "runs_on" in result.stdout


def test_the_ci_workflow_runs_what_the_project_promises():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["ci"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    uses = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step}
    assert uses["actions/checkout"]["fetch-depth"] == 0
    assert uses["actions/setup-python"]["python-version"] == "3.11"
    for command in [
        "make test",
        "make repro",
        'digitrec check --reproduced | tee -a "$GITHUB_STEP_SUMMARY"',
        'digitrec check --against "$BASE" | tee -a "$GITHUB_STEP_SUMMARY"',
        'dvc metrics diff --md "$BASE"',
        'dvc params diff --md "$BASE"',
        '>> "$GITHUB_STEP_SUMMARY"',
    ]:
        assert command in runs, command
    assert runs.index("make test") < runs.index("make repro") < runs.index("digitrec check")
    assert runs.index("check --reproduced") < runs.index("check --against")
    assert runs.index("make lint") < runs.index("make test")
    assert "git diff --exit-code dvc.lock" not in runs  # model bytes may drift by CPU
    test_step = next(step for step in steps if step.get("run") == "make test")
    assert test_step["env"]["DIGITREC_REQUIRE_DATA"] == "1"
    base = workflow["env"]["BASE"]
    assert "format('origin/{0}', github.base_ref)" in base and "'HEAD~1'" in base
    assert workflow["defaults"]["run"]["shell"] == "bash"  # -o pipefail for `check | tee`


def test_check_registers_as_a_typer_command_with_its_options():
    import typer
    from typer.testing import CliRunner

    from digitrec.cli.check import check

    app = typer.Typer()
    app.command("check")(check)
    app.command("other")(lambda: None)  # two commands: `check` is addressed by name
    result = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in [
        "--against",
        "--rules",
        "--no-status",
        "--reproduced",
        "default: main",
        "gate.yaml",
    ]:
        assert option in result.output
    assert "--no-no-status" not in result.output
