"""`serve` as a command: a real process listening on a free port, and its refusals."""

from __future__ import annotations

import os
import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

DIGITREC = Path(sys.executable).with_name("digitrec")


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(DIGITREC), "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for_url(proc: subprocess.Popen, timeout: float = 60) -> str:
    """The URL uvicorn reports once it listens (port 0: the OS picks one)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"server did not start:\n{''.join(seen)}") from None
        if line is None:
            raise AssertionError(f"server exited:\n{''.join(seen)}")
        seen.append(line)
        if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
            return m.group(1)


def test_serve_command_serves_until_stopped(saved_model, held_out):
    proc = start("--model", str(saved_model.path), "--port", "0")
    try:
        url = wait_for_url(proc)
        assert httpx.get(f"{url}/health", timeout=30).json()["model_sha256"] == saved_model.sha256
        data, label = held_out[0]
        r = httpx.post(
            f"{url}/predict", content=data, headers={"content-type": "image/png"}, timeout=30
        )
        assert r.status_code == 200 and r.json()["predictions"][0]["digit"] == label
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def refused(*args: str, env: dict | None = None) -> str:
    proc = start(*args, "--port", "0", env=env)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()  # it started serving instead of refusing
        out, _ = proc.communicate()
        raise AssertionError(f"serve did not refuse:\n{out}") from None
    assert proc.returncode == 2, out
    assert "Uvicorn running" not in out
    return out


def test_serve_refuses_a_tampered_model(tmp_path, saved_model):
    path = tmp_path / "model.skops"
    path.write_bytes(saved_model.path.read_bytes() + b"\x00")
    path.with_suffix(".sha256").write_bytes(saved_model.checksum_path.read_bytes())
    out = refused("--model", str(path))
    assert "error:" in out and "checksum mismatch" in out and "refusing to load" in out


def test_serve_refuses_a_missing_model_and_pickles(tmp_path):
    assert "run `dvc repro` first" in refused("--model", str(tmp_path / "none.skops"))
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04K\x01.")
    assert "runs code when it is loaded" in refused("--model", str(tmp_path / "model.joblib"))


def test_serve_refuses_bad_settings(saved_model):
    out = refused("--model", str(saved_model.path), env={"DIGITREC_SERVE_MAX_BATCH": "0"})
    assert "DIGITREC_SERVE_" in out and "max_batch" in out


def test_digitrec_cli_has_the_serve_command():
    """cli.py registers serve (app.command("serve")(serve))."""
    result = subprocess.run([str(DIGITREC), "serve", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--model" in result.stdout and "--port" in result.stdout


def test_serve_refuses_a_misspelt_setting(saved_model):
    out = refused("--model", str(saved_model.path), env={"DIGITREC_SERVE_MAX_BACH": "4"})
    assert "DIGITREC_SERVE_MAX_BACH" in out and "did you mean DIGITREC_SERVE_MAX_BATCH" in out


def test_malformed_requests_cannot_flood_the_log(saved_model, tmp_path):
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(DIGITREC), "serve", "--model", str(saved_model.path), "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(600):  # the URL uvicorn reports once it listens
            if m := re.search(r"Uvicorn running on (http://127\.0\.0\.1:(\d+))", log.read_text()):
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        else:
            raise AssertionError(f"server did not start:\n{log.read_text()}")
        url, port = m.group(1), int(m.group(2))
        for _ in range(300):  # each one makes uvicorn log "Invalid HTTP request received."
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                while sock.recv(4096):
                    pass
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(300):  # each one makes python-multipart log a different warning
                r = client.post(
                    "/predict",
                    content=bytes([i % 40]) * 50 + b"--b--\r\n",
                    headers={"content-type": "multipart/form-data; boundary=b"},
                )
                assert r.status_code == 400
            assert client.get("/health").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    text = log.read_text()
    assert 1 <= text.count("Invalid HTTP request received") <= 5, text
    assert 1 <= text.count("Expected boundary character") <= 5, text


def low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))


def test_serve_fits_the_connection_cap_to_the_open_file_limit(saved_model, held_out):
    """4 descriptors per connection + 128 spare must fit: 300 allows 43 connections."""
    proc = subprocess.Popen(
        [str(DIGITREC), "serve", "--model", str(saved_model.path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=low_file_limit,
    )
    try:
        url = wait_for_url(proc)
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    env = {**os.environ, "DIGITREC_SERVE_MAX_CONNECTIONS": "256"}
    proc = subprocess.run(
        [str(DIGITREC), "serve", "--model", str(saved_model.path), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=low_file_limit,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "DIGITREC_SERVE_MAX_CONNECTIONS = 256 needs 1152 open files" in proc.stderr
    assert "set it to at most 43" in proc.stderr
