"""The DVC stages: each module is a few lines of I/O around library calls.

Run one with ``python -m digitrec.stages.<name>`` from the project root (``dvc repro``
does this). Errors the user can fix (params, downloads, data, the compute backend) end the
stage with a clear one-paragraph message and exit status 2, leaving previous outputs
untouched. Ctrl-C (SIGINT) or SIGTERM ends it with one line and exit status 130 or 143,
after the temporary files being written are removed.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from threadpoolctl import threadpool_limits

from digitrec.env import warn_unknown
from digitrec.errors import UserError


def run(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main`` with BLAS pinned to one thread, so results never depend on
    the machine's core count."""
    warn_unknown()
    start = time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        with threadpool_limits(limits=1):
            main()
    except UserError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as exc:  # an input an earlier stage writes
        print(
            f"{name}: error: {exc.filename or exc} not found: run the stages before "
            f"{name} first (dvc repro runs them in order)",
            file=sys.stderr,
        )
        sys.exit(2)
    except Terminated:
        print(f"{name}: terminated", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"{name}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the stage like Ctrl-C, so temporary files are removed."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated
