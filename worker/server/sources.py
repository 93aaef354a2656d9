"""Turn the `document` of an OCR request into a file on disk the engine can read, without any network.

Accepted: `data:` URIs (base64) in `document_url` or `image_url`, a `file_id` from `/v1/files`, and the
URLs `/v1/files/{id}/url` hands out (resolved from the local store, never fetched). Anything else is a 422.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from ..documents.inspect import DocumentLimits, inspect_document
from ..providers.base import SourceDocument
from .errors import ApiError, too_large, validation_error
from .files import FileStore
from .schemas import DocumentURLChunk, FileChunk, ImageURLChunk

__all__ = ["ResolvedDocument", "resolve_document", "file_content_path"]

_FILE_CONTENT = re.compile(r"^/v1/files/([0-9a-fA-F-]{36})/content$")
_NO_FETCH = (
    "this server makes no outbound requests, so it cannot fetch {url!r}: send the document inline as a"
    " data URI ('data:application/pdf;base64,...' or 'data:image/png;base64,...'), or upload it to"
    " /v1/files and use the"
    " URL from /v1/files/{{id}}/url or a {{\"type\": \"file\", \"file_id\": ...}} document"
)


def file_content_path(file_id: str) -> str:
    return f"/v1/files/{file_id}/content"


@dataclass(frozen=True)
class ResolvedDocument:
    source: SourceDocument
    size_bytes: int


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    max_pages: int


def _decode_data_uri(uri: str, loc: list[str | int], max_bytes: int) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma or ";base64" not in header.lower():
        raise validation_error(loc, "a data URI must be base64 encoded: 'data:<mime type>;base64,<data>'",
                               uri[:80])
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise too_large(f"the document is over the limit of {max_bytes // 2**20} MB per request; "
                        "split it or send fewer pages")
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise validation_error(loc, "the data URI's base64 content cannot be decoded", uri[:80]) from None
    if not data:
        raise validation_error(loc, "the data URI holds no data", uri[:80])
    return data


def _spool(data: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="ocr-", suffix=".bin", dir=folder)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return Path(name)


def _own_file_id(url: str, host: str | None) -> str | None:
    """The file id when `url` is one this server handed out, else None."""
    parts = urlsplit(url)
    match = _FILE_CONTENT.match(parts.path)
    if match and parts.scheme in ("http", "https") and host and parts.netloc.lower() == host.lower():
        return match.group(1)
    return None


def _target(document: DocumentURLChunk | ImageURLChunk | FileChunk, store: FileStore, host: str | None,
            limits: _Limits, spool_dir: Path) -> tuple[Path, bool]:
    """The path holding the document, and whether it is a temporary copy to delete afterwards."""
    if isinstance(document, FileChunk):
        return store.path(document.file_id), False
    if isinstance(document, DocumentURLChunk):
        url, loc = document.document_url, ["body", "document", "document_url"]
    else:
        url = document.url
        loc = ["body", "document", "image_url"] + ([] if isinstance(document.image_url, str) else ["url"])
    if url[:5].lower() == "data:":
        return _spool(_decode_data_uri(url, loc, limits.max_bytes), spool_dir), True
    file_id = _own_file_id(url, host)
    if file_id is None:
        raise validation_error(loc, _NO_FETCH.format(url=url[:200]), url[:200])
    return store.path(file_id), False


def _inspect(path: Path, limits: _Limits) -> ResolvedDocument:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise too_large(f"the document is {size / 2**20:.1f} MB, over the limit of "
                        f"{limits.max_bytes // 2**20} MB "
                        "per request; split it or send fewer pages")
    info = inspect_document(path, limits=DocumentLimits(max_file_bytes=limits.max_bytes))
    if info.page_count > limits.max_pages:
        raise ApiError(400, f"the document has {info.page_count} pages, over the limit of {limits.max_pages} "
                       "pages per document; split it", "invalid_request_error", "3730")
    return ResolvedDocument(SourceDocument(path, info.mime_type, info.kind, info.page_count), size)


@asynccontextmanager
async def resolve_document(document: DocumentURLChunk | ImageURLChunk | FileChunk, store: FileStore,
                           host: str | None, max_bytes: int, max_pages: int,
                           spool_dir: Path) -> AsyncIterator[ResolvedDocument]:
    """The document on disk and inspected; a temporary copy is removed when the block ends."""
    limits = _Limits(max_bytes, max_pages)
    path, temporary = await run_in_threadpool(_target, document, store, host, limits, spool_dir)
    try:
        yield await run_in_threadpool(_inspect, path, limits)
    finally:
        if temporary:
            path.unlink(missing_ok=True)


