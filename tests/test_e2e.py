"""End to end: the real `dvc repro` in a temporary git repository holding the project."""

from __future__ import annotations

import functools
import http.server
import json
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from digitrec.gate import reproduction

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


class Repo:
    """A throwaway git + DVC repository holding a copy of the project."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def metrics(self) -> dict:
        return json.loads((self.path / "metrics/evaluate.json").read_text())

    def set_params(self, **sections) -> None:
        params = yaml.safe_load((self.path / "params.yaml").read_text())
        for section, values in sections.items():
            params[section].update(values)
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def lock_entries(path: Path) -> dict[str, object]:
    """Every (stage, dep/out path) of a dvc.lock with its recorded hash or params."""
    entries = {}
    for name, stage in yaml.safe_load(path.read_text())["stages"].items():
        entries[f"{name}: cmd"] = stage["cmd"]
        for kind in ("deps", "outs"):
            for item in stage.get(kind, []):
                entries[f"{name}: {kind} {item['path']}"] = item.get("md5")
        entries[f"{name}: params"] = stage.get("params")
    return entries


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def make_repo(tmp: Path, cache: Path, scratch_project) -> Repo:
    repo = Repo(tmp, scratch_project(tmp, cache))
    repo.run("git", "init", "-q", "-b", "main")
    repo.commit("project")
    return repo


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, scratch_project):
    """The project's default pipeline, reproduced once in a fresh repository."""
    repo = make_repo(
        tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("cache"), scratch_project
    )
    result = repo.dvc("repro")
    assert ran_stages(result.stdout) == [
        "fetch",
        "preprocess",
        "featurize",
        "train",
        "evaluate",
        "robustness",
        "search",
    ]
    repo.commit("reproduce")
    return repo


def test_default_pipeline_reaches_the_documented_accuracy(default_run):
    metrics = default_run.metrics()
    assert metrics["dataset"] == "digits" and metrics["n_test"] == 360
    assert metrics["accuracy"] >= 0.985
    for name in ["confusion_matrix.png", "misclassified.png", "predictions.csv"]:
        assert (default_run.path / "plots/evaluate" / name).stat().st_size > 0
    assert (default_run.path / "models/model.joblib").is_file()
    robust = json.loads((default_run.path / "metrics/robustness.json").read_text())
    assert robust["dataset"] == "digits" and robust["n_images"] == 360
    assert robust["accuracy"]["clean"]["raw"] == metrics["accuracy"]
    assert set(robust["mean_corruption_error"]) == {"raw", "normalized"}
    for name in ["accuracy.csv", "accuracy.png", "gallery.png"]:
        assert (default_run.path / "plots/robustness" / name).stat().st_size > 0


def test_committed_lock_and_metrics_are_what_repro_produces(default_run):
    """The project's own dvc.lock and metrics hold the reproducibility contract against a
    from-scratch reproduction on this machine (what `digitrec check --reproduced` checks)."""
    metrics = ["metrics/evaluate.json", "metrics/search.json", "metrics/robustness.json"]
    report = reproduction.compare(
        yaml.safe_load((ROOT / "dvc.lock").read_text()),
        yaml.safe_load((default_run.path / "dvc.lock").read_text()),
        {m: json.loads((ROOT / m).read_text()) for m in metrics},
        {m: json.loads((default_run.path / m).read_text()) for m in metrics},
        reproduction.parse_contract(yaml.safe_load((ROOT / "gate.yaml").read_text())["reproduce"]),
    )
    assert report.passed, reproduction.render_markdown(report)
    for name in ["data/raw", "data/processed"]:  # no CPU-dependent float call: exact
        assert not any(name in item for item in report.drift)


def test_editing_any_imported_module_makes_dvc_status_report_the_stage(
    default_run, stage_code_files
):
    """Every file each stage's command imports (the ``stage_code_files`` fixture) is one
    DVC watches: after an edit to all of them, `dvc status` names each for each stage."""
    repo = default_run
    imported = stage_code_files
    edited = sorted(set().union(*imported.values()))
    for path in edited:
        with (repo.path / path).open("a") as source:
            source.write("# edited\n")
    try:
        status = json.loads(repo.dvc("status", "--json").stdout)
    finally:
        repo.run("git", "checkout", "--", *edited)
    for name, files in imported.items():
        changed = [
            path
            for change in status.get(name, [])
            if isinstance(change, dict)
            for path in change.get("changed deps", {})
        ]
        unseen = sorted(
            f for f in files if not any(f == c or f.startswith(c + "/") for c in changed)
        )
        assert not unseen, f"dvc status does not report {name} for edits to {unseen}"
    assert repo.dvc("status", "--quiet", check=False).returncode == 0


