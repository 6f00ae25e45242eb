"""`digitrec check` end to end: real git commits, a real `dvc repro`, a shallow CI clone.

One repository is reproduced once for the module (~20 s); each test works on its own branch
of it, cut from `main` (the reproduced default pipeline).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# `digitrec check` as the CLI registers it, without depending on cli.py.
CHECK_APP = (
    "import typer; from digitrec.cli.check import check; "
    "app = typer.Typer(add_completion=False); app.command()(check); app()"
)
EVAL = "metrics/evaluate.json"

pytestmark = pytest.mark.e2e


class Repo:
    """A git + DVC repository holding a copy of the project."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self.env = env
        self.outputs_lock = None  # the dvc.lock the DVC outputs in the workspace match

    def repro(self) -> None:
        self.dvc("repro")
        self.outputs_lock = (self.path / "dvc.lock").read_text()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def git(self, *args: str) -> str:
        return self.run("git", *args).stdout.strip()

    def dvc(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args)

    def check(self, *args: str, cwd: str = ".") -> subprocess.CompletedProcess:
        """`digitrec check ARGS` run in ``cwd``; the exit status is the caller's to assert."""
        return subprocess.run(
            [sys.executable, "-c", CHECK_APP, *args],
            cwd=self.path / cwd,
            env=self.env,
            capture_output=True,
            text=True,
        )

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def branch(self, name: str, start: str = "main") -> None:
        """A fresh branch at ``start`` with its DVC outputs in the workspace."""
        self.git("checkout", "-q", "-f", "-B", name, start)
        self.git("clean", "-q", "-f", "-d")
        lock = (self.path / "dvc.lock").read_text()
        if lock != self.outputs_lock:  # `dvc checkout` only when the outputs differ
            self.dvc("checkout", "--force")
            self.outputs_lock = lock

    def metrics(self) -> dict:
        return json.loads((self.path / EVAL).read_text())

    def set_params(self, **sections) -> None:
        params = yaml.safe_load((self.path / "params.yaml").read_text())
        for section, values in sections.items():
            params[section].update(values)
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory, scratch_project) -> Repo:
    """`main`: a commit of the project without metrics, then the reproduced pipeline."""
    path = tmp_path_factory.mktemp("project")
    repo = Repo(path, scratch_project(path, tmp_path_factory.mktemp("cache")))
    repo.git("init", "-q", "-b", "main")
    repo.commit("project")
    repo.repro()
    repo.commit("reproduce")
    return repo


def row(output: str, key: str) -> list[str]:
    """The cells of the table row for ``metrics/evaluate.json:<key>``."""
    for line in output.splitlines():
        if line.startswith(f"| `{EVAL}:{key}` |"):
            return [cell.strip() for cell in line.strip("|").split(" | ")]
    raise AssertionError(f"no row for {key} in:\n{output}")


