"""Load test of ``digitrec serve`` on loopback: N concurrent clients for a bounded time.

    python bench/serve_load.py                              # models/model.skops, 4 clients, 10 s
    python bench/serve_load.py --clients 1 --seconds 5      # latency without queueing
    python bench/serve_load.py --input json8 --clients 8
    python bench/serve_load.py --url http://127.0.0.1:8000  # a server already running

Unless ``--url`` is given, the server is started as ``digitrec serve`` would start it (one
uvicorn process, access log off) on a free 127.0.0.1 port, and stopped at the end. Each
client is a thread holding one keep-alive connection, sending one image per request
(``png28``: a 28x28 PNG of a digit, dark on white; ``png8``: an 8x8 PNG; ``json8``: 8x8 grey
pixels as JSON) back to back until time is up. Reported: requests, errors (non-200 or
failed), throughput, latency percentiles measured by the clients, and the median time the
server spent decoding, normalising and in the model (its Server-Timing header). Traffic goes to
loopback only; the run stops by itself after --warmup + --seconds.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

MAX_SECONDS = 120
SERVE = "import typer; from digitrec.cli.serve import serve; typer.run(serve)"


def request_body(kind: str) -> tuple[bytes, str]:
    digit = load_digits().images[1700]  # a 5, not one the model trained on (most likely)
    if kind == "json8":
        grey = 1 - digit / 16.0
        return json.dumps({"images": [grey.tolist()]}).encode(), "application/json"
    side = 28 if kind == "png28" else 8
    img = Image.fromarray((255 - digit * 15.9).astype(np.uint8)).resize((side, side))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue(), "image/png"


def start_server(model: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "DIGITREC_SERVE_ACCESS_LOG": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "--model", str(model), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if m := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
            return proc, m.group(1)
    proc.kill()
    sys.exit("server did not start:\n" + "".join(seen))


def client(url: str, body: bytes, ctype: str, start: float, stop: float, out: list, errors: list):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": ctype, "Content-Length": str(len(body))}
    latencies, failed, server = [], 0, []
    while (now := time.perf_counter()) < stop:
        try:
            conn.request("POST", "/predict", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
            timing = response.getheader("Server-Timing") or ""
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        if now >= start:  # after the warm-up
            if ok:
                latencies.append(time.perf_counter() - now)
                server.append(dict(re.findall(r"(\w+);dur=([\d.]+)", timing)))
            else:
                failed += 1
    conn.close()
    out.append((latencies, server))
    errors.append(failed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/model.skops"))
    ap.add_argument("--url", help="benchmark a server already running at this loopback URL")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured time (default 10)")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--input", choices=["png28", "png8", "json8"], default="png28")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS or not 1 <= args.clients <= 256:
        ap.error(f"--seconds must be in (0, {MAX_SECONDS}], --clients in [1, 256]")
    if args.url and urlsplit(args.url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        ap.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")

    proc = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        if not args.model.is_file():
            ap.error(f"{args.model} not found: run `dvc repro`, or pass --model")
        proc, url = start_server(args.model)
    try:
        body, ctype = request_body(args.input)
        begin = time.perf_counter()
        start, stop = begin + args.warmup, begin + args.warmup + args.seconds
        latencies: list[tuple[list[float], list[dict]]] = []
        errors: list[int] = []
        threads = [
            threading.Thread(target=client, args=(url, body, ctype, start, stop, latencies, errors))
            for _ in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)

    lat = np.sort(np.concatenate([np.asarray(x, dtype=float) for x, _ in latencies])) * 1000
    phases = [t for _, server in latencies for t in server]
    n_ok, n_err = len(lat), sum(errors)
    inside = {  # time spent in the server's worker thread, from Server-Timing
        f"server_{k}_p50_ms": round(float(np.median([float(t[k]) for t in phases])), 2)
        for k in ("decode", "prepare", "model")
        if phases and all(k in t for t in phases)
    }
    figures = {
        "input": args.input,
        "clients": args.clients,
        "seconds": args.seconds,
        "requests": n_ok + n_err,
        "errors": n_err,
        "throughput_rps": round(n_ok / args.seconds, 1),
        **{
            f"{name}_ms": round(float(np.percentile(lat, q)), 2) if n_ok else None
            for name, q in [("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)]
        },
        **inside,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{args.input}, {args.clients} clients, {args.seconds:g} s: "
        f"{figures['requests']} requests, {n_err} errors, {figures['throughput_rps']} req/s\n"
        f"latency ms: p50 {figures['p50_ms']}  p90 {figures['p90_ms']}  "
        f"p99 {figures['p99_ms']}  max {figures['max_ms']}\n"
        "in the server (p50 ms): " + "  ".join(f"{k[7:-7]} {v}" for k, v in inside.items())
    )


if __name__ == "__main__":
    main()
