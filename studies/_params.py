"""params.yaml with ``-S key=value`` overrides, as the studies take them: the values are read
as YAML, like ``dvc exp run -S``, and a wrong key or value stops the study with the params
error (naming the key, the value and what would fit)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from digitrec import params as params_module

ROOT = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``-S/--set KEY=VALUE`` (repeatable) and ``--params FILE``."""
    parser.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))


def load(args: argparse.Namespace, implied: dict[str, object] | None = None):
    """The params of ``args.params`` with ``implied`` and then ``args.set`` applied."""
    overrides = dict(implied or {})
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        overrides[key] = yaml.safe_load(value)
    try:
        return params_module.override(
            params_module.load(path=args.params), overrides, sections=None
        )
    except params_module.ParamsError as exc:
        raise SystemExit(f"error: {exc}") from None