def test_second_repro_runs_nothing(default_run):
    result = default_run.dvc("repro")
    assert ran_stages(result.stdout) == []
    assert default_run.dvc("status", "--quiet", check=False).returncode == 0


def test_forced_rerun_gives_identical_bytes(default_run):
    before = (default_run.path / "dvc.lock").read_text()
    shutil.rmtree(default_run.path / ".dvc/cache")
    default_run.dvc("repro", "--force")
    assert (default_run.path / "dvc.lock").read_text() == before
    default_run.run("git", "diff", "--exit-code")


def test_the_search_suggests_params_that_dvc_exp_run_applies(default_run):
    """The search's printed command brings its best candidate into params.yaml."""
    repo = default_run
    summary = json.loads((repo.path / "metrics/search.json").read_text())
    assert summary["method"] == "grid" and summary["folds"] == 5 and summary["n_train"] == 1437
    shown = json.loads(repo.dvc("metrics", "show", "--json").stdout)[""]["data"]
    assert shown["metrics/search.json"]["data"]["best_score"] == summary["best_score"]
    plots = json.loads(repo.dvc("plots", "show", "--json").stdout)["data"]
    search_plot = next(v for k, v in plots.items() if k.startswith("Hyperparameter search"))
    bars = search_plot[0]["content"]["data"]["values"]
    assert len(bars) == summary["n_candidates"]
    assert float(bars[0]["mean_test_score"]) == summary["best_score"]

    result = repo.dvc("exp", "run", "-S", "train.svc.C=1")  # away from the best
    assert ran_stages(result.stdout) == ["train", "evaluate", "robustness", "search"]
    log = result.stdout + result.stderr
    command = log.split("apply it with: ", 1)[1].splitlines()[0]
    assert command == "dvc exp run -S train.svc.C=10"
    repo.dvc(*shlex.split(command)[1:])
    # Back to the committed params (DVC rewrites 10.0 as 10), outputs and metrics.
    committed = yaml.safe_load(repo.run("git", "show", "HEAD:params.yaml").stdout)
    assert yaml.safe_load((repo.path / "params.yaml").read_text()) == committed
    assert repo.dvc("status", "--quiet", check=False).returncode == 0
    repo.run("git", "diff", "--exit-code", "metrics", "plots")
    repo.run("git", "checkout", "--", ".")


