"""Log lines that cannot flood the disk: a rate limit per message.

A client can make the server log on purpose (malformed requests, refused connections, and
when file descriptors run out, asyncio's accept errors). :class:`RateLimit` lets through
at most ``burst`` records of one message (the same logger, level and format string) per
``period`` seconds, and tells with the next record of that message how many it dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

# Loggers a client can drive, and the most records of one message each lets through.
LIMITS = {
    "uvicorn.error": (5, 10.0),
    "asyncio": (5, 10.0),
    "digitrec.serve": (5, 10.0),
    "uvicorn.access": (200, 1.0),  # one format string for every request: a budget per second
}
# Loggers whose messages come formatted already (every malformed form logs a different
# one): one budget for all their messages.
PER_LOGGER = {"python_multipart.multipart": (5, 10.0)}
MAX_KEYS = 1000  # distinct messages remembered; past it the memory starts afresh


@dataclass
class _Window:
    start: float
    passed: int = 0
    dropped: int = 0


class RateLimit(logging.Filter):
    def __init__(
        self,
        burst: int,
        period: float,
        clock: Callable[[], float] = time.monotonic,
        per_logger: bool = False,
    ) -> None:
        super().__init__()
        self.burst, self.period, self.clock = burst, period, clock
        self.per_logger = per_logger  # one budget for every message of the logger
        self.windows: dict[tuple[str, int, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, "" if self.per_logger else str(record.msg))
        now = self.clock()
        window = self.windows.get(key)
        if window is None or now - window.start >= self.period:
            if len(self.windows) >= MAX_KEYS:
                self.windows.clear()
            dropped = window.dropped if window else 0
            window = self.windows[key] = _Window(now)
            if dropped:
                record.msg = (
                    f"{record.msg} [and {dropped} more like this, dropped: at most "
                    f"{self.burst} per {self.period:g} s]"
                )
        if window.passed < self.burst:
            window.passed += 1
            return True
        window.dropped += 1
        return False


def limit_logs(
    limits: dict[str, tuple[int, float]] = LIMITS,
    per_logger: dict[str, tuple[int, float]] = PER_LOGGER,
) -> None:
    """Put one :class:`RateLimit` on each of these loggers (once)."""
    for table, shared in ((limits, False), (per_logger, True)):
        for name, (burst, period) in table.items():
            logger = logging.getLogger(name)
            if not any(isinstance(f, RateLimit) for f in logger.filters):
                logger.addFilter(RateLimit(burst, period, per_logger=shared))
