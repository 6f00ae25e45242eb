"""The accuracy gate behind ``digitrec check``: rules, comparison and the Markdown report.

Pure logic, no I/O: :mod:`digitrec.cli.check` reads the rules file, the metrics (through
DVC) and ``dvc status``, and hands plain dicts to the functions here.

A rule names one metric as ``<metrics file>:<key>`` (``metrics/evaluate.json:accuracy``;
nested keys are dotted, ``f1_per_class.3``, as in ``dvc metrics diff``) and says which way
is better, the absolute limits the current value must respect and how much it may worsen
against the baseline revision. The schema is documented at the top of ``gate.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DIRECTIONS = ("higher", "lower")
RULE_KEYS = ("direction", "min", "max", "max_drop")
# "reproduce" is the reproducibility contract, read by digitrec.gate.reproduction.
TOP_LEVEL_KEYS = ("metrics", "reproduce")
EPSILON = 1e-9  # metrics are rounded to 6 decimals; this only absorbs float noise


class RulesError(ValueError):
    """The rules file is unreadable or invalid; the message lists every problem."""


@dataclass(frozen=True)
class Rule:
    """What one metric must satisfy."""

    metric: str  # "<path>:<key>", as written in the rules file
    path: str  # the metrics file, relative to the DVC project root
    key: str  # the (dotted) key inside that file
    direction: str  # "higher" or "lower": which way is better
    min: float | None = None  # absolute floor for the current value
    max: float | None = None  # absolute ceiling for the current value
    max_drop: float | None = None  # largest worsening allowed against the baseline

    def worsening(self, baseline: float, now: float) -> float:
        """How much worse ``now`` is than ``baseline`` (negative when it improved)."""
        return baseline - now if self.direction == "higher" else now - baseline

    def describe(self) -> str:
        """The rule in a few words, for the report: ``higher; >= 0.985; drop <= 0.005``."""
        parts = [f"{self.direction} is better"]
        if self.min is not None:
            parts.append(f">= {_num(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_num(self.max)}")
        if self.max_drop is not None:
            word = "drop" if self.direction == "higher" else "rise"
            parts.append(f"{word} <= {_num(self.max_drop)}")
        return "; ".join(parts)


def parse_rules(data: Any, source: str = "gate.yaml") -> list[Rule]:
    """Validate the loaded rules file (a mapping) and return its rules, in file order.

    Raises:
        RulesError: one line per problem, naming the metric, the field and what is allowed.
    """
    problems: list[str] = []
    rules: list[Rule] = []
    if not isinstance(data, Mapping):
        raise RulesError(f"{source}: expected a mapping with a 'metrics' key, got {_kind(data)}")
    unknown = sorted(str(k) for k in data if k not in TOP_LEVEL_KEYS)
    if unknown:
        problems.append(
            f"unknown top-level key(s) {', '.join(unknown)}: allowed are "
            + ", ".join(TOP_LEVEL_KEYS)
        )
    metrics = data.get("metrics")
    if not isinstance(metrics, Mapping) or not metrics:
        problems.append("metrics: expected a non-empty mapping of '<file>:<key>' to a rule")
        metrics = {}
    for name, spec in metrics.items():
        rule = _parse_rule(str(name), spec, problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise RulesError(f"{source}: invalid rules:\n" + "\n".join(f"  {p}" for p in problems))
    return rules


def load_rules(text: str, source: str = "gate.yaml") -> list[Rule]:
    """Parse the YAML text of a rules file (see :func:`parse_rules`)."""
    return parse_rules(parse_yaml(text, source), source)


def parse_yaml(text: str, source: str = "gate.yaml") -> Any:
    """The rules file's YAML, loaded; RulesError when it is not YAML."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from None


