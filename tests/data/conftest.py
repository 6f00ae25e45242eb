"""Fixtures for the data tests: copies of the real files and a real loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory, quietly; ``server.lies`` overrides some paths (see ``serve``)."""

    def do_GET(self) -> None:
        lie = getattr(self.server, "lies", {}).get(self.path)
        if lie is None:
            super().do_GET()
            return
        announced, body = lie
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if announced is not None:
            self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Serve a directory over HTTP on 127.0.0.1 (a real server in a thread); returns its URL.

    ``lies={"/name": (announced_length, body)}`` makes the server answer that path with
    ``body`` under a ``Content-Length`` of ``announced_length`` (none if None), then close
    the connection.
    """
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def start(directory: Path, lies: dict[str, tuple[int | None, bytes]] | None = None) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.lies = lies or {}  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def mirror_dir(tmp_path: Path) -> Path:
    """An empty directory to fill with (possibly broken) copies of real files."""
    path = tmp_path / "mirror"
    path.mkdir()
    return path


@pytest.fixture
def copy_to(dataset_files: Path) -> Callable[[str, Path], Path]:
    """Copy a dataset file (``"mnist/<name>"``) into a directory, writable."""

    def copy(relative: str, directory: Path) -> Path:
        target = directory / Path(relative).name
        shutil.copyfile(dataset_files / relative, target)
        return target

    return copy


@pytest.fixture
def closed_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A fresh cache directory (never the user's)."""
    return tmp_path / "cache"
