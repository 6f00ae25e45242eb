"""Hostile and careless clients against a real server on 127.0.0.1: stalled and idle
connections, too many connections, oversized heads, pixel bombs spread over many images,
truncated forms, and JSON that once made the service answer 500."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitrec.serve.app import create_app
from digitrec.serve.settings import ServeSettings

# Short timeouts and few connections, so each limit is reached quickly.
GUARDED = ServeSettings(
    timeout_head=1.0,
    timeout_body=1.0,
    timeout_keep_alive=1,
    max_connections=6,
    max_header_bytes=4096,
    access_log=False,
)
WAIT = 15  # seconds a socket read may block before the test fails (a hang)


@pytest.fixture(scope="module")
def guarded(saved_model, start_server) -> Iterator:
    with start_server(create_app(saved_model.path, GUARDED)) as s:
        yield s


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body else {}


def health(server) -> int:
    return httpx.get(f"{server.url}/health", timeout=WAIT).status_code


# ------------------------------------------------------------------ slow and idle clients
def test_a_silent_connection_is_closed_with_408(guarded):
    with connect(guarded) as sock:
        status, body = status_and_body(read_all(sock))
    assert status == 408 and body["error"] == "request_timeout"
    assert "head" in body["detail"] and "DIGITREC_SERVE_TIMEOUT_HEAD" in body["detail"]


def test_a_head_sent_a_byte_at_a_time_is_cut_off(guarded):
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with connect(guarded) as sock:
        sent = 0
        try:
            for byte in head:  # far slower in all than GUARDED.timeout_head allows
                sock.send(bytes([byte]))
                sent += 1
                time.sleep(0.05)
        except OSError:  # the server closed the connection
            pass
        raw = read_all(sock)
    assert sent < len(head)
    assert status_and_body(raw)[0] == 408
    assert health(guarded) == 200


def test_a_stalled_body_is_cut_off(guarded):
    with connect(guarded) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 5000\r\n\r\n" + b"\x89PNG"
        )
        status, body = status_and_body(read_all(sock))
    assert status == 408 and "body" in body["detail"]
    assert "DIGITREC_SERVE_TIMEOUT_BODY" in body["detail"]


def test_a_client_that_stops_reading_is_dropped(guarded):
    one = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
    connections = guarded.server.server_state.connections  # uvicorn's own record
    with connect(guarded) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(one * 2000)  # pipelined, never read: the server's writes stall
        deadline = time.monotonic() + WAIT
        while connections and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not connections  # the server dropped it (its descriptor is free)


def test_an_idle_keep_alive_connection_is_closed(guarded):
    with connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        # uvicorn's default keep-alive would outlast this read; the setting does not
        sock.settimeout(GUARDED.timeout_keep_alive + 3)
        raw = read_all(sock)  # returns only once the server closes the connection
    assert raw.startswith(b"HTTP/1.1 200") and raw.count(b"HTTP/1.1") == 1


def test_an_oversized_head_is_refused(guarded):
    with connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n")
        raw = read_all(sock)
    assert raw.startswith(b"HTTP/1.1 400")


def test_past_the_cap_the_longest_waiting_connection_makes_room(guarded):
    idle = [connect(guarded) for _ in range(GUARDED.max_connections)]
    try:
        time.sleep(0.2)  # every one accepted and waiting for a request
        assert health(guarded) == 200  # a new client is served ...
        status, body = status_and_body(read_all(idle[0]))  # ... the oldest made room
        assert status == 503 and body["error"] == "too_many_connections"
    finally:
        for sock in idle:
            sock.close()


def test_past_the_cap_with_every_connection_busy_new_ones_get_503(guarded):
    busy = []
    try:
        for _ in range(GUARDED.max_connections):
            sock = connect(guarded)
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 100\r\n\r\n\x89PNG"
            )
            busy.append(sock)
        time.sleep(0.2)
        with connect(guarded) as sock:
            status, body = status_and_body(read_all(sock))
        assert status == 503 and "DIGITREC_SERVE_MAX_CONNECTIONS" in body["detail"]
    finally:
        for sock in busy:
            sock.close()
    time.sleep(0.2)
    assert health(guarded) == 200


# --------------------------------------------------------------------------- pixel budget
def blank_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side), 255, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_the_pixels_of_one_request_have_a_budget(server, client):
    limits = server.app.state.settings
    side = 1000  # each image is allowed on its own; three together are over the budget
    assert side * side <= limits.max_pixels and limits.max_request_pixels < 3 * side * side
    data = blank_png(side)
    r = client.post("/predict", files=[("file", (f"{i}.png", data, "image/png")) for i in range(3)])
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["error"] == "request_too_large"
    assert "3000000 pixels" in body["detail"]
    assert "DIGITREC_SERVE_MAX_REQUEST_PIXELS" in body["detail"]


def test_request_pixel_budget_must_fit_one_image():
    with pytest.raises(ValueError, match="max_request_pixels"):
        ServeSettings(max_pixels=1000, max_request_pixels=999)


# ------------------------------------------------------------------------- clear errors
def test_a_truncated_form_is_called_truncated(client, held_out):
    data = held_out[0][0]
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--xx--\r\n"
    )
    good = client.post(
        "/predict", content=body, headers={"content-type": "multipart/form-data; boundary=xx"}
    )
    assert good.status_code == 200
    for cut in (len(body) - 5, len(body) // 2, 40):
        r = client.post(
            "/predict",
            content=body[:cut],
            headers={"content-type": "multipart/form-data; boundary=xx"},
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "bad_multipart" and "truncated" in r.json()["detail"]


@pytest.mark.parametrize(
    "doc",
    [
        '{"images": [[[0, %s], [1, 0]]]}' % ("1" + "0" * 400),
        '{"images": [[[0, 1], [1, 0]]], "max_value": %s}' % ("1" + "0" * 400),
        '{"images": [[[0, -%s], [1, 0]]]}' % ("1" + "0" * 400),
        '{"images": [[[0, 1e400], [1, 0]]]}',
    ],
)
def test_huge_numbers_are_a_422(client, doc):
    r = client.post("/predict", content=doc, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "bad_pixels"


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"images": [[[0, True], [1, 0]]]}, "images[0] row 0 column 1"),
        ({"images": [[[0, 1]], [[1, 0], [False, 1]]]}, "images[1] row 1 column 0"),
        ({"images": [[[0, 1], [1, 0]]], "max_value": True}, "max_value"),
    ],
)
def test_booleans_are_not_pixels(client, doc, where):
    r = client.post("/predict", json=doc)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{where}: expected a number, got the boolean")


HUGE = [10**309, -(10**400), 2**1024, 10**4000]  # beyond any float
NUMBERS = (
    st.integers(min_value=-(10**500), max_value=10**500)
    | st.sampled_from(HUGE)
    | st.floats(allow_nan=False)
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(["images", "max_value", "x"]), children, max_size=3)
    ),
    max_leaves=40,
)
PIXELS = NUMBERS | JSON_VALUES
PIXEL_DOCS = st.fixed_dictionaries(
    {"images": st.lists(st.lists(st.lists(PIXELS, max_size=6), max_size=6), max_size=3)},
    optional={"max_value": NUMBERS | JSON_VALUES},
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=JSON_VALUES | PIXEL_DOCS)
def test_random_json_is_never_a_server_error(client, doc):
    r = client.post(
        "/predict", content=json.dumps(doc), headers={"content-type": "application/json"}
    )
    assert r.status_code == 200 or 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/json"