def _parse_rule(name: str, spec: Any, problems: list[str]) -> Rule | None:
    before = len(problems)
    path, sep, key = name.rpartition(":")
    if not sep or not path or not key:
        problems.append(
            f"{name!r}: name a metric as '<metrics file>:<key>', "
            "e.g. 'metrics/evaluate.json:accuracy'"
        )
    if not isinstance(spec, Mapping):
        problems.append(
            f"{name}: expected a mapping with {', '.join(RULE_KEYS)}, got {_kind(spec)}"
        )
        return None
    unknown = sorted(str(k) for k in spec if k not in RULE_KEYS)
    if unknown:
        problems.append(
            f"{name}: unknown key(s) {', '.join(unknown)}: allowed are {', '.join(RULE_KEYS)}"
        )
    direction = spec.get("direction")
    if direction not in DIRECTIONS:
        problems.append(f"{name}.direction = {direction!r}: must be 'higher' or 'lower'")
    values: dict[str, float | None] = {}
    for field_name in ("min", "max", "max_drop"):
        value = spec.get(field_name)
        if value is not None and not _is_number(value):
            problems.append(f"{name}.{field_name} = {value!r}: must be a finite number")
            value = None
        values[field_name] = None if value is None else float(value)
    if values["max_drop"] is not None and values["max_drop"] < 0:
        problems.append(f"{name}.max_drop = {values['max_drop']!r}: must be >= 0")
    if values["min"] is not None and values["max"] is not None and values["min"] > values["max"]:
        problems.append(f"{name}: min ({values['min']}) is greater than max ({values['max']})")
    if all(spec.get(k) is None for k in values):
        problems.append(f"{name}: give at least one of min, max, max_drop")
    if len(problems) > before:
        return None
    return Rule(metric=name, path=path, key=key, direction=str(direction), **values)


# --- comparison -----------------------------------------------------------------------

NO_BASELINE = "no baseline"
MISSING = "missing"


@dataclass
class Outcome:
    """One rule checked: the values on both sides and why it failed, if it did."""

    rule: Rule
    baseline: float | str  # a number, NO_BASELINE, MISSING or a non-numeric value's repr
    now: float | str  # a number, MISSING or a non-numeric value's repr
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def change(self) -> float | None:
        if isinstance(self.baseline, float) and isinstance(self.now, float):
            return self.now - self.baseline
        return None


