"""`pagemill describe IMAGE...`: descriptions from the vision model, printed directly (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.errors import ConfigError, PagemillError, ProviderAuthError

from ..console import cli_errors, err_console, safe

__all__ = ["register", "printable"]


def printable(text: str) -> str:
    """Server text made safe for a terminal: control characters (escape sequences) dropped, lines kept."""
    return "\n".join("".join(ch for ch in line if ch.isprintable()) for line in text.splitlines()).strip()


def describe(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, WebP, GIF, TIFF, BMP).",
                                                 show_default=False, metavar="IMAGE")],
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="What to ask about each image (env PAGEMILL_VISION_PROMPT; default: a "
                     "short factual description suitable as alt text).", show_default=False),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Vision model (env PAGEMILL_VISION_MODEL; default mistral-small-latest).",
                     show_default=False),
    ] = None,
) -> None:
    """Describe images with the vision model at PAGEMILL_VISION_BASE_URL and print the descriptions.

    Images are downscaled to PAGEMILL_VISION_MAX_SIDE (1540 px) and sent inline as base64;
    429 and 5xx are retried. Exit 1 if an image could not be described, 5 on a rejected API key."""
    from worker.settings import WorkerSettings
    from worker.vision.client import VisionClient
    from worker.vision.describe import describe_prepared, prepare_for
    from worker.vision.settings import VisionSettings

    with cli_errors():
        settings = VisionSettings()
        if not settings.enabled:
            raise ConfigError("no vision server: set PAGEMILL_VISION_BASE_URL (e.g. https://api.mistral.ai) "
                              "and PAGEMILL_VISION_API_KEY")
        if model:
            settings = settings.model_copy(update={"model": model})
        client = VisionClient.from_settings(settings, WorkerSettings().api_key)
        failed = 0
        try:
            for path in images:
                if len(images) > 1:
                    typer.echo(f"== {printable(str(path))}")
                try:
                    prepared = prepare_for(path.read_bytes(), settings)
                    desc = describe_prepared(client, prepared, prompt or settings.prompt, settings.max_attempts,
                                             settings.retry_base_s, min(settings.retry_max_s, 60.0))
                except OSError as exc:
                    failed += 1
                    err_console.print(f"[red]error[/red]: {safe(str(path))}: {safe(exc.strerror or str(exc))}")
                    continue
                except PagemillError as err:
                    if isinstance(err, ProviderAuthError | ConfigError):
                        raise  # a bad key or configuration: every next image would fail the same way
                    failed += 1
                    shown = f"{safe(str(path))}: {safe(err.message, 2000)}"
                    err_console.print(f"[red]error[/red] ({err.code}): {shown}")
                    continue
                typer.echo(printable(desc.text))
        finally:
            client.close()
        if failed:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("describe")(describe)
