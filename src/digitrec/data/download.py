"""Fetch checksummed files from a list of mirrors into a local cache.

A mirror is an ``http(s)://`` URL, a ``file://`` URL or a plain directory. Every file is
streamed into a temporary file inside the cache, its size and sha256 verified, and only
then renamed to ``<cache_dir>/<dataset>/<name>``: the cache never holds a partial or
unverified file under its final name, and nothing is left behind after a failure.

Each read waits at most ``timeout`` seconds, and each file's download from one mirror
takes at most ``deadline`` seconds in all (``$DIGITREC_FETCH_DEADLINE``, default
:data:`DEADLINE`), so a mirror that trickles a byte every few seconds fails over to the
next instead of hanging. A temporary folder that a killed download left in the cache
(older than the deadline, so no live download owns it) is removed on the next fetch.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from digitrec import __version__
from digitrec.data.errors import FetchError
from digitrec.data.sources import RemoteFile
from digitrec.io import atomic_path

__all__ = ["FetchError", "default_cache_dir", "fetch_file", "resolve_mirrors"]

MIRRORS_ENV = "DIGITREC_MIRRORS"
CACHE_ENV = "DIGITREC_CACHE"
DEADLINE_ENV = "DIGITREC_FETCH_DEADLINE"
TIMEOUT = 30.0  # seconds, per connection attempt and per socket read
DEADLINE = 900.0  # seconds, one file from one mirror, in all
PROGRESS_MIN_BYTES = 1 << 20
_CHUNK = 1 << 20
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

logger = logging.getLogger(__name__)


class _MirrorFailed(Exception):
    """Why one mirror could not provide the file (internal, collected into FetchError)."""


def resolve_mirrors(
    configured: Sequence[str],
    defaults: Sequence[str],
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """The mirrors to try, in order.

    ``$DIGITREC_MIRRORS`` (whitespace- or comma-separated) wins if set and non-empty, then
    ``configured`` if non-empty, then ``defaults``.
    """
    from_env = [m for m in re.split(r"[\s,]+", environ.get(MIRRORS_ENV, "")) if m]
    if from_env:
        return from_env
    configured = [m for m in configured if m.strip()]
    return configured if configured else list(defaults)


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$DIGITREC_CACHE``, else ``$XDG_CACHE_HOME/digitrec``, else ``~/.cache/digitrec``."""
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV]).expanduser()
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]).expanduser() / "digitrec"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return home / ".cache" / "digitrec"


def default_deadline(environ: Mapping[str, str] = os.environ) -> float:
    """``$DIGITREC_FETCH_DEADLINE`` (seconds, > 0), else :data:`DEADLINE`."""
    text = environ.get(DEADLINE_ENV, "").strip()
    if not text:
        return DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{DEADLINE_ENV} = {text!r}: expected a positive number of seconds "
            f"(default {DEADLINE:g})"
        )
    return value


def fetch_file(
    remote: RemoteFile,
    mirrors: Sequence[str],
    cache_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    timeout: float = TIMEOUT,
    deadline: float | None = None,
) -> Path:
    """Return the verified local copy of ``remote``, downloading it if needed.

    A cached copy is re-verified before use and replaced if it is bad. Mirrors are tried
    in order until one yields the expected bytes, each for at most ``deadline`` seconds
    (None: :func:`default_deadline`).

    Raises:
        FetchError: no mirror provided the file; the message lists what went wrong with
            each mirror.
    """
    if deadline is None:
        try:
            deadline = default_deadline()
        except ValueError as exc:
            raise FetchError(str(exc), remote) from None
    final = Path(cache_dir) / remote.dataset / remote.name
    _remove_stale_temporaries(final, older_than=deadline + timeout)
    if final.is_file():
        problem = _verify_cached(final, remote)
        if problem is None:
            return final
        logger.warning("cached %s is bad (%s); fetching it again", final, problem)
        final.unlink()

    failures: list[tuple[str, str]] = []
    for mirror in mirrors:
        location = _locate(mirror, remote)
        try:
            with atomic_path(final) as tmp:
                _download(
                    location, tmp, remote, progress=progress, timeout=timeout, deadline=deadline
                )
        except _MirrorFailed as exc:
            logger.info("could not fetch %s from %s: %s", remote.name, location, exc)
            failures.append((location, str(exc)))
        else:
            return final
    raise FetchError(_failure_message(remote, failures), remote, failures)


def _remove_stale_temporaries(final: Path, older_than: float) -> None:
    """Remove ``.<name>.*.tmp`` folders beside ``final`` (what :func:`atomic_path` makes)
    last changed more than ``older_than`` seconds ago: a killed download's leftovers."""
    now = time.time()
    for tmp in final.parent.glob(f".{final.name}.*.tmp"):
        try:
            if tmp.is_dir() and now - tmp.stat().st_mtime > older_than:
                shutil.rmtree(tmp, ignore_errors=True)
                logger.info("removed %s, left by an interrupted download", tmp)
        except OSError:
            pass