def lookup(metrics: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """``(found, value)`` for ``key`` in a metrics dict: an exact key first, else a dotted
    path into nested dicts (``f1_per_class.3``)."""
    if key in metrics:
        return True, metrics[key]
    node: Any = metrics
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def compare(
    rules: Sequence[Rule],
    current: Mapping[str, Mapping[str, Any] | None],
    baseline: Mapping[str, Mapping[str, Any] | None] | None,
    baseline_name: str = "the baseline",
) -> list[Outcome]:
    """Check every rule.

    Args:
        current: metrics file path -> its metrics in the workspace, ``None`` if absent.
        baseline: the same at the baseline revision; ``None`` (or a file mapped to
            ``None``) means there is no baseline yet, so only the absolute limits apply.
            A file that exists at the baseline but lacks a metric fails that rule.
    """
    outcomes = []
    for rule in rules:
        now, now_failures = _side(current.get(rule.path), rule, "in the workspace")
        failures = list(now_failures)
        base_metrics = None if baseline is None else baseline.get(rule.path)
        if base_metrics is None:
            base: float | str = NO_BASELINE
        else:
            base, base_failures = _side(base_metrics, rule, f"at {baseline_name}")
            failures += base_failures
        if isinstance(now, float):
            if rule.min is not None and now < rule.min - EPSILON:
                failures.append(f"below min {_num(rule.min)}")
            if rule.max is not None and now > rule.max + EPSILON:
                failures.append(f"above max {_num(rule.max)}")
            if isinstance(base, float) and rule.max_drop is not None:
                worse = rule.worsening(base, now)
                if worse > rule.max_drop + EPSILON:
                    word = "dropped" if rule.direction == "higher" else "rose"
                    failures.append(f"{word} {_num(worse)} (> {_num(rule.max_drop)})")
        outcomes.append(Outcome(rule, base, now, failures))
    return outcomes


def _side(metrics: Mapping[str, Any] | None, rule: Rule, where: str) -> tuple[float | str, list]:
    if metrics is None:
        return MISSING, [f"{rule.path} missing {where}"]
    found, value = lookup(metrics, rule.key)
    if not found:
        return MISSING, [f"{rule.key} missing {where}"]
    if not _is_number(value):
        return repr(value), [f"{rule.key} {where} is not a number: {value!r}"]
    return float(value), []


# --- dvc status -------------------------------------------------------------------------

ABSENT_STATES = {"deleted", "not in cache"}


@dataclass
class PipelineStatus:
    """What ``dvc status --json`` reported, sorted into two kinds of problem."""

    stale: list[str] = field(default_factory=list)  # deps/params/cmd/outs that changed
    absent: list[str] = field(default_factory=list)  # outputs not in this workspace

    @property
    def up_to_date(self) -> bool:
        return not self.stale and not self.absent


def summarize_status(status: Mapping[str, Any]) -> PipelineStatus:
    """Sort ``dvc status --json`` output into changes that make ``dvc.lock`` stale (a param,
    a source file, the command or an output's content changed) and outputs that are merely
    absent (data never pulled or reproduced here; their consumers then report a deleted
    dependency, which is the same absence and not counted again)."""
    result = PipelineStatus()
    absent_outs: set[str] = set()
    entries: list[tuple[str, str, str, str]] = []  # (stage, kind, path, state)
    for stage, changes in status.items():
        for change in changes if isinstance(changes, list) else [changes]:
            if isinstance(change, str):  # "changed checksum", "always changed", ...
                entries.append((stage, change, "", ""))
                continue
            for kind, items in change.items():
                if not isinstance(items, Mapping):
                    entries.append((stage, kind, str(items), ""))
                    continue
                for path, state in items.items():
                    if isinstance(state, Mapping):  # params file: {param: "modified"}
                        detail = ", ".join(f"{k} {v}" for k, v in state.items())
                        entries.append((stage, kind, f"{path} ({detail})", "modified"))
                    else:
                        entries.append((stage, kind, path, str(state)))
                        if kind == "changed outs" and state in ABSENT_STATES:
                            absent_outs.add(path)
    for stage, kind, path, state in entries:
        text = f"{stage}: {kind}" + (f": {state} {path}" if path else "")
        if state in ABSENT_STATES and (kind == "changed outs" or path in absent_outs):
            if kind == "changed outs":
                result.absent.append(text)
        else:
            result.stale.append(text)
    return result


# --- report -----------------------------------------------------------------------------


@dataclass
class Report:
    """Everything ``digitrec check`` found, ready to render."""

    against: str  # the revision as the user named it
    commit: str | None  # its commit, None when it does not exist (no baseline)
    outcomes: list[Outcome]
    notes: list[str] = field(default_factory=list)  # e.g. why there is no baseline
    status: PipelineStatus | None = None  # None: not checked (--no-status)

    @property
    def failed_rules(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    @property
    def passed(self) -> bool:
        return not self.failed_rules and (self.status is None or self.status.up_to_date)


def render_markdown(report: Report) -> str:
    """The report as Markdown: a heading, the table, notes, pipeline status, the verdict."""
    commit = f" ({report.commit[:7]})" if report.commit else ""
    lines = [
        f"### digitrec check: workspace against `{report.against}`{commit}",
        "",
        "| metric | baseline | now | change | rule | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for o in report.outcomes:
        change = "" if o.change is None else _num(o.change, signed=True)
        result = "pass" if o.passed else "**FAIL**: " + "; ".join(o.failures)
        metric = f"`{o.rule.metric}`"
        cells = [metric, _cell(o.baseline), _cell(o.now), change, o.rule.describe(), result]
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    lines.append("")
    lines += [f"- {note}" for note in report.notes]
    if report.status is None:
        lines.append("- Pipeline status not checked (`--no-status`).")
    elif report.status.up_to_date:
        lines.append("- Pipeline: up to date (`dvc status` is clean).")
    else:
        if report.status.stale:
            lines.append(
                "- **FAIL**: `dvc.lock` and the metrics are stale: run `dvc repro` and commit "
                "`dvc.lock` and the metrics (a change must carry the metrics it produces). "
                "`dvc status` says:"
            )
            lines += [f"  - {item}" for item in report.status.stale]
        if report.status.absent:
            lines.append(
                "- **FAIL**: pipeline outputs are not in this workspace, so `dvc.lock` cannot "
                "be checked: run `dvc repro` (or `dvc pull`) first, or pass `--no-status`:"
            )
            lines += [f"  - {item}" for item in report.status.absent]
    lines.append("")
    failed = len(report.failed_rules)
    if report.passed:
        lines.append(f"**PASS**: {len(report.outcomes)} of {len(report.outcomes)} rules hold.")
    else:
        parts = []
        if failed:
            parts.append(f"{failed} of {len(report.outcomes)} rules failed")
        if report.status is not None and not report.status.up_to_date:
            parts.append("the pipeline is not up to date")
        lines.append("**FAIL**: " + " and ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def _cell(value: float | str) -> str:
    return _num(value) if isinstance(value, float) else value


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _num(value: float, signed: bool = False) -> str:
    """Six significant digits (enough for metrics rounded to 6 decimals); ``signed``: +0."""
    if value == 0:
        return "+0" if signed else "0"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
