"""dvc.yaml's code deps are complete: every module a stage's command imports is a dep.

The imports are read from the source by the ``stage_code_files`` fixture (tests/conftest.py),
so a module that a stage imports only on some params still counts. The end-to-end proof
that DVC then notices an edit is in tests/test_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Code that no stage may depend on: editing it must re-run nothing.
NEVER_DEPS = ("src/digitrec/serve", "src/digitrec/cli")


def code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith("src/")]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_imported_module_is_a_dep(name, stage_code_files):
    stage = STAGES[name]
    files = stage_code_files[name]
    missing = sorted(f for f in files if not covered(f, code_deps(stage)))
    assert not missing, (
        f"dvc.yaml: stage {name!r} runs these files but does not list them in its deps: {missing}"
    )


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_code_dep_is_imported(name, stage_code_files):
    """No dep is listed that the stage never runs: an edit there would re-run it for
    nothing (and serve/ and the CLI are never deps)."""
    stage = STAGES[name]
    files = stage_code_files[name]
    unused = [d for d in code_deps(stage) if not any(covered(f, [d]) for f in files)]
    assert not unused, f"dvc.yaml: stage {name!r} lists deps it never imports: {unused}"
    assert not [d for d in code_deps(stage) if d.startswith(NEVER_DEPS)]


def test_the_import_walk_finds_function_level_and_relative_imports(stage_code_files):
    """The walk itself: stages/__init__ imports digitrec.errors inside the package, and
    the train stage reaches the virtual-SV code only through models.py."""
    assert "src/digitrec/errors.py" in stage_code_files["fetch"]
    train = stage_code_files["train"]
    assert {"src/digitrec/models/virtual.py", "src/digitrec/kernels/_hog.py"} <= train
    assert not any(f.startswith(NEVER_DEPS) for f in train)
