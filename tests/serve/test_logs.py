"""The log rate limit of `digitrec serve`, on records made by hand and a clock set by hand."""

from __future__ import annotations

import logging

from digitrec.serve.logs import RateLimit


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, msg, args, None)


def test_at_most_burst_records_of_one_message_per_period_then_a_count():
    now = [0.0]
    limit = RateLimit(burst=3, period=10.0, clock=lambda: now[0])
    passed = [limit.filter(record("Invalid HTTP request received.")) for _ in range(1000)]
    assert sum(passed) == 3 and passed[:3] == [True] * 3
    assert limit.filter(record("another message"))  # each message has its own budget
    now[0] = 10.0
    later = record("Invalid HTTP request received.")
    assert limit.filter(later)
    assert "997 more like this, dropped" in later.getMessage()


def test_arguments_still_format_after_the_count():
    now = [0.0]
    limit = RateLimit(burst=1, period=1.0, clock=lambda: now[0])
    assert limit.filter(record("client %s sent %d%% junk", "a", 5))
    assert not limit.filter(record("client %s sent %d%% junk", "b", 6))
    now[0] = 2.0
    last = record("client %s sent %d%% junk", "c", 7)
    assert limit.filter(last)
    assert last.getMessage().startswith("client c sent 7% junk [and 1 more like this")