def test_a_commit_that_keeps_the_accuracy_passes(project):
    project.branch("keep")
    before = project.metrics()
    project.set_params(evaluate={"max_misclassified": 16})
    project.repro()
    project.commit("fewer misclassified images in the gallery")
    assert project.metrics() == before

    result = project.check("--against", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    accuracy = f"{before['accuracy']:.6g}"
    assert row(result.stdout, "accuracy") == [
        f"`{EVAL}:accuracy`",
        accuracy,
        accuracy,
        "+0",
        "higher is better; >= 0.985; drop <= 0.005",
        "pass",
    ]
    assert "Pipeline: up to date" in result.stdout
    # evaluate's accuracy and F1, robustness's mean corruption error on both paths
    assert "| `metrics/robustness.json:mean_corruption_error.normalized` |" in result.stdout
    assert result.stdout.rstrip().endswith("**PASS**: 4 of 4 rules hold.")
    # the same from a subdirectory: the rules and metrics are found at the project's top
    assert project.check("--against", "main", cwd="src").stdout == result.stdout


def test_a_commit_that_lowers_the_accuracy_fails(project):
    project.branch("worse")
    project.set_params(train={"model": "logreg"})  # logistic regression: ~0.98, below 0.985
    project.repro()
    project.commit("logistic regression")

    result = project.check("--against", "main")
    assert result.returncode == 1, result.stdout + result.stderr
    diff = json.loads(project.dvc("metrics", "diff", "main", "--json").stdout)[EVAL]["accuracy"]
    assert diff["new"] < diff["old"] - 0.005  # a real drop, as DVC sees it
    cells = row(result.stdout, "accuracy")
    assert cells[1:4] == [f"{diff['old']:.6g}", f"{diff['new']:.6g}", f"{diff['diff']:+.6g}"]
    assert cells[5].startswith("**FAIL**: below min 0.985; dropped ")
    assert "Pipeline: up to date" in result.stdout  # the commit carries its metrics
    # logistic regression also raises the mean corruption error of both paths past 0.005
    assert "**FAIL**: 4 of 4 rules failed." in result.stdout


def test_a_stale_lock_fails_unless_status_is_skipped(project):
    project.branch("stale")
    project.set_params(train={"model": "knn"})
    project.commit("k-NN, without running the pipeline")

    result = project.check("--against", "main")
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(result.stdout, "accuracy")[-1] == "pass"  # the committed metrics are unchanged
    assert "`dvc.lock` and the metrics are stale: run `dvc repro`" in result.stdout
    assert "train: changed deps: modified params.yaml (train modified)" in result.stdout
    assert "**FAIL**: the pipeline is not up to date." in result.stdout

    skipped = project.check("--against", "main", "--no-status")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "Pipeline status not checked (`--no-status`)" in skipped.stdout


def test_a_metric_missing_on_either_side_fails(project, tmp_path):
    # a baseline whose metrics file lacks f1_macro
    project.branch("old-metrics")
    metrics = project.metrics()
    del metrics["f1_macro"]
    (project.path / EVAL).write_text(json.dumps(metrics))
    project.commit("metrics without f1_macro")
    project.branch("main-copy")
    result = project.check("--against", "old-metrics")
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(result.stdout, "f1_macro")[1:3] == [
        "missing",
        f"{project.metrics()['f1_macro']:.6g}",
    ]
    assert "f1_macro missing at `old-metrics`" in result.stdout
    assert row(result.stdout, "accuracy")[-1] == "pass"

    # a rule for a metric the pipeline does not produce
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"metrics:\n  {EVAL}:top3_accuracy: {{direction: higher, min: 0.9}}\n")
    result = project.check("--against", "main", "--rules", str(rules))
    assert result.returncode == 1
    assert "**FAIL**: top3_accuracy missing in the workspace; top3_accuracy missing at `main`" in (
        result.stdout
    )

    # a broken rules file stops the check before anything is compared
    rules.write_text(f"metrics:\n  {EVAL}:accuracy: {{direction: up}}\n")
    result = project.check("--against", "main", "--rules", str(rules))
    assert result.returncode == 2 and result.stdout == ""
    assert "accuracy.direction = 'up': must be 'higher' or 'lower'" in result.stderr


