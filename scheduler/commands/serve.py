"""`pagemill serve`: the Mistral-compatible OCR server over the local engine."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, err_console

__all__ = ["register"]


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option("--workers", min=0, help="OCR processes [default: one per core].", show_default=False),
    ] = 0,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="PAGEMILL_SERVE_API_KEY",
                     help="Require `Authorization: Bearer KEY` [env PAGEMILL_SERVE_API_KEY].",
                     show_default=False),
    ] = None,
    max_queue: Annotated[
        int,
        typer.Option("--max-queue", min=0,
                     help="Requests that may wait beyond the OCR processes; more get 429."),
    ] = 64,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse unknown request fields with 422.")] = False,
) -> None:
    """Serve POST /v1/ocr and /v1/files (the Mistral OCR contract) over local Tesseract, fully offline.

    Point the mistralai SDK (server_url), LibreChat, Open WebUI or pagemill's own Mistral provider
    (PAGEMILL_OCR_BASE_URL) at http://HOST:PORT."""
    import uvicorn

    from worker.server import ServerSettings, create_app

    with cli_errors():
        settings = ServerSettings(host=host, port=port, workers=workers, api_key=api_key, max_queue=max_queue,
                                  strict=strict)
        if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
            err_console.print("[yellow]warning[/yellow]: listening beyond this machine without --api-key")
        err_console.print(
            f"pagemill serve: http://{host}:{port}/v1/ocr with {settings.pool_size} OCR process(es)")
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
