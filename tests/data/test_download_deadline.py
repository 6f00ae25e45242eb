"""A mirror that trickles bytes cannot hang a download: each file has an overall deadline;
and a killed download's temporary folder does not stay in the cache."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digitrec.data import FetchError, fetch_file
from digitrec.data.download import DEADLINE, default_deadline
from digitrec.data.sources import RemoteFile

DATA = bytes(range(256)) * 4
REMOTE = RemoteFile("test", "blob.bin", len(DATA), hashlib.sha256(DATA).hexdigest())
DRIP = 0.1  # seconds between two bytes from the trickling mirror
MAX_BYTES = 60  # then it closes the connection: the test is bounded even if nothing stops it


@pytest.fixture
def trickle() -> Iterator[str]:
    """An HTTP mirror on 127.0.0.1 announcing the whole file, then sending one byte per DRIP."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(DATA)}\r\n\r\n"
                try:
                    conn.sendall(head.encode())
                    for byte in DATA[:MAX_BYTES]:
                        if done.is_set():
                            break
                        conn.sendall(bytes([byte]))
                        time.sleep(DRIP)
                except OSError:  # the client gave up
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    done.set()
    thread.join(timeout=10)
    listener.close()


@pytest.fixture
def good_mirror(tmp_path: Path) -> str:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / REMOTE.name).write_bytes(DATA)
    return str(folder)


def test_a_trickling_mirror_fails_at_the_deadline(trickle, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=r"too slow: got \d+ of 1024 bytes in 1 s") as info:
        fetch_file(REMOTE, [trickle], cache, progress=False, deadline=1.0)
    assert "DIGITREC_FETCH_DEADLINE" in str(info.value)
    assert [p for p in cache.rglob("*") if p.is_file()] == []  # nothing left behind


def test_the_next_mirror_is_tried_after_a_trickling_one(trickle, good_mirror, tmp_path):
    path = fetch_file(REMOTE, [trickle, good_mirror], tmp_path / "cache", False, deadline=1.0)
    assert path.read_bytes() == DATA


def test_a_killed_downloads_temporary_folder_is_removed(good_mirror, tmp_path):
    cache = tmp_path / "cache"
    stale = cache / "test" / ".blob.bin.x1y2.tmp"  # what atomic_path makes
    live = cache / "test" / ".blob.bin.a3b4.tmp"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / REMOTE.name).write_bytes(DATA[:100])
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fetch_file(REMOTE, [good_mirror], cache, progress=False, deadline=60, timeout=5)
    assert not stale.exists()
    assert live.exists()  # young enough to belong to a download still running


def test_the_deadline_comes_from_the_environment():
    assert default_deadline({}) == DEADLINE
    assert default_deadline({"DIGITREC_FETCH_DEADLINE": "2.5"}) == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(ValueError, match="DIGITREC_FETCH_DEADLINE"):
            default_deadline({"DIGITREC_FETCH_DEADLINE": bad})


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action, as in a terminal's foreground: a test run started in the
    background (``cmd &``, nohup) would have its children ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


STOPS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


@pytest.mark.parametrize(("sig", "status", "word"), STOPS)
def test_a_stage_stopped_mid_download_says_so_in_one_line(trickle, tmp_path, sig, status, word):
    cache = tmp_path / "cache"
    (tmp_path / "params.yaml").write_text("fetch:\n  dataset: mnist\n")
    env = {**os.environ, "DIGITREC_MIRRORS": trickle, "DIGITREC_CACHE": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitrec.stages.fetch"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_in_a_terminal,
    )
    try:
        for _ in range(300):  # until the download has started writing into the cache
            if list(cache.glob("mnist/.*.tmp")) or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == f"fetch: {word}"
    assert list(cache.rglob(".*.tmp")) == []  # the partial download was removed
