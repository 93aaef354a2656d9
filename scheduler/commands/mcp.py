"""`pagemill mcp`: the archive to assistants and agents over the Model Context Protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import cli_errors, err_console

__all__ = ["register"]


def mcp(
    transport: Annotated[str, typer.Option("--transport", help="stdio (a desktop assistant starts the command) or"
                                           " http (streamable HTTP at http://HOST:PORT/mcp).")] = "stdio",
    host: Annotated[str, typer.Option("--host", envvar="PAGEMILL_MCP_HOST", help="http: address to listen on;"
                                      " any other than loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="PAGEMILL_MCP_PORT", help="http: port.")] = 8765,
    token: Annotated[str | None, typer.Option("--token", envvar="PAGEMILL_MCP_TOKEN", show_default=False,
                                              help="http: clients must send 'Authorization: Bearer <token>'.")] = None,
    allow_writes: Annotated[bool, typer.Option("--allow-writes", help="Offer the submit and extract tools"
                                               " (paths only under --allow-folder).")] = False,
    allow_folder: Annotated[list[Path] | None, typer.Option("--allow-folder", help="A folder whose files submit and"
                                                            " extract may read; repeat for several.")] = None,
    allow_private_urls: Annotated[bool, typer.Option(
        "--allow-private-urls", envvar="PAGEMILL_MCP_ALLOW_PRIVATE_URLS", help="submit may fetch URLs on loopback,"
        " private and link-local addresses (an intranet server); refused by default.")] = False,
    max_download_mb: Annotated[int, typer.Option("--max-download-mb", envvar="PAGEMILL_MCP_MAX_DOWNLOAD_MB", min=1,
                                                 help="submit of a URL: the largest document fetched.")] = 200,
    download_timeout_s: Annotated[float, typer.Option(
        "--download-timeout", envvar="PAGEMILL_MCP_DOWNLOAD_TIMEOUT_S", min=1,
        help="submit of a URL: seconds the whole download may take.")] = 120.0,
) -> None:
    """A Model Context Protocol server over the archive: search, documents, pages (tables in place), chunks and
    fields for assistants; read-only unless --allow-writes."""
    from models.db import Database
    from models.errors import ConfigError

    with cli_errors():
        if transport not in ("stdio", "http"):
            raise ConfigError(f"unknown transport {transport!r}; choose stdio or http")
        try:
            import mcp as _  # noqa: F401
        except ImportError:
            raise ConfigError("the mcp package is missing: pip install 'mcp>=2.3'") from None
        # the server module imports the SDK's types (the tools' annotations are resolved from its globals)
        from ..mcp.download import DownloadLimits
        from ..mcp.server import McpOptions, check_bind, serve_http, serve_stdio

        limits = DownloadLimits(max_download_mb, download_timeout_s, allow_private_urls)
        options = McpOptions(allow_writes, list(allow_folder or []), host, port, token, download=limits)
        if allow_writes and not options.allowed_folders:
            err_console.print("--allow-writes without --allow-folder: submit and extract will refuse every path")
        if transport == "http":
            check_bind(host, token)
        db = Database.from_settings()
        db.migrate()
    if transport == "stdio":
        serve_stdio(db, options)
    else:
        err_console.print(f"MCP over streamable HTTP at http://{host}:{port}/mcp")
        serve_http(db, options)


def register(app: typer.Typer) -> None:
    app.command()(mcp)
