"""``digitrec serve``: the model behind an HTTP API and a drawing page.

Registered in :mod:`digitrec.cli.app` with ``app.command("serve")(serve)``. Heavy imports
(FastAPI, uvicorn, skops) happen inside the command, so ``digitrec predict`` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digitrec.paths import MODEL


def serve(
    model: Annotated[
        Path, typer.Option(help="a model saved by `dvc repro` (.skops, with its .sha256 beside it)")
    ] = MODEL,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")] = 8000,
) -> None:
    """Serve predictions over HTTP, with a page to draw digits on at http://HOST:PORT/.

    POST /predict takes PNG/JPEG images (multipart or a bare body) or JSON pixels;
    GET /health and /model tell what is loaded; GET /openapi.json describes the API.
    The model's SHA-256 and types are checked before anything is served. Limits and
    timeouts come from DIGITREC_SERVE_* environment variables (see digitrec.serve.settings):
    MAX_UPLOAD_BYTES, MAX_PIXELS, MAX_REQUEST_PIXELS, SMALL_REQUEST_PIXELS, MAX_BATCH,
    FORMATS, MAX_CONCURRENCY, MAX_CONNECTIONS, TIMEOUT_HEAD, TIMEOUT_BODY,
    TIMEOUT_KEEP_ALIVE, MAX_HEADER_BYTES, ACCESS_LOG; any other DIGITREC_SERVE_* is refused.
    """
    import uvicorn
    from pydantic import ValidationError
    from threadpoolctl import threadpool_limits

    from digitrec.artifact import ArtifactError
    from digitrec.serve.app import create_app
    from digitrec.serve.server import config, ensure_descriptors
    from digitrec.serve.settings import ServeSettings, unknown_variables

    unknown = unknown_variables()
    if unknown:
        typer.echo("error: " + "\n       ".join(unknown), err=True)
        raise typer.Exit(2)
    try:
        settings = ServeSettings()
    except ValidationError as exc:
        typer.echo(f"error: invalid DIGITREC_SERVE_* setting:\n{exc}", err=True)
        raise typer.Exit(2) from None
    fitted, note = ensure_descriptors(settings)
    if fitted is None:
        typer.echo(f"error: {note}", err=True)
        raise typer.Exit(2)
    if note:
        typer.echo(f"warning: {note}", err=True)
    settings = fitted
    try:
        app = create_app(model, settings)
    except ArtifactError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    loaded = app.state.artifact
    typer.echo(f"serving {loaded.path} (sha256 {loaded.sha256})", err=True)
    # One BLAS/OpenMP thread per request: on a few cores, concurrent requests would
    # otherwise fight over threads (and predictions never depend on it).
    threadpool_limits(limits=1)
    server = uvicorn.Server(config(app, settings, host, port))
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down (as uvicorn.run)
        pass
    if not server.started:  # could not listen (e.g. the port is taken): uvicorn logged why
        raise typer.Exit(3)
