"""uvicorn's HTTP/1.1 protocol (h11) with read deadlines and a cap on open connections.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) and refuses an
oversized head (``h11_max_incomplete_event_size``), but it waits forever for a new
connection's first request, for a head sent a byte at a time, and for a body that stalls;
and ``limit_concurrency`` answers 503 only once a request has arrived, after the
connection already holds a file descriptor. :class:`GuardedH11Protocol` adds:

- a head deadline: a request's line and headers must arrive within ``timeout_head``
  seconds of the connection's opening, or of the request's first byte on a kept-alive
  connection; else the client gets a 408 and the connection is closed;
- a body deadline: the body must arrive within ``timeout_body`` seconds of the head; else
  408 (when no response has started) and the connection is closed;
- a write deadline: a client that stops reading (its responses fill the send buffer, e.g.
  requests pipelined and never read) has ``timeout_body`` seconds to read on before the
  connection is dropped;
- a head size limit that holds however the head arrives: h11 refuses an incomplete head
  larger than ``h11_max_incomplete_event_size`` but accepts a larger one that arrives
  whole, so the head is fed to h11 no more than ``max_header_bytes + 1`` bytes at a time;
- a cap: past ``max_connections`` open connections, one waiting for a request is closed to
  make room: first the oldest that never sent a byte, then the oldest idle or with a
  partial head, never one whose request is already waiting to be read (a client that
  sends its request at once is not mistaken for an idle one); when every connection is in
  the middle of a request, the new one gets a 503 and is closed at once.

Build a subclass with the limits with :func:`protocol_class`.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import struct
import termios
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _response(status: str, code: str, detail: str) -> bytes:
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """One connection. The limits are class attributes (see :func:`protocol_class`)."""

    max_connections: int = 256
    timeout_head: float = 10.0
    timeout_body: float = 30.0
    max_header_bytes: int = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline: asyncio.TimerHandle | None = None
        self.waiting_for: str | None = None  # "head" or "body" while a deadline runs
        self.head_bytes = 0  # bytes of the current head received so far
        self.write_deadline: asyncio.TimerHandle | None = None
        self.idle_since = time.monotonic()

    # -- the cap --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = time.monotonic()
        if self._open_count() > self.max_connections and not self._evict_one():
            transport.write(self._busy())
            transport.close()
            return
        self._expect("head", self.timeout_head)

    def _open_count(self) -> int:
        return sum(1 for c in self.connections if not c.transport.is_closing())

    @property
    def waiting(self) -> bool:
        """Open, and not in the middle of a request (idle, or with a partial head)."""
        return (
            not self.transport.is_closing()
            and self.conn.their_state is h11.IDLE
            and (self.cycle is None or self.cycle.response_complete)
        )

    def _evict_one(self) -> bool:
        """Close a connection waiting for a request (see the module's docstring); False if
        none can go."""
        waiting = [
            c
            for c in self.connections
            if c is not self and isinstance(c, GuardedH11Protocol) and c.waiting
        ]
        if not waiting:
            return False
        first = min(waiting, key=_eviction_order)  # almost always the one to go
        ordered = [first] if _unread(first.transport) == 0 else sorted(waiting, key=_eviction_order)
        for victim in ordered:
            if _unread(victim.transport) == 0:
                victim.transport.write(victim._busy())
                victim._cancel()
                victim.transport.close()
                return True
        return False

    def _busy(self) -> bytes:
        return _response(
            "503 Service Unavailable",
            "too_many_connections",
            f"the server holds its maximum of {self.max_connections} open connections "
            "(DIGITREC_SERVE_MAX_CONNECTIONS); retry later",
        )

    # -- the deadlines --------------------------------------------------------------
    def _expect(self, what: str, seconds: float) -> None:
        self._cancel()
        self.waiting_for, self.head_bytes = what, 0
        self.deadline = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline, self.waiting_for = None, None

    def _track(self) -> None:
        """Move the deadline along with the request: head, then body, then none."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self.waiting_for != "body":
                self._expect("body", self.timeout_body)
        elif state is not h11.IDLE:  # DONE, MUST_CLOSE, CLOSED, ERROR: nothing more to read
            self._cancel()

    def data_received(self, data: bytes) -> None:
        if self.deadline is None and self.conn.their_state is h11.IDLE:
            self._expect("head", self.timeout_head)  # a new request on a kept-alive connection
        if self.waiting_for == "head":
            room = self.max_header_bytes + 1 - self.head_bytes
            if len(data) > room:  # h11 sees at most one byte past the limit of a head
                self._receive(data[:room])
                data = data[room:]
                if self.transport.is_closing():
                    return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        if self.waiting_for == "head":
            self.head_bytes += len(data)
        super().data_received(data)
        if not self.transport.is_closing():
            self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.idle_since = time.monotonic()
        if self.conn.their_state is h11.IDLE:
            self._cancel()  # uvicorn's keep-alive timeout watches the idle connection now
        else:
            self._track()

    def _expired(self) -> None:
        what = self.waiting_for
        seconds = self.timeout_head if what == "head" else self.timeout_body
        self.deadline, self.waiting_for = None, None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            settings = {
                "head": "DIGITREC_SERVE_TIMEOUT_HEAD",
                "body": "DIGITREC_SERVE_TIMEOUT_BODY",
            }
            setting = settings.get(str(what), "")
            self.transport.write(
                _response(
                    "408 Request Timeout",
                    "request_timeout",
                    f"the request {what} did not arrive within {seconds:g} s ({setting})",
                )
            )
        self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_deadline is None:
            self.write_deadline = self.loop.call_later(self.timeout_body, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_write_deadline()

    def _cancel_write_deadline(self) -> None:
        if self.write_deadline is not None:
            self.write_deadline.cancel()
            self.write_deadline = None

    def _not_reading(self) -> None:
        self.write_deadline = None
        self.transport.abort()  # close() would wait for the client to read what is queued

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self._cancel_write_deadline()
        super().connection_lost(exc)


def _eviction_order(c: GuardedH11Protocol) -> tuple[bool, float]:
    """Who goes first past the cap: never sent a byte, then the longest waiting."""
    return c.head_bytes > 0, c.idle_since


def _unread(transport: asyncio.BaseTransport) -> int:
    """Bytes received on the transport's socket that nobody has read yet (Linux, BSD)."""
    sock = transport.get_extra_info("socket")
    try:
        pending = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, AttributeError):
        return 0
    return struct.unpack("i", pending)[0]


def protocol_class(
    max_connections: int, timeout_head: float, timeout_body: float, max_header_bytes: int
) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these limits (uvicorn's ``http=``)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "max_connections": max_connections,
            "timeout_head": timeout_head,
            "timeout_body": timeout_body,
            "max_header_bytes": max_header_bytes,
        },
    )
