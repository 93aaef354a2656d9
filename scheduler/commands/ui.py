"""`pagemill ui`: the review page in a browser, over the same database and object store as every command."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, err_console, safe

__all__ = ["register"]


def ui(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on [default: 127.0.0.1] [env PAGEMILL_UI_HOST]; any other "
                                    "needs PAGEMILL_UI_TOKEN.", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port to listen on [default: 8780] [env PAGEMILL_UI_PORT].", show_default=False),
    ] = None,
) -> None:
    """Serve the review page: documents and failures (with retry), each page beside its text, search, the review
    queue, corrections with their history, and re-OCR of a page."""
    from ..ui.start import start

    with cli_errors():
        refusal = start(host, port)
        if refusal:
            err_console.print(f"[red]error[/red] (config): {safe(refusal, 500)}")
            raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