def _failure_message(remote: RemoteFile, failures: list[tuple[str, str]]) -> str:
    head = (
        f"Could not fetch {remote.dataset}/{remote.name} "
        f"(expected {remote.size} bytes, sha256 {remote.sha256})"
    )
    if not failures:
        return f"{head}: no mirrors were given."
    tried = "the only mirror" if len(failures) == 1 else f"any of {len(failures)} mirrors"
    lines = [f"{head} from {tried}:"]
    lines += [f"  - {location}: {reason}" for location, reason in failures]
    lines.append(
        f"Set {MIRRORS_ENV} or the configured mirrors to an http(s):// URL, a file:// URL "
        f"or a directory that holds {remote.name}."
    )
    return "\n".join(lines)


def _locate(mirror: str, remote: RemoteFile) -> str:
    """The file's URL (or path) on ``mirror``; ``{dataset}`` in it is the dataset's name, so
    one setting can serve every dataset (e.g. ``file:///srv/mirror/{dataset}/``)."""
    mirror = mirror.replace("{dataset}", remote.dataset)
    if _URL.match(mirror):
        return mirror.rstrip("/") + "/" + urllib.parse.quote(remote.name)
    return str(Path(mirror).expanduser() / remote.name)


def _verify_cached(path: Path, remote: RemoteFile) -> str | None:
    """Why the file at ``path`` is not ``remote``, or None if it is."""
    size = path.stat().st_size
    if size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != remote.sha256:
        return f"sha256 {digest.hexdigest()}, expected {remote.sha256}"
    return None


def _open(location: str, timeout: float) -> tuple[BinaryIO, int | None, bool]:
    """Open ``location`` for reading: (stream, announced length or None, is_http)."""
    if _URL.match(location):
        scheme = location.split(":", 1)[0].lower()
        if scheme in ("http", "https"):
            return _open_http(location, timeout)
        if scheme != "file":
            raise _MirrorFailed(
                f"unsupported URL scheme {scheme!r}; expected http://, https://, file:// "
                "or a directory"
            )
        parsed = urllib.parse.urlparse(location)
        if parsed.netloc not in ("", "localhost"):
            raise _MirrorFailed(f"unsupported file:// host {parsed.netloc!r}; expected none")
        path = Path(urllib.request.url2pathname(parsed.path))
    else:
        path = Path(location)
    try:
        return path.open("rb"), None, False
    except FileNotFoundError:
        raise _MirrorFailed("not found") from None
    except OSError as exc:
        raise _MirrorFailed(f"unreadable: {exc.strerror or exc}") from None


def _open_http(url: str, timeout: float) -> tuple[BinaryIO, int | None, bool]:
    request = urllib.request.Request(url, headers={"User-Agent": f"digitrec/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (404, 410):
            raise _MirrorFailed(f"not found (HTTP {exc.code})") from None
        raise _MirrorFailed(f"HTTP error {exc.code}: {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _MirrorFailed(f"unreachable: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _MirrorFailed(f"unreachable: {exc}") from None
    length = response.headers.get("Content-Length", "")
    return response, int(length) if length.strip().isdigit() else None, True


def _download(
    location: str,
    target: Path,
    remote: RemoteFile,
    *,
    progress: bool,
    timeout: float,
    deadline: float = DEADLINE,
) -> None:
    """Stream ``location`` into ``target``; raise _MirrorFailed unless size and sha256 match,
    or when it takes more than ``deadline`` seconds."""
    stop = time.monotonic() + deadline
    stream, announced, is_http = _open(location, timeout)
    # read1: one socket read per call (read(n) would wait for all n bytes from a trickle)
    read = getattr(stream, "read1", stream.read)
    expected = remote.size
    with stream:
        if announced is not None and announced > expected:
            raise _MirrorFailed(
                f"too large: server announces {announced} bytes, expected {expected}"
            )
        digest = hashlib.sha256()
        received = 0
        show = progress and is_http and expected > PROGRESS_MIN_BYTES
        with (
            target.open("wb") as out,
            tqdm(
                total=expected,
                desc=remote.name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                disable=not show,
            ) as bar,
        ):
            while True:
                try:
                    # Ask for one byte more than expected, to notice an oversized file early.
                    chunk = read(min(_CHUNK, expected + 1 - received))
                except http.client.IncompleteRead as exc:
                    received += len(exc.partial)
                    raise _MirrorFailed(f"truncated: got {received} of {expected} bytes") from None
                except (OSError, http.client.HTTPException) as exc:
                    raise _MirrorFailed(
                        f"interrupted after {received} of {expected} bytes: {exc}"
                    ) from None
                if not chunk:
                    break
                received += len(chunk)
                if time.monotonic() > stop:
                    raise _MirrorFailed(
                        f"too slow: got {received} of {expected} bytes in {deadline:g} s "
                        f"(the deadline per file; set {DEADLINE_ENV} to allow more)"
                    )
                if received > expected:
                    raise _MirrorFailed(f"too large: more than the expected {expected} bytes")
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    if received < expected:
        raise _MirrorFailed(f"truncated: got {received} of {expected} bytes")
    if digest.hexdigest() != remote.sha256:
        raise _MirrorFailed(
            f"checksum mismatch: got sha256 {digest.hexdigest()}, expected {remote.sha256}"
        )
