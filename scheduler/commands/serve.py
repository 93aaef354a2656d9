"""`pagemill serve`: the Mistral-compatible OCR server over the local engine or the configured provider."""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import cli_errors, err_console

__all__ = ["register"]


def serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on [default: 127.0.0.1] [env PAGEMILL_SERVE_HOST].",
                     show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port to listen on [default: 8000] [env PAGEMILL_SERVE_PORT].",
                     show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=0,
                     help="OCR processes [default: one per core] [env PAGEMILL_SERVE_WORKERS].", show_default=False),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="PAGEMILL_SERVE_API_KEY",
                     help="Require `Authorization: Bearer KEY` [env PAGEMILL_SERVE_API_KEY].",
                     show_default=False),
    ] = None,
    max_queue: Annotated[
        int | None,
        typer.Option("--max-queue", min=0,
                     help="Requests that may wait beyond the OCR processes; more get 429 "
                          "[default: 64] [env PAGEMILL_SERVE_MAX_QUEUE].", show_default=False),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option("--strict/--no-strict",
                     help="Refuse unknown request fields with 422 [default: off] [env PAGEMILL_SERVE_STRICT].",
                     show_default=False),
    ] = None,
) -> None:
    """Serve POST /v1/ocr and /v1/files (the Mistral OCR contract) over local Tesseract, fully offline, or over
    the provider PAGEMILL_PROVIDER names (PAGEMILL_PROVIDER=vlm: a self-hosted vision model).

    Point the mistralai SDK (server_url), LibreChat, Open WebUI or pagemill's own Mistral provider
    (PAGEMILL_OCR_BASE_URL) at http://HOST:PORT. An option given on the command line wins over its
    PAGEMILL_SERVE_... variable."""
    import uvicorn

    from worker.server import ServerSettings, create_app
    from worker.settings import LOCAL_PROVIDERS, WorkerSettings

    with cli_errors():
        given = {"host": host, "port": port, "workers": workers, "api_key": api_key, "max_queue": max_queue,
                 "strict": strict}
        settings = ServerSettings(**{k: v for k, v in given.items() if v is not None})  # the rest: environment
        if settings.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
            err_console.print("[yellow]warning[/yellow]: listening beyond this machine without --api-key")
        worker = WorkerSettings()
        server = create_app(settings, worker)
        reader = (f"{settings.pool_size} OCR process(es)" if worker.provider in LOCAL_PROVIDERS
                  else f"the {worker.provider} provider ({server.state.pool.model})")
        err_console.print(f"pagemill serve: http://{settings.host}:{settings.port}/v1/ocr with {reader}")
        uvicorn.run(server, host=settings.host, port=settings.port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
