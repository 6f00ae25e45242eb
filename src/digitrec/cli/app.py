"""The ``digitrec`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from digitrec import paths
from digitrec.cli import interruptible
from digitrec.cli.check import check
from digitrec.cli.serve import serve

app = typer.Typer(add_completion=False, no_args_is_help=True)
app.command("check")(check)
app.command("serve")(serve)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Recognise handwritten digits with the model the DVC pipeline trained."""
    from digitrec.env import SERVE_PREFIX, warn_unknown
    from digitrec.serve.settings import variables

    # serve refuses unknown DIGITREC_SERVE_* variables itself
    skip = SERVE_PREFIX if ctx.invoked_subcommand == "serve" else None
    warn_unknown(skip=skip, serve=variables())


@app.command("predict")
@interruptible("predict")
def predict_command(
    images: Annotated[list[Path], typer.Argument(help="image files or folders of images")],
    model: Annotated[
        Path, typer.Option(help="a model saved by `dvc repro` (checksummed skops file)")
    ] = paths.MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print the predicted digit (and its probability) for each image.

    Pictures of any size and colours work: dark ink on light paper is inverted, and the
    digit is cropped, scaled and centred the way the training images were.

    A file that cannot be read or holds no digit (or a missing path) is reported on
    stderr, naming it, and the others go on. Exit status: 0 every image was predicted;
    1 some could not be; 2 nothing could run (no model, no images).
    """
    import numpy as np

    from digitrec.artifact import ArtifactError, load_model
    from digitrec.predict import predict, prepare
    from digitrec.transforms.imaging import ImageError, iter_image_paths, load_image

    if not model.is_file():
        typer.echo(f"error: model {model} not found; run `dvc repro` first", err=True)
        raise typer.Exit(2)
    try:
        fitted = load_model(model)
    except ArtifactError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _say_what_the_model_was_trained_on(model, fitted)
    files, failed = [], 0
    for argument in images:
        try:
            files += iter_image_paths([argument])
        except ImageError as exc:  # a missing path, or a folder without images
            typer.echo(f"error: {exc}", err=True)
            failed += 1
    ready, inputs = [], []
    for path in files:
        try:
            grey = load_image(path)  # its errors name the file
            try:
                inputs.append(prepare(fitted, grey))
            except ImageError as exc:
                raise ImageError(f"{path}: {exc}") from None
            ready.append(path)
        except ImageError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
    predictions = predict(fitted, np.stack(inputs)) if inputs else []
    for path, p in zip(ready, predictions, strict=True):
        if as_json:
            record = {"file": str(path), "digit": p.label, "probability": p.probability}
            if p.probabilities is not None:
                record["probabilities"] = {str(k): round(v, 6) for k, v in p.probabilities.items()}
            typer.echo(json.dumps(record))
        else:
            shown = "" if p.probability is None else f"  (p={p.probability:.3f})"
            typer.echo(f"{path}: {p.label}{shown}")
    if not files and not failed:
        typer.echo("error: no images found", err=True)
        raise typer.Exit(2)
    if failed:
        typer.echo(f"error: {failed} of {failed + len(ready)} failed (named above)", err=True)
        raise typer.Exit(1)


def _say_what_the_model_was_trained_on(path: Path, fitted) -> None:
    """On stderr (stdout keeps one line per image): the model's training data and, for an
    8x8 model, the recipe to use for real handwriting."""
    from digitrec.pipeline import image_spec
    from digitrec.serve.info import dataset_of, training

    note = training(dataset_of(path), image_spec(fitted))
    typer.echo(f"model {path}: {note['trained_on']}", err=True)
    if note["advice"]:
        typer.echo(f"note: {note['advice']}", err=True)