def test_a_param_change_reruns_only_what_reads_it_and_diffs_show_it(default_run):
    repo = default_run
    result = repo.dvc("exp", "run", "-S", "train.model=knn", "-S", "train.knn.n_neighbors=1")
    assert ran_stages(result.stdout) == ["train", "evaluate", "robustness", "search"]
    repo.commit("try k-NN")

    metrics = json.loads(repo.dvc("metrics", "diff", "HEAD~1", "--json").stdout)
    change = metrics["metrics/evaluate.json"]["accuracy"]
    assert change["old"] != change["new"] and change["diff"] == pytest.approx(
        change["new"] - change["old"]
    )
    params = json.loads(repo.dvc("params", "diff", "HEAD~1", "--json").stdout)["params.yaml"]
    assert params["train.model"] == {"old": "svc", "new": "knn"}
    out = repo.path / "plots_diff"
    repo.dvc("plots", "diff", "HEAD~1", "--out", str(out))
    html = (out / "index.html").read_text()
    assert "<script src=" not in html  # the offline template inlines Vega
    assert html.count("vega-embed") >= 1


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("fetch", {"dataset": "emnist"}, "fetch.dataset = 'emnist'"),
        ("preprocess", {"deskew": "sometimes"}, "preprocess.deskew = 'sometimes'"),
        ("featurize", {"method": "sift"}, "featurize.method = 'sift'"),
        ("train", {"model": "svm"}, "train.model = 'svm': input should be 'svc', 'linear_svc'"),
        ("evaluate", {"max_misclassified": -1}, "evaluate.max_misclassified = -1"),
        ("robustness", {"gallery": 0}, "robustness.gallery = 0"),
        ("search", {"folds": 1}, "search.folds = 1"),
    ],
)
def test_a_wrong_param_stops_the_stage_and_the_restore_command_loses_nothing(
    default_run, section, values, message
):
    """The README's restore command after a failed stage: `git checkout params.yaml &&
    dvc repro` brings back the last good outputs without running anything, and the model
    is one `digitrec predict` accepts."""
    repo = default_run
    before = {p: (repo.path / p).read_bytes() for p in KEPT}
    repo.set_params(**{section: values})
    result = repo.dvc("repro", check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr

    repo.run("git", "checkout", "params.yaml")
    restored = repo.dvc("repro")
    assert ran_stages(restored.stdout) == []
    assert repo.dvc("status", "--quiet", check=False).returncode == 0
    assert {p: (repo.path / p).read_bytes() for p in KEPT} == before
    digit = repo.path / "digit.png"
    Image.fromarray(load_digits().images[0].astype(np.uint8) * 15).save(digit)
    predicted = repo.run("digitrec", "predict", str(digit))
    assert predicted.stdout.startswith(f"{digit}: 0 "), predicted.stdout


KEPT = [
    "data/raw/dataset.json",
    "models/model.skops",
    "models/model.sha256",
    "models/model.joblib",
    "metrics/evaluate.json",
    "metrics/search.json",
    "plots/train/learning_curve.csv",
    "plots/evaluate/predictions.csv",
    "plots/search/leaderboard.csv",
    "metrics/robustness.json",
    "plots/robustness/accuracy.csv",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_mirror(dataset_files):
    handler = functools.partial(QuietHandler, directory=str(dataset_files))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_mnist_through_the_real_downloader(tmp_path, http_mirror, scratch_project):
    repo = make_repo(tmp_path / "project", tmp_path / "cache", scratch_project)
    repo.env["DIGITREC_MIRRORS"] = f"{http_mirror}/mnist/"
    repo.set_params(fetch={"dataset": "mnist", "limit": 2000})
    repo.set_params(
        featurize={
            "hog": {
                "pixels_per_cell": 4,
                "cells_per_block": 2,
                "orientations": 9,
                "block_norm": "L2-Hys",
            }
        }
    )
    repo.dvc("repro", "evaluate")  # the model and its metrics (not the search)
    metrics = repo.metrics()
    assert metrics["dataset"] == "mnist" and metrics["n_test"] == 2000
    assert metrics["accuracy"] > 0.85
    assert sorted(p.name for p in (tmp_path / "cache/mnist").iterdir()) == sorted(
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )


def test_optdigits_official_split_from_a_directory_mirror(tmp_path, dataset_files, scratch_project):
    repo = make_repo(tmp_path / "project", tmp_path / "cache", scratch_project)
    repo.set_params(fetch={"dataset": "optdigits", "mirrors": [str(dataset_files / "optdigits")]})
    repo.dvc("repro", "evaluate")
    info = json.loads((repo.path / "data/raw/dataset.json").read_text())
    assert (info["n_train"], info["n_test"]) == (3823, 1797)
    assert repo.metrics()["accuracy"] > 0.97


def test_a_corrupt_download_fails_cleanly_and_writes_nothing(tmp_path, scratch_project):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "optdigits.tra").write_text("0,1,2\n")
    repo = make_repo(tmp_path / "project", tmp_path / "cache", scratch_project)
    repo.set_params(fetch={"dataset": "optdigits", "mirrors": [str(mirror)]})
    result = repo.dvc("repro", check=False)
    assert result.returncode != 0
    assert "optdigits.tra" in result.stderr and "mirror" in result.stderr
    assert not (repo.path / "data/raw").exists()


def test_queued_experiments_run_and_show(default_run):
    """The README's experiment session: queue two variants, run them, compare, apply."""
    repo = default_run
    repo.dvc("exp", "run", "--queue", "-S", "train.knn.n_neighbors=5", "--name", "k5")
    repo.dvc("exp", "run", "--queue", "-S", "train.model=logreg", "--name", "logreg")
    repo.dvc("exp", "run", "--run-all")
    table = json.loads(repo.dvc("exp", "show", "--json").stdout)
    done = {
        exp["name"]: exp["data"]["metrics"]["metrics/evaluate.json"]["data"]["accuracy"]
        for commit in table
        for run in (commit.get("experiments") or [])
        for exp in run["revs"]
        if exp.get("name") in {"k5", "logreg"}
    }
    assert set(done) == {"k5", "logreg"} and all(0.9 < acc <= 1 for acc in done.values())
    repo.dvc("exp", "apply", "logreg")
    assert repo.metrics()["accuracy"] == done["logreg"]
    repo.run("git", "checkout", "--", ".")
    repo.dvc("checkout", "--force")
