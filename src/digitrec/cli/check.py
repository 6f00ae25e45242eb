"""``digitrec check``: a CI regression gate on the metrics, against a git revision.

Registered in :mod:`digitrec.cli.app` with ``app.command("check")(check)``. The logic lives in
:mod:`digitrec.gate.rules`; this module does the I/O: git (resolving, and in a shallow clone
fetching, the baseline revision), DVC (the metrics on both sides, ``dvc status``).

Exit status: 0 every rule holds and the pipeline is up to date; 1 the gate failed (a rule,
a missing metric, a stale ``dvc.lock``); 2 the check could not run (bad rules file, unknown
revision, DVC error).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from digitrec.cli import interruptible
from digitrec.gate import reproduction
from digitrec.gate import rules as gate_rules

DEFAULT_RULES = Path("gate.yaml")
ANCESTRY = re.compile(r"^(?P<base>.+?)(?P<steps>(?:~\d*|\^\d*)+)$")


class CheckError(Exception):
    """The check could not run; the message says what to do."""


@interruptible("check")
def check(
    against: Annotated[
        str | None,
        typer.Option(
            help="git revision to compare with (branch, tag, HEAD~1 ...); "
            "default: main, or HEAD with --reproduced",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        Path,
        typer.Option(help="rules file (relative: to the current directory or the project)"),
    ] = DEFAULT_RULES,
    no_status: Annotated[
        bool,
        typer.Option("--no-status", help="do not fail when `dvc status` is not clean"),
    ] = False,
    reproduced: Annotated[
        bool,
        typer.Option(
            "--reproduced",
            help="after `dvc repro` in a clean clone: check that it reproduced the dvc.lock "
            "and metrics committed at --against (HEAD), following the reproducibility "
            "contract in the rules file",
        ),
    ] = False,
) -> None:
    """Fail if a metric got worse than at a git revision, or broke its absolute limit.

    Compares the workspace metrics with the committed metrics of --against, following the
    rules file (gate.yaml), and prints a Markdown table. Also fails when `dvc status` says
    dvc.lock and the metrics are not what the code and params produce (unless --no-status).

    With --reproduced, checks a fresh `dvc repro` against the commit instead: a stage whose
    command, params or code differ from the committed dvc.lock fails (the commit is stale),
    so does a metric outside its tolerance; outputs whose bytes differ while the metrics
    agree are listed as machine drift, and pass where the contract allows it.
    """
    try:
        if reproduced:
            result = run_reproduced(against or "HEAD", rules)
            typer.echo(reproduction.render_markdown(result), nl=False)
            passed = result.passed
        else:
            report = run_check(against or "main", rules, check_status=not no_status)
            typer.echo(gate_rules.render_markdown(report), nl=False)
            passed = report.passed
    except (CheckError, gate_rules.RulesError, reproduction.ContractError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not passed:
        raise typer.Exit(1)


def run_check(against: str, rules_path: Path, check_status: bool = True) -> gate_rules.Report:
    """Everything ``check`` does except printing; raises CheckError or RulesError."""
    root = project_root()
    rules = gate_rules.load_rules(_read_rules(rules_path, root), str(rules_path))
    files = list(dict.fromkeys(rule.path for rule in rules))
    require_workspace_metrics(root, files)
    with contextlib.chdir(root):  # DVC reads metrics paths relative to the current directory
        baseline = resolve_baseline(root, against)
        current = {path: read_metrics(root, path, rev=None) for path in files}
        notes = list(baseline.notes)
        before = None
        if baseline.commit is not None:
            before = {path: read_metrics(root, path, rev=baseline.commit) for path in files}
            absent = [f"`{path}`" for path, data in before.items() if data is None]
            if absent and len(absent) == len(files):
                notes.append(
                    f"No baseline: `{against}` has no {', '.join(absent)}; "
                    "only the absolute limits (min/max) were checked."
                )
            elif absent:
                notes.append(
                    f"No baseline for {', '.join(absent)} (not in `{against}`): only the "
                    "absolute limits (min/max) were checked for its metrics."
                )
        outcomes = gate_rules.compare(rules, current, before, baseline_name=f"`{against}`")
        status = pipeline_status(root) if check_status else None
    return gate_rules.Report(against, baseline.commit, outcomes, notes, status)


def run_reproduced(against: str, rules_path: Path) -> reproduction.Report:
    """Everything ``check --reproduced`` does except printing."""
    root = project_root()
    source = str(rules_path)
    data = gate_rules.parse_yaml(_read_rules(rules_path, root), source)
    gate_rules.parse_rules(data, source)  # the whole file is valid, not only the contract
    contract = reproduction.parse_contract(data.get("reproduce"), source)
    with contextlib.chdir(root):
        baseline = resolve_baseline(root, against)
        if baseline.commit is None:
            raise CheckError(f"revision {against!r} does not exist: nothing to compare with")
        shown = git(root, "show", f"{baseline.commit}:dvc.lock")
        if shown.returncode != 0:
            raise CheckError(f"{against} has no dvc.lock: nothing to compare with")
        lock_path = root / "dvc.lock"
        if not lock_path.is_file():
            raise CheckError("the workspace has no dvc.lock: run `dvc repro` first")
        committed_lock = _yaml(shown.stdout, f"{against}:dvc.lock")
        reproduced_lock = _yaml(lock_path.read_text(), "dvc.lock")
        files = metrics_files(root)
        committed = {path: read_metrics(root, path, rev=baseline.commit) for path in files}
        current = {path: read_metrics(root, path, rev=None) for path in files}
        status = pipeline_status(root)
    report = reproduction.compare(
        committed_lock, reproduced_lock, committed, current, contract, against, baseline.commit
    )
    report.unclean = status.stale + status.absent
    return report


def metrics_files(root: Path) -> list[str]:
    """The metrics files that dvc.yaml's stages declare, in file order."""
    pipeline = _yaml((root / "dvc.yaml").read_text(), "dvc.yaml")
    files = []
    for stage in (pipeline.get("stages") or {}).values():
        for entry in stage.get("metrics") or []:
            files.append(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return files


def _yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CheckError(f"{source} is not valid YAML: {exc}") from None


def require_workspace_metrics(root: Path, files: list[str]) -> None:
    """Every metrics file the rules read is in the workspace, else CheckError saying so."""
    missing = [path for path in files if not (root / path).is_file()]
    if missing:
        raise CheckError(
            f"the workspace has no {', '.join(missing)} (in {root}): produce "
            f"{'it' if len(missing) == 1 else 'them'} with `dvc repro` (or `dvc pull` when "
            "a remote holds the outputs), then run the check again"
        )


def project_root() -> Path:
    """The DVC project containing the current directory."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Path(Repo.find_root())
    except NotDvcRepoError:
        raise CheckError("not inside a DVC project (no .dvc directory found)") from None


def _read_rules(path: Path, root: Path) -> str:
    candidates = [path] if path.is_absolute() else [path, root / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text()
    where = " or ".join(str(c) for c in dict.fromkeys(candidates))
    raise CheckError(f"rules file {where} not found")


# --- git ------------------------------------------------------------------------------


@dataclass
class Baseline:
    commit: str | None  # None: the revision does not exist (e.g. HEAD~1 of a first commit)
    notes: list[str]


def git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def rev_parse(root: Path, rev: str) -> str | None:
    result = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    return result.stdout.strip() if result.returncode == 0 else None


def resolve_baseline(root: Path, rev: str) -> Baseline:
    """The commit of ``rev``, fetching it from ``origin`` when the clone lacks it.

    ``main`` falls back to ``origin/main`` when there is no local branch of that name. In a
    shallow CI clone, ``HEAD~N`` deepens the history by N commits, and a branch, tag or
    commit is fetched with ``git fetch --depth=1 origin <rev>``. A ``HEAD~N`` that does not
    exist in a complete history (a first commit) means there is no baseline yet.
    """
    if git(root, "rev-parse", "--git-dir").returncode != 0:
        raise CheckError(f"{root} is not in a git repository")
    commit = rev_parse(root, rev)
    if commit:
        return Baseline(commit, [])
    ancestry = ANCESTRY.match(rev)
    base, steps = (ancestry["base"], ancestry["steps"]) if ancestry else (rev, "")
    tracking = f"refs/remotes/origin/{base}"
    if not base.startswith(("origin/", "refs/")) and rev_parse(root, tracking):
        commit = rev_parse(root, tracking + steps)
        if commit:
            return Baseline(commit, [f"`{rev}` is not a local branch: used `origin/{rev}`."])

    has_origin = git(root, "remote", "get-url", "origin").returncode == 0
    shallow = _is_shallow(root)
    failures: list[str] = []
    if has_origin and ancestry and shallow and rev_parse(root, base):
        depth = _generations(steps)
        result = git(root, "fetch", "--quiet", f"--deepen={depth}", "origin")
        failures.append(result.stderr.strip() if result.returncode else "")
        commit = rev_parse(root, rev)
        shallow = _is_shallow(root)
        if commit:
            return Baseline(commit, [f"Deepened the shallow clone by {depth} commit(s)."])
    elif has_origin and not ancestry:
        name = rev.removeprefix("refs/remotes/").removeprefix("origin/")
        refspec = name if name == rev else f"+refs/heads/{name}:refs/remotes/origin/{name}"
        depth_args = ["--depth=1"] if shallow else []
        result = git(root, "fetch", "--quiet", *depth_args, "origin", refspec)
        failures.append(result.stderr.strip() if result.returncode else "")
        if result.returncode == 0:
            commit = rev_parse(root, rev) or rev_parse(root, "FETCH_HEAD")
            if commit:
                return Baseline(commit, [f"Fetched `{rev}` from origin."])
    if ancestry and not shallow and rev_parse(root, base):
        note = (
            f"No baseline: `{rev}` does not exist (`{base}` has no such ancestor: a first "
            "commit?); only the absolute limits (min/max) were checked."
        )
        return Baseline(None, [note])
    hint = (
        f"git fetch --deepen={_generations(steps)} origin"
        if ancestry
        else f"git fetch --depth=1 origin {rev.removeprefix('origin/')}"
    )
    why = "; ".join(f for f in failures if f)
    raise CheckError(
        f"revision {rev!r} not found in this clone"
        + (f" and fetching it from origin failed ({why})" if why else "")
        + ("" if has_origin else " (no remote 'origin' to fetch it from)")
        + f"; fetch it first, e.g.: {hint}"
    )


def _is_shallow(root: Path) -> bool:
    return git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"


def _generations(steps: str) -> int:
    total = 0
    for match in re.finditer(r"([~^])(\d*)", steps):
        kind, n = match.groups()
        total += int(n or 1) if kind == "~" else 1
    return max(total, 1)


# --- dvc ------------------------------------------------------------------------------


def read_metrics(root: Path, path: str, rev: str | None) -> dict[str, Any] | None:
    """The metrics in ``path`` at ``rev`` (None: the workspace), read through DVC; None
    when the file does not exist there."""
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        return dvc.api.metrics_show(path, repo=str(root), rev=rev)
    except FileNotFoundError:
        return None
    except DvcException as exc:
        where = "the workspace" if rev is None else rev
        raise CheckError(f"cannot read {path} in {where}: {exc}") from None


def pipeline_status(root: Path) -> gate_rules.PipelineStatus:
    """What ``dvc status --json`` reports (run in-process), sorted into stale and absent."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo, lock_repo

    try:
        with Repo(str(root)) as repo, lock_repo(repo):
            status = repo.status()
    except DvcException as exc:
        raise CheckError(f"dvc status failed: {exc}") from None
    return gate_rules.summarize_status(status)
