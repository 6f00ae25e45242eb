"""One registry of the DIGITREC_* variables; unknown ones are named, with the closest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from digitrec import env
from digitrec.serve.settings import variables

ROOT = Path(__file__).parents[1]
DIGITREC = Path(sys.executable).with_name("digitrec")


NAME = r"DIGITREC_[A-Z0-9_]*[A-Z0-9]"
READ = re.compile(rf"""(?:environ\.get\(|environ\[|getenv\()\s*["']({NAME})["']""")


def test_every_variable_the_project_mentions_is_registered():
    """Everything the code, CI and README mention, and every variable a test reads
    (tests also set misspelt ones on purpose)."""
    mentioned = set(re.findall(rf"\b{NAME}\b", (ROOT / "README.md").read_text()))
    for folder in ("src", "bench", "scripts", ".ci", ".github", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".yml", ".yaml", ".md", ""}:
                text = path.read_text(errors="replace")
                found = READ.findall(text) if folder == "tests" else re.findall(NAME, text)
                mentioned |= set(found)
    prefixes = {env.PREFIX.rstrip("_"), env.SERVE_PREFIX.rstrip("_")}
    assert sorted(mentioned - set(env.known(variables())) - prefixes) == []


def test_unknown_variables_name_the_closest():
    lines = env.unknown(
        {"DIGITREC_MIRROR": "x", "DIGITREC_CACHE": "y", "DIGITREC_SERVE_TIMEOUT_HEADER": "1"},
        variables(),
    )
    assert lines == [
        "DIGITREC_MIRROR is not a digitrec variable; did you mean DIGITREC_MIRRORS?",
        "DIGITREC_SERVE_TIMEOUT_HEADER is not a digitrec variable; "
        "did you mean DIGITREC_SERVE_TIMEOUT_HEAD?",
    ]


def test_the_stages_leave_serve_variables_to_serve():
    assert env.unknown({"DIGITREC_SERVE_TIMEOUT_HEADER": "1", "DIGITREC_CAHCE": "x"}) == [
        "DIGITREC_CAHCE is not a digitrec variable; did you mean DIGITREC_CACHE?"
    ]


def test_the_cli_warns_about_a_misspelt_variable(tmp_path):
    result = subprocess.run(
        [str(DIGITREC), "predict", str(tmp_path), "--model", str(tmp_path / "none.skops")],
        capture_output=True,
        text=True,
        env={**os.environ, "DIGITREC_MIRORS": "/srv/mirror"},
    )
    assert (
        "warning: DIGITREC_MIRORS is not a digitrec variable; did you mean DIGITREC_MIRRORS?"
        in (result.stderr)
    )


def test_a_stage_warns_about_a_misspelt_variable(tmp_path):
    (tmp_path / "params.yaml").write_text("fetch:\n  dataset: digits\n  limit: 100\n")
    result = subprocess.run(
        [sys.executable, "-m", "digitrec.stages.fetch"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "DIGITREC_CAHCE": "/tmp/x"},
    )
    assert result.returncode == 0, result.stderr
    assert "did you mean DIGITREC_CACHE?" in result.stderr
