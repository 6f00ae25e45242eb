"""dvc.yaml's code deps are complete: every module a stage's command imports is a dep.

The imports are read from the source (every ``import`` statement, module-level or inside a
function, followed transitively), so a module that a stage imports only on some params
still counts. The end-to-end proof that DVC then notices an edit is in tests/test_e2e.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
# Code that no stage may depend on: editing it must re-run nothing.
NEVER_DEPS = ("src/digitrec/serve", "src/digitrec/cli")


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` under src/, or None (a name inside a module)."""
    path = SRC / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def imported_modules(name: str) -> set[str]:
    """The ``digitrec`` modules that module ``name``'s source imports anywhere."""
    source = module_file(name)
    assert source is not None, name
    package = name if source.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{node.module}" if node.module else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
    return {m for m in found if m.split(".")[0] == "digitrec" and module_file(m)}


def code_files(module: str) -> set[str]:
    """Every source file that importing and running ``module`` may execute: its imports,
    transitively, and the packages that contain each of them."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        todo += imported_modules(name)
    return {module_file(name).relative_to(ROOT).as_posix() for name in seen}


def stage_module(stage: dict) -> str:
    cmd = stage["cmd"]
    assert cmd.startswith("PYTHONPATH=src python -m "), cmd
    return cmd.split()[-1]


def code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith("src/")]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_imported_module_is_a_dep(name):
    stage = STAGES[name]
    files = code_files(stage_module(stage))
    missing = sorted(f for f in files if not covered(f, code_deps(stage)))
    assert not missing, (
        f"dvc.yaml: stage {name!r} runs these files but does not list them in its deps: "
        f"{missing}"
    )


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_code_dep_is_imported(name):
    """No dep is listed that the stage never runs: an edit there would re-run it for
    nothing (and serve/ and the CLI are never deps)."""
    stage = STAGES[name]
    files = code_files(stage_module(stage))
    unused = [d for d in code_deps(stage) if not any(covered(f, [d]) for f in files)]
    assert not unused, f"dvc.yaml: stage {name!r} lists deps it never imports: {unused}"
    assert not [d for d in code_deps(stage) if d.startswith(NEVER_DEPS)]


def test_the_import_walk_finds_function_level_and_relative_imports():
    """The walk itself: stages/__init__ imports digitrec.errors inside the package, and
    the train stage reaches the virtual-SV code only through models.py."""
    assert "src/digitrec/errors.py" in code_files("digitrec.stages.fetch")
    train = code_files("digitrec.stages.train")
    assert {"src/digitrec/virtual.py", "src/digitrec/kernels/_hog.py"} <= train
    assert not any(f.startswith(NEVER_DEPS) for f in train)
