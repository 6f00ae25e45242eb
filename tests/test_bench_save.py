"""The benchmarks' --save: their figures as JSON, with when, where and on what they ran."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def load(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import _common as run from bench/
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_the_commit_is_head_and_dirty_only_when_a_tracked_file_differs(tmp_path, monkeypatch):
    common = load("_common", monkeypatch)
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a\n")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-qm", "a")
    head = git(tmp_path, "rev-parse", "HEAD").strip()
    assert common.provenance(tmp_path)["commit"] == head
    (tmp_path / "results.json").write_text("{}\n")  # untracked: new figures, not new code
    assert common.provenance(tmp_path)["commit"] == head
    (tmp_path / "a.txt").write_text("b\n")
    assert common.provenance(tmp_path)["commit"] == head + "-dirty"


@pytest.mark.parametrize("name", ["hog", "deskew"])
def test_save_writes_the_figures_and_their_provenance(name, tmp_path, monkeypatch):
    bench = load(name, monkeypatch)
    out = tmp_path / "results" / f"{name}.json"
    argv = ["--n", "6", "--n-ref", "3", "--repeats", "1", "--mnist-dir", str(tmp_path)]
    before = datetime.now(UTC).replace(microsecond=0)
    assert bench.main([*argv, "--save", str(out)]) == 0

    text = out.read_text(encoding="utf-8")
    record = json.loads(text)
    assert text == json.dumps(record, indent=2, sort_keys=True) + "\n"  # sorted, stable
    assert record["benchmark"] == name
    assert record["command"] == " ".join(["python", f"bench/{name}.py", *argv, "--save", str(out)])
    assert record["settings"] == {"repeats": 1, "threads": 1}
    # MNIST is absent from tmp_path: random 28x28 images, then scikit-learn's digits
    assert {r["dataset"] for r in record["results"]} == {"random 28x28", "scikit-learn digits"}
    for r in record["results"]:
        assert r["images"] == 6 and r["reference_images"] == 3
        assert r["digitrec_us_per_image"] > 0 and r["reference_us_per_image"] > 0
        ratio = r["reference_us_per_image"] / r["digitrec_us_per_image"]
        assert r["speedup"] == pytest.approx(ratio, rel=0.01)
        assert r["max_abs_diff"] < 1e-6

    provenance = record["provenance"]
    measured = datetime.strptime(provenance["measured_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert before <= measured.replace(tzinfo=UTC) <= datetime.now(UTC)
    head = git(ROOT, "rev-parse", "HEAD").strip()
    assert provenance["commit"] in (head, head + "-dirty")
    assert len(provenance["load_average"]) == 3
    assert all(x >= 0 for x in provenance["load_average"])
    machine = provenance["machine"]
    assert machine["cores"] == os.cpu_count()
    assert machine["cpu"] and machine["python"] and machine["packages"]["numpy"]
    assert machine["blas"] and all(b["api"] for b in machine["blas"])


def test_save_without_a_path_writes_bench_results(monkeypatch):
    common = load("_common", monkeypatch)
    parser = argparse.ArgumentParser()
    common.add_save_option(parser, "hog")
    assert parser.parse_args([]).save is None
    assert parser.parse_args(["--save"]).save == BENCH / "results" / "hog.json"
    assert parser.parse_args(["--save", "x.json"]).save == Path("x.json")
