"""The ``digitrec`` command line: ``predict``, ``serve`` and ``check``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")


def interruptible(command: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Ctrl-C ends ``command`` with one line on stderr and exit status 130 (128 + SIGINT),
    as the stages do, instead of a traceback or click's "Aborted!" with status 1 (which
    ``predict`` uses for "some files failed")."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except KeyboardInterrupt:
                typer.echo(f"\n{command}: interrupted", err=True)
                raise typer.Exit(130) from None

        return wrapper

    return decorate
