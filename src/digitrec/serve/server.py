"""The uvicorn configuration of ``digitrec serve`` (used by the command and the tests)."""

from __future__ import annotations

import resource

import uvicorn
from fastapi import FastAPI

from digitrec.serve.logs import limit_logs
from digitrec.serve.protocol import protocol_class
from digitrec.serve.settings import ServeSettings

FD_MARGIN = 128  # descriptors beyond the connections: libraries, the model, log files
# Open descriptors per allowed connection at worst: the connections open, as many being
# closed to make room, and as many accepted in one go (the backlog) before either; and
# a spare one.
FDS_PER_CONNECTION = 4


def config(
    app: FastAPI,
    settings: ServeSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
) -> uvicorn.Config:
    """uvicorn's Config with the settings' connection limits and timeouts, and log lines
    rate-limited. uvicorn's own options do part of it (``timeout_keep_alive``,
    ``h11_max_incomplete_event_size``); :mod:`digitrec.serve.protocol` the rest."""
    cfg = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(
            settings.max_connections,
            settings.timeout_head,
            settings.timeout_body,
            settings.max_header_bytes,
        ),
        ws="none",  # no WebSocket routes: an upgrade request stays plain HTTP
        lifespan="on",
        # asyncio accepts up to `backlog` connections in one go before any is closed:
        # keep that within the cap, so open descriptors stay within about twice the cap
        backlog=settings.max_connections,
        timeout_keep_alive=settings.timeout_keep_alive,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        access_log=settings.access_log,
        log_level=log_level,
    )
    limit_logs()  # after Config: it configures uvicorn's logging
    return cfg


def ensure_descriptors(settings: ServeSettings) -> tuple[ServeSettings | None, str | None]:
    """Raise this process's open-file limit to fit ``max_connections`` (up to the hard
    limit). Returns the settings to serve with, and a line to print. When the hard limit
    is too low, a ``max_connections`` set in the environment is an error (no settings);
    the default is lowered to fit (a warning)."""
    need = FDS_PER_CONNECTION * settings.max_connections + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return settings, None
    if hard == resource.RLIM_INFINITY or hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return settings, None
    fits = (hard - FD_MARGIN) // FDS_PER_CONNECTION
    why = (
        f"DIGITREC_SERVE_MAX_CONNECTIONS = {settings.max_connections} needs {need} open files, "
        f"but the limit is {hard} (ulimit -Hn)"
    )
    if "max_connections" in settings.model_fields_set or fits < 4:
        return None, f"{why}; set it to at most {max(fits, 4)}, or raise the limit"
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lowered = settings.model_copy(update={"max_connections": fits})
    return lowered, f"{why}: serving with max_connections = {fits}"
