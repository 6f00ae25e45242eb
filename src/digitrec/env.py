"""Every ``DIGITREC_*`` environment variable digitrec reads, in one registry.

A misspelt variable would otherwise be ignored without a word: :func:`unknown` names each
``DIGITREC_*`` variable that is not here, with the closest known name. ``digitrec`` and the
DVC stages warn about them; ``digitrec serve`` refuses unknown ``DIGITREC_SERVE_*`` ones
(its limits are listed in :mod:`digitrec.serve.settings`).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Mapping

PREFIX = "DIGITREC_"
SERVE_PREFIX = "DIGITREC_SERVE_"

VARIABLES: dict[str, str] = {
    "DIGITREC_MIRRORS": "download mirrors, whitespace- or comma-separated (fetch)",
    "DIGITREC_CACHE": "download cache folder (fetch)",
    "DIGITREC_FETCH_DEADLINE": "seconds one file's download may take in all (fetch)",
    # the test suite and CI
    "DIGITREC_REQUIRE_BROWSER": "tests: fail instead of skipping without Chromium",
    "DIGITREC_REQUIRE_DATA": "tests: fail instead of skipping without the dataset mirrors",
    "DIGITREC_TEST_DATA": "tests: folder of the dataset mirrors",
    "DIGITREC_TEST_ARTIFACTS": "tests: folder for screenshots and other test artifacts",
}


def known(serve: Iterable[str] = ()) -> list[str]:
    """Every known name: :data:`VARIABLES`, and ``serve``, the ``digitrec serve`` settings'
    variables (:data:`digitrec.serve.settings.VARIABLES`)."""
    return [*VARIABLES, *serve]


def unknown(
    environ: Mapping[str, str] = os.environ, serve: Iterable[str] | None = None
) -> list[str]:
    """One line per unknown ``DIGITREC_*`` variable in ``environ``, naming the closest.
    With ``serve`` None, ``DIGITREC_SERVE_*`` variables are left to ``digitrec serve``,
    which judges them itself (the stages read none of them)."""
    names = sorted(n for n in environ if n.upper().startswith(PREFIX))
    if serve is None:
        names = [n for n in names if not n.upper().startswith(SERVE_PREFIX)]
    if not names:
        return []
    valid = known(serve or ())
    suffixes = {name[len(PREFIX) :]: name for name in valid}
    lines = []
    for name in names:
        if name.upper() in valid:
            continue
        close = difflib.get_close_matches(name.upper()[len(PREFIX) :], suffixes, n=1)
        hint = (
            f"did you mean {suffixes[close[0]]}?"
            if close
            else "the known ones are in digitrec/env.py"
        )
        lines.append(f"{name} is not a digitrec variable; {hint}")
    return lines


def warn_unknown(
    environ: Mapping[str, str] = os.environ,
    skip: str | None = None,
    serve: Iterable[str] | None = None,
) -> None:
    """Print a warning to stderr for each unknown variable (except names starting ``skip``;
    ``serve`` as for :func:`unknown`)."""
    for line in unknown(environ, serve):
        if skip is None or not line.upper().startswith(skip):
            print(f"warning: {line} (ignored)", file=sys.stderr)
