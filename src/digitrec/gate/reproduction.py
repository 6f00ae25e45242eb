"""The reproducibility contract behind ``digitrec check --reproduced``.

After ``dvc repro`` in a clean clone, the workspace's ``dvc.lock`` and metrics are compared
with the committed ones:

- a stage's command, params or source files that differ mean the commit is **stale**
  (its ``dvc.lock`` was not reproduced after a change): fail, naming them;
- a metric that differs by more than its declared tolerance (exact by default): fail;
- an output whose bytes differ while every metric agrees is **machine drift** when the
  contract allows it for that output (floating-point results that depend on the CPU's BLAS
  kernels, such as a fitted model): pass, and list it; any other output must be identical.

Pure logic, no I/O: :mod:`digitrec.cli.check` reads the locks, the metrics and the contract
(the ``reproduce`` section of ``gate.yaml``) and renders the :class:`Report`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTRACT_KEYS = ("drift", "tolerance")


class ContractError(ValueError):
    """The ``reproduce`` section of the rules file is invalid."""


@dataclass(frozen=True)
class Contract:
    """What may differ on another machine."""

    drift: tuple[str, ...] = ()  # outputs (files or directories) whose bytes may differ
    tolerance: Mapping[str, float] = field(default_factory=dict)  # "<file>:<key>" -> abs

    def may_drift(self, path: str) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in self.drift)

    def tolerance_of(self, metric: str) -> float:
        return self.tolerance.get(metric, 0.0)


def parse_contract(data: Any, source: str = "gate.yaml") -> Contract:
    """Validate the ``reproduce`` section (``None``: everything must be identical)."""
    if data is None:
        return Contract()
    problems = []
    if not isinstance(data, Mapping):
        raise ContractError(f"{source}: reproduce: expected a mapping with {CONTRACT_KEYS}")
    unknown = sorted(str(k) for k in data if k not in CONTRACT_KEYS)
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}: allowed are drift, tolerance")
    drift = data.get("drift") or []
    if not isinstance(drift, list) or not all(isinstance(d, str) and d for d in drift):
        problems.append(f"drift = {drift!r}: expected a list of output paths")
        drift = []
    tolerance = data.get("tolerance") or {}
    if not isinstance(tolerance, Mapping):
        problems.append(f"tolerance = {tolerance!r}: expected a mapping of '<file>:<key>'")
        tolerance = {}
    for metric, value in tolerance.items():
        if ":" not in str(metric):
            problems.append(f"tolerance: {metric!r}: name a metric as '<file>:<key>'")
        if not _is_number(value) or value < 0:
            problems.append(f"tolerance.{metric} = {value!r}: must be a number >= 0")
    if problems:
        raise ContractError(
            f"{source}: invalid reproduce section:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return Contract(tuple(drift), {str(k): float(v) for k, v in tolerance.items()})


# --- comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDiff:
    """One metric on both sides."""

    metric: str  # "<file>:<dotted key>"
    committed: Any  # MISSING when absent
    reproduced: Any
    tolerance: float

    @property
    def difference(self) -> float | None:
        if _is_number(self.committed) and _is_number(self.reproduced):
            return float(self.reproduced) - float(self.committed)
        return None

    @property
    def agrees(self) -> bool:
        if self.difference is not None:
            return abs(self.difference) <= self.tolerance
        return self.committed == self.reproduced


MISSING = "missing"


@dataclass
class Report:
    """Everything the comparison found."""

    revision: str  # as the user named it
    commit: str
    stale: list[str] = field(default_factory=list)  # "<stage>: <what changed>"
    metrics: list[MetricDiff] = field(default_factory=list)  # every metric compared
    drift: list[str] = field(default_factory=list)  # outputs whose bytes may and do differ
    not_reproduced: list[str] = field(default_factory=list)  # outputs that must not differ
    unclean: list[str] = field(default_factory=list)  # what `dvc status` says is not current

    @property
    def failed_metrics(self) -> list[MetricDiff]:
        return [m for m in self.metrics if not m.agrees]

    @property
    def passed(self) -> bool:
        return not (self.stale or self.failed_metrics or self.not_reproduced or self.unclean)


def compare(
    committed_lock: Mapping[str, Any],
    reproduced_lock: Mapping[str, Any],
    committed_metrics: Mapping[str, Mapping[str, Any] | None],
    reproduced_metrics: Mapping[str, Mapping[str, Any] | None],
    contract: Contract,
    revision: str = "HEAD",
    commit: str = "",
) -> Report:
    """Compare a committed ``dvc.lock`` and its metrics with a reproduction of them.

    Args:
        committed_lock, reproduced_lock: the parsed ``dvc.lock`` files.
        committed_metrics, reproduced_metrics: metrics file path -> its metrics (``None``
            when the file is absent on that side).
    """
    report = Report(revision, commit)
    committed = _stages(committed_lock)
    reproduced = _stages(reproduced_lock)
    produced = {out["path"] for stage in reproduced.values() for out in stage.get("outs", [])}
    produced |= {out["path"] for stage in committed.values() for out in stage.get("outs", [])}
    for name in sorted(committed.keys() | reproduced.keys()):
        if name not in reproduced:
            report.stale.append(f"{name}: committed, but not reproduced")
            continue
        if name not in committed:
            report.stale.append(f"{name}: reproduced, but not in the committed dvc.lock")
            continue
        before, after = committed[name], reproduced[name]
        if before.get("cmd") != after.get("cmd"):
            report.stale.append(f"{name}: command {before.get('cmd')!r} -> {after.get('cmd')!r}")
        for key, old, new in _changed(_flat_params(before), _flat_params(after)):
            report.stale.append(f"{name}: param {key}: {_show(old)} -> {_show(new)}")
        deps_before, deps_after = _by_path(before, "deps"), _by_path(after, "deps")
        for path, old, new in _changed(deps_before, deps_after):
            if path not in produced:  # a produced dep is compared where it is produced
                report.stale.append(f"{name}: dependency {path} {_how(old, new)}")
        for path, old, new in _changed(_by_path(before, "outs"), _by_path(after, "outs")):
            entry = f"{name}: {path}"
            if old is None or new is None:
                report.stale.append(f"{name}: output {path} {_how(old, new)}")
            elif path in reproduced_metrics or contract.may_drift(path):
                report.drift.append(entry)
            else:
                report.not_reproduced.append(entry)
    for path in sorted(committed_metrics.keys() | reproduced_metrics.keys()):
        before = _flat(committed_metrics.get(path) or {})
        after = _flat(reproduced_metrics.get(path) or {})
        for key in sorted(before.keys() | after.keys(), key=_natural):
            metric = f"{path}:{key}"
            report.metrics.append(
                MetricDiff(
                    metric,
                    before.get(key, MISSING),
                    after.get(key, MISSING),
                    contract.tolerance_of(metric),
                )
            )
    return report


def _stages(lock: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    stages = lock.get("stages") if isinstance(lock, Mapping) else None
    return dict(stages) if isinstance(stages, Mapping) else {}


def _by_path(stage: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """``path -> its recorded hash fields`` (the size and file count follow the hash)."""
    return {
        item["path"]: {k: v for k, v in item.items() if k != "path"}
        for item in stage.get(kind) or []
    }


def _flat_params(stage: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for file, values in (stage.get("params") or {}).items():
        prefix = "" if file == "params.yaml" else f"{file}:"
        flat.update({prefix + k: v for k, v in _flat(values).items()})
    return flat


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": leaf}``; lists are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, name + "."))
        else:
            flat[name] = value
    return flat


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new:
            yield key, old, new


def _how(old: Any, new: Any) -> str:
    if old is None:
        return "is not in the committed dvc.lock"
    if new is None:
        return "is in the committed dvc.lock only"
    return f"changed (md5 {old.get('md5')} -> {new.get('md5')})"


def _natural(key: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def _show(value: Any) -> str:
    return "(absent)" if value is None else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- report -----------------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    """The report as Markdown: what is stale, the metrics outside tolerance, the drift."""
    lines = [
        f"### digitrec check --reproduced: workspace against `{report.revision}` "
        f"({report.commit[:7]})",
        "",
    ]
    if report.stale:
        lines.append(
            "- **FAIL**: the commit is stale: its `dvc.lock` does not record what its code "
            "and params produce (run `dvc repro` and commit `dvc.lock` and the metrics):"
        )
        lines += [f"  - {item}" for item in report.stale]
    failed = report.failed_metrics
    if failed:
        lines += [
            f"- **FAIL**: {len(failed)} of {len(report.metrics)} metrics outside tolerance:",
            "",
            "| metric | committed | reproduced | difference | tolerance |",
            "|---|---:|---:|---:|---:|",
        ]
        for m in failed:
            diff = "" if m.difference is None else f"{m.difference:+.6g}"
            cells = [f"`{m.metric}`", _cell(m.committed), _cell(m.reproduced), diff]
            lines.append("| " + " | ".join([*cells, f"{m.tolerance:g}"]) + " |")
        lines.append("")
    else:
        exact = sum(1 for m in report.metrics if m.difference in (None, 0.0))
        lines.append(
            f"- Metrics: all {len(report.metrics)} agree ({exact} exactly, the others "
            "within their tolerance)."
            if exact != len(report.metrics)
            else f"- Metrics: all {len(report.metrics)} are identical."
        )
    if report.not_reproduced:
        lines.append(
            "- **FAIL**: outputs that must be identical on every machine differ "
            "(`reproduce.drift` in gate.yaml lists those that may):"
        )
        lines += [f"  - {item}" for item in report.not_reproduced]
    if report.drift:
        lines.append("- Machine drift (bytes differ, every metric agrees; allowed):")
        lines += [f"  - {item}" for item in report.drift]
    elif not report.not_reproduced:
        lines.append("- Every output is byte for byte the committed one.")
    if report.unclean:
        lines.append(
            "- **FAIL**: the workspace is not a finished reproduction (run `dvc repro` "
            "first); `dvc status` says:"
        )
        lines += [f"  - {item}" for item in report.unclean]
    lines += ["", "**PASS**: reproduced." if report.passed else "**FAIL**: not reproduced."]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"{value:.6g}" if _is_number(value) else str(value)
