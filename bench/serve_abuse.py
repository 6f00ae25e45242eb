"""Abuse test of ``digitrec serve`` on loopback: hostile clients for a bounded time, while
probes check that /health and a one-image prediction still answer.

    python bench/serve_abuse.py                         # models/model.skops, 10 s
    python bench/serve_abuse.py --seconds 20 --idle 5000 --big 4
    python bench/serve_abuse.py --json                  # the figures as one JSON line

The server is started as ``digitrec serve`` starts it (one uvicorn process, access log
off) on a free 127.0.0.1 port, with the ``DIGITREC_SERVE_*`` variables of this
environment, and stopped at the end. For --seconds, all at once:

- idle flood: connections opened as fast as the server accepts them and never used (up
  to --idle in all, --hold of them open at a time, the oldest dropped to open more);
- slowloris: --slow connections, half sending a request head, half a request body, one
  byte every --drip seconds; each one the server cuts off is opened again;
- big requests: --big clients sending, back to back, a multipart request with the most
  pixels one request may hold (16 PNGs of a blank 1024x1024 page), and another with
  more (refused from the headers);
- probes: every --probe-every seconds, a GET /health and a POST /predict of one 28x28
  PNG, each on a new connection.

Reported: the probes' status codes and latencies, the most file descriptors the server
held (counted in /proc/<pid>/fd), and what each hostile client achieved. Traffic goes to
loopback only; every loop stops after --seconds (at most MAX_SECONDS).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from serve_load import request_body, start_server

MAX_SECONDS = 60
MAX_IDLE = 50_000
LOCK = threading.Lock()


class Stop:
    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def __bool__(self) -> bool:
        return time.monotonic() >= self.at


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def request(port: int, raw: bytes, timeout: float = 30) -> tuple[int, float]:
    """Send one request on a new connection: (status, seconds); status 0 if it failed."""
    start = time.perf_counter()
    try:
        with connect(port, timeout) as sock:
            sock.sendall(raw)
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            status = int(data.split()[1]) if data.startswith(b"HTTP/") else 0
    except OSError:
        status = 0
    return status, time.perf_counter() - start


def post(path: str, body: bytes, ctype: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def multipart(images: list[bytes]) -> tuple[bytes, str]:
    parts = [
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; '
        + f'filename="{i}.png"'.encode()
        + b"\r\nContent-Type: image/png\r\n\r\n"
        + data
        + b"\r\n"
        for i, data in enumerate(images)
    ]
    return b"".join(parts) + b"--b0undary--\r\n", "multipart/form-data; boundary=b0undary"


def blank_page(side: int) -> bytes:
    page = np.full((side, side), 255, np.uint8)
    page[side // 4 : side // 2, side // 3 : side // 3 + side // 20] = 0  # a stroke of ink
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, "PNG")
    return buf.getvalue()


def idle_flood(port: int, total: int, hold: int, stop: Stop, out: dict) -> None:
    held: list[socket.socket] = []
    opened = failed = 0
    while not stop and opened + failed < total:
        try:
            held.append(connect(port, timeout=2))
            opened += 1
        except OSError:
            failed += 1
            time.sleep(0.01)
        if len(held) > hold:
            held.pop(0).close()
    for sock in held:
        sock.close()
    out.update(idle_opened=opened, idle_connect_failed=failed)


def slowloris(port: int, count: int, drip: float, stop: Stop, out: dict) -> None:
    heads = [
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # the head never ends
        post("/predict", b"", "image/png").replace(b"Content-Length: 0", b"Content-Length: 99999"),
    ]
    socks: list[socket.socket | None] = [None] * count
    started = cut = 0
    while not stop:
        for i in range(count):
            try:
                if socks[i] is None:
                    socks[i] = connect(port, timeout=2)
                    socks[i].sendall(heads[i % 2])
                    started += 1
                else:
                    socks[i].sendall(b"a")
            except OSError:  # the server closed it: a deadline (or the cap) cut it off
                if socks[i] is not None:
                    socks[i].close()
                    cut += 1
                socks[i] = None
        time.sleep(drip)
    for sock in socks:
        if sock is not None:
            sock.close()
    out.update(slow_started=started, slow_cut_off=cut)


def big_requests(port: int, allowed: bytes, refused: bytes, stop: Stop, out: dict) -> None:
    codes: dict[str, int] = {}
    while not stop:
        for raw in (allowed, refused):
            status, _ = request(port, raw, timeout=60)
            codes[str(status)] = codes.get(str(status), 0) + 1
    with LOCK:
        for k, v in codes.items():
            out[k] = out.get(k, 0) + v


def count_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def summary(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.asarray(latencies) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/model.skops"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--idle", type=int, default=20_000, help="idle connections opened in all")
    ap.add_argument("--hold", type=int, default=1000, help="idle connections held at a time")
    ap.add_argument("--slow", type=int, default=100, help="slowloris connections")
    ap.add_argument("--drip", type=float, default=0.5, help="seconds between slowloris bytes")
    ap.add_argument("--big", type=int, default=2, help="clients sending the largest requests")
    ap.add_argument("--probe-every", type=float, default=0.25)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS or not 0 <= args.idle <= MAX_IDLE:
        ap.error(f"--seconds must be in (0, {MAX_SECONDS}], --idle in [0, {MAX_IDLE}]")
    if not args.model.is_file():
        ap.error(f"{args.model} not found: run `dvc repro`, or pass --model")

    from digitrec.serve.settings import ServeSettings

    limits = ServeSettings()
    side = 1024
    per_request = max(1, min(limits.max_batch, limits.max_request_pixels // side**2))
    allowed = multipart([blank_page(side)] * per_request)
    refused = multipart([blank_page(side)] * min(limits.max_batch, per_request + 1))
    big_allowed, big_refused = (post("/predict", *body) for body in (allowed, refused))
    probe_predict = post("/predict", *request_body("png28"))
    probe_health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    proc, url = start_server(args.model)
    port = int(url.rsplit(":", 1)[1])
    fds_before = count_fds(proc.pid)
    out: dict = {}
    big_codes: dict[str, int] = {}
    stop = Stop(args.seconds)
    threads = [
        threading.Thread(target=idle_flood, args=(port, args.idle, args.hold, stop, out)),
        threading.Thread(target=slowloris, args=(port, args.slow, args.drip, stop, out)),
        *(
            threading.Thread(
                target=big_requests, args=(port, big_allowed, big_refused, stop, big_codes)
            )
            for _ in range(args.big)
        ),
    ]
    probes: dict[str, list] = {"health": [], "predict": []}
    fds_max = fds_before
    try:
        for t in threads:
            t.start()
        next_probe = time.monotonic()
        while not stop:
            fds_max = max(fds_max, count_fds(proc.pid))
            if time.monotonic() >= next_probe:
                next_probe += args.probe_every
                for name, raw in (("health", probe_health), ("predict", probe_predict)):
                    probes[name].append(request(port, raw))
            time.sleep(0.02)
        for t in threads:
            t.join(timeout=120)
        alive = proc.poll() is None
        final = request(port, probe_health)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    figures = {
        "seconds": args.seconds,
        "max_connections": limits.max_connections,
        "server_alive": alive,
        "final_health_status": final,
        "fds_before": fds_before,
        "fds_max": fds_max,
        **out,
        "big_request_statuses": big_codes,
    }
    for name, results in probes.items():
        codes = [status for status, _ in results]
        figures[f"{name}_probes"] = len(codes)
        figures[f"{name}_failed"] = sum(code != 200 for code in codes)
        figures[f"{name}_failed_statuses"] = sorted(code for code in codes if code != 200)
        figures.update({f"{name}_{k}": v for k, v in summary([s for _, s in results]).items()})
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:>24}  {value}")


if __name__ == "__main__":
    main()
