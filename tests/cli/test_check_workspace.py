"""`digitrec check` without the workspace's metrics file blames the workspace, not the
baseline revision, and says how to produce the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DIGITREC = Path(sys.executable).with_name("digitrec")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_a_missing_workspace_metrics_file_is_named(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "ci")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "evaluate.json").write_text('{"accuracy": 0.9}\n')
    rules = tmp_path / "gate.yaml"
    rules.write_text(
        "metrics:\n  metrics/evaluate.json:accuracy: {direction: higher, max_drop: 0.01}\n"
    )
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "first")
    (tmp_path / "NOTES").write_text("x\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "second")
    (tmp_path / "metrics" / "evaluate.json").unlink()  # as if never reproduced here
    result = subprocess.run(
        [str(DIGITREC), "check", "--against", "HEAD~1", "--no-status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the workspace has no metrics/evaluate.json" in result.stderr
    assert "`dvc repro`" in result.stderr
    assert "HEAD~1" not in result.stderr + result.stdout