def test_no_baseline_yet_checks_only_the_floors(project, tmp_path):
    project.branch("no-baseline")
    first = project.git("rev-list", "--max-parents=0", "HEAD")  # the commit without metrics
    result = project.check("--against", first)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"No baseline: `{first}` has no `{EVAL}`" in result.stdout
    now = json.loads((project.path / EVAL).read_text())["accuracy"]
    assert row(result.stdout, "accuracy")[1:4] == ["no baseline", f"{now:.6g}", ""]

    strict = tmp_path / "strict.yaml"  # the floors still apply without a baseline
    floor = round(now + 0.001, 6)
    strict.write_text(f"metrics:\n  {EVAL}:accuracy: {{direction: higher, min: {floor}}}\n")
    result = project.check("--against", first, "--rules", str(strict))
    assert result.returncode == 1
    assert row(result.stdout, "accuracy")[-1] == f"**FAIL**: below min {floor:g}"

    # a first commit: HEAD~1 does not exist at all
    project.git("checkout", "-q", "--orphan", "first-commit")
    project.commit("the project, reproduced, as a first commit")
    result = project.check("--against", "HEAD~1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No baseline: `HEAD~1` does not exist" in result.stdout


def test_a_shallow_ci_clone_fetches_the_baseline(project, tmp_path):
    project.branch("feature")
    (project.path / "NOTES.md").write_text("a change that does not touch the pipeline\n")
    project.commit("notes")
    clone = Repo(tmp_path / "clone", project.env)
    project.run(
        "git",
        "clone",
        "-q",
        "--depth=1",
        "--single-branch",
        "--branch",
        "feature",
        f"file://{project.path}",
        str(clone.path),
    )
    clone.dvc("config", "--local", "cache.dir", str(project.path / ".dvc/cache"))
    clone.dvc("checkout")  # what `dvc pull` or `dvc repro` gives a CI run
    assert clone.run("git", "rev-parse", "--verify", "-q", "main", check=False).returncode != 0

    result = clone.check("--against", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fetched `main` from origin." in result.stdout
    assert f"against `main` ({project.git('rev-parse', 'main')[:7]})" in result.stdout

    result = clone.check("--against", "HEAD~1")  # a push: the parent is not in the clone
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deepened the shallow clone by 1 commit(s)." in result.stdout

    result = clone.check("--against", "origin/no-such-branch")
    assert result.returncode == 2
    assert "revision 'origin/no-such-branch' not found" in result.stderr
    assert "git fetch --depth=1 origin no-such-branch" in result.stderr


# --- check --reproduced: a fresh `dvc repro` against the committed dvc.lock and metrics ---


def test_reproduced_on_another_machine_passes_and_lists_the_drift(project):
    """The commit was made on a CPU whose BLAS kernels gave other model bytes: its lock
    records other hashes for the model, which this machine's reproduction cannot match."""
    project.branch("other-cpu")
    reproduced = (project.path / "dvc.lock").read_text()
    lock = yaml.safe_load(reproduced)
    fake = {}
    for stage in lock["stages"].values():
        for item in stage.get("deps", []) + stage.get("outs", []):
            if item["path"].startswith("models/model."):
                item["md5"] = fake.setdefault(item["path"], f"{len(fake) + 1:032x}")
    (project.path / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    project.commit("reproduced on another CPU")
    (project.path / "dvc.lock").write_text(reproduced)  # what `dvc repro` writes here

    result = project.check("--reproduced")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Machine drift (bytes differ, every metric agrees; allowed):" in result.stdout
    for path in ["models/model.joblib", "models/model.sha256", "models/model.skops"]:
        assert f"  - train: {path}\n" in result.stdout
    assert "**PASS**: reproduced." in result.stdout
    (project.path / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def test_reproduced_fails_on_a_commit_with_an_unreproduced_change(project):
    project.branch("stale-commit")
    project.set_params(evaluate={"max_misclassified": 16})
    with (project.path / "src/digitrec/evaluation/metrics.py").open("a") as source:
        source.write("# an edit committed without running the pipeline\n")
    project.commit("an edit, without `dvc repro`")
    project.repro()  # what a clean clone of the commit does

    result = project.check("--reproduced")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "**FAIL**: the commit is stale" in result.stdout
    assert "  - evaluate: param evaluate.max_misclassified: 64 -> 16\n" in result.stdout
    assert "  - evaluate: dependency src/digitrec/evaluation/metrics.py changed" in result.stdout
    assert "**FAIL**: not reproduced." in result.stdout


def test_reproduced_fails_on_metrics_outside_their_tolerance(project, tmp_path):
    project.branch("other-metrics")
    real = (project.path / EVAL).read_text()
    committed = json.loads(real)
    committed["accuracy"] = round(committed["accuracy"] - 0.01, 6)
    (project.path / EVAL).write_text(json.dumps(committed, indent=2, sort_keys=True))
    project.commit("metrics that the code does not produce")
    (project.path / EVAL).write_text(real)  # what `dvc repro` writes here

    result = project.check("--reproduced")
    assert result.returncode == 1, result.stdout + result.stderr
    now = json.loads(real)["accuracy"]
    assert "**FAIL**: 1 of " in result.stdout and " metrics outside tolerance:" in result.stdout
    assert (
        f"| `{EVAL}:accuracy` | {committed['accuracy']:.6g} | {now:.6g} | +0.01 | 0 |"
        in result.stdout
    )

    rules = yaml.safe_load((project.path / "gate.yaml").read_text())
    rules["reproduce"]["tolerance"] = {f"{EVAL}:accuracy": 0.02}
    loose = tmp_path / "loose.yaml"
    loose.write_text(yaml.safe_dump(rules))
    result = project.check("--reproduced", "--rules", str(loose))
    assert result.returncode == 0, result.stdout + result.stderr
    (project.path / EVAL).write_text(json.dumps(committed, indent=2, sort_keys=True))
