"""`pagemill mcp`: the archive as a Model Context Protocol server (the official `mcp` SDK's MCPServer), over
stdio for desktop assistants or streamable HTTP (127.0.0.1 by default; any other address only with a token,
sent as `Authorization: Bearer <token>`).

Read-only by default: search, list_documents, get_document, get_page, get_chunks, get_fields, and resources
for documents and pages. `submit` and `extract` exist only with `allow_writes`, and take only paths under the
allowed folders (or, for `submit`, an http(s) URL: scheduler/mcp/download.py).
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations

from models.db import Database
from models.errors import ConfigError, PagemillError

from .download import DownloadLimits
from .tools import Archive

__all__ = ["McpOptions", "build_server", "check_bind", "serve_stdio", "serve_http", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
INSTRUCTIONS = (
    "pagemill's archive of OCR'd documents (PDFs and images): full-text search over their pages, each page's "
    "markdown with tables in place (0-based page numbers), retrieval chunks with heading paths, and extracted "
    "fields. Cite a document by filename and page. Lists are paginated: pass next_cursor back as cursor."
)


@dataclass
class McpOptions:
    allow_writes: bool = False
    allowed_folders: list[Path] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    path: str = "/mcp"
    download: DownloadLimits = field(default_factory=DownloadLimits)  # submit of a URL


def check_bind(host: str, token: str | None) -> None:
    """An address beyond loopback is refused without a token: the archive is not for the whole network."""
    if host not in LOOPBACK_HOSTS and not token:
        raise ConfigError(f"--host {host} listens beyond this machine: set a token (--token or PAGEMILL_MCP_TOKEN)"
                          " that clients send as 'Authorization: Bearer <token>', or keep 127.0.0.1")


def _tool(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A pagemill error becomes the tool's error message (no traceback for the assistant to read)."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PagemillError as err:
            raise ToolError(err.message) from None

    return wrapper


def build_server(db: Database, options: McpOptions | None = None) -> Any:
    from mcp.server.mcpserver import MCPServer

    options = options or McpOptions()
    archive = Archive(db, list(options.allowed_folders), download_limits=options.download)
    server = MCPServer("pagemill", instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

    @server.tool(annotations=read_only)
    @_tool
    def search(query: str, limit: int = 10, collection: str | None = None,
               cursor: str | None = None) -> dict[str, Any]:
        """Full-text search over every stored page (its text, tables and image descriptions): all words must
        appear; end a word with * for a prefix. Hits give document_id, filename, page (0-based) and a snippet
        with matches in <mark>; pass next_cursor as cursor for more."""
        return archive.search(query, limit, collection, cursor)

    @server.tool(annotations=read_only)
    @_tool
    def list_documents(status: str | None = None, collection: str | None = None, limit: int = 50,
                       cursor: str | None = None) -> dict[str, Any]:
        """Stored documents (id, filename, status, collection, page count), oldest first; status is one of
        queued, running, done, partial, failed, cancelled."""
        return archive.list_documents(status, collection, limit, cursor)

    @server.tool(annotations=read_only)
    @_tool
    def get_document(document_id: int) -> dict[str, Any]:
        """One document's metadata, page count, status and extracted fields."""
        return archive.get_document(document_id)

    @server.tool(annotations=read_only)
    @_tool
    def get_page(document_id: int, page: int, offset: int = 0,
                 image: bool = False) -> Annotated[CallToolResult, dict[str, Any]]:
        """One page's markdown (0-based page), tables in place, the corrected text if a person corrected it;
        a long page comes in parts: pass next_offset as offset. image=true adds the page itself as a PNG or
        JPEG image (at most 1568 px on its longer edge)."""
        answer = archive.get_page(document_id, page, offset)
        content: list[TextContent | ImageContent] = [
            TextContent(type="text", text=json.dumps(answer, ensure_ascii=False, indent=2))]
        if image:
            picture = archive.page_image(document_id, page)
            answer["image"] = {"mime_type": picture.mime_type, "width": picture.width, "height": picture.height}
            content.append(ImageContent(type="image", data=base64.b64encode(picture.data).decode("ascii"),
                                        mime_type=picture.mime_type))
        return CallToolResult(content=content, structured_content=answer)

    @server.tool(annotations=read_only)
    @_tool
    def get_chunks(document_id: int, cursor: str | None = None, limit: int = 20, max_size: int | None = None,
                   unit: str = "chars", overlap: int = 0) -> dict[str, Any]:
        """A document as retrieval chunks that follow its headings (heading_path), tables and lists, with the
        pages each came from; max_size in chars (default 2000) or tokens (unit='tokens', default 512)."""
        return archive.get_chunks(document_id, cursor, limit, max_size, unit, overlap)

    @server.tool(annotations=read_only)
    @_tool
    def get_fields(schema: str, document_id: int | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict[str, Any]:
        """The fields extracted under a schema name, one row per document."""
        return archive.get_fields(schema, document_id, limit, cursor)

    if options.allow_writes:
        writes = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)

        @server.tool(annotations=writes)
        @_tool
        def submit(path: str, collection: str | None = None) -> dict[str, Any]:
            """Queue a file or folder for OCR (only paths under the folders this server was allowed to read), or
            a PDF or image at an http(s) URL (downloaded, size-limited; internal addresses refused)."""
            return archive.submit(path, collection)

        @server.tool(annotations=writes)
        @_tool
        def extract(schema_path: str, documents: list[str]) -> dict[str, Any]:
            """Extract fields (a JSON schema file under an allowed folder) from stored documents (ids or job:N)
            through the configured chat model."""
            return archive.extract(schema_path, documents)

    @server.resource("pagemill://documents", name="documents", mime_type="application/json",
                     description="The first documents of the archive (list_documents pages through all).")
    def documents_resource() -> str:
        return json.dumps(archive.list_documents(limit=100), ensure_ascii=False)

    @server.resource("pagemill://documents/{document_id}", name="document", mime_type="application/json",
                     description="A document's metadata, fields and the URIs of its pages.")
    def document_resource(document_id: int) -> str:
        return json.dumps(archive.get_document(int(document_id)), ensure_ascii=False)

    @server.resource("pagemill://documents/{document_id}/pages/{page}", name="page", mime_type="text/markdown",
                     description="A page's markdown with its tables in place (0-based page).")
    def page_resource(document_id: int, page: int) -> str:
        return str(archive.get_page(int(document_id), int(page))["markdown"])

    return server


def serve_stdio(db: Database, options: McpOptions) -> None:
    build_server(db, options).run("stdio")


class _BearerToken:
    """ASGI middleware: every HTTP request carries `Authorization: Bearer <token>` or gets 401."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
                body = b'{"error": "a token is required: Authorization: Bearer <token>"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(db: Database, options: McpOptions) -> Any:
    check_bind(options.host, options.token)
    app = build_server(db, options).streamable_http_app(streamable_http_path=options.path, host=options.host)
    return _BearerToken(app, options.token) if options.token else app


def serve_http(db: Database, options: McpOptions) -> None:
    import uvicorn

    app = http_app(db, options)
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", lifespan="on")
