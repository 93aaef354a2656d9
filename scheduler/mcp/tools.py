"""What the MCP server answers, as plain functions over the database: every answer bounded in size, lists
paginated by an opaque cursor (`next_cursor` is null on the last page). The server (server.py) wraps them.

    archive = Archive(db)
    archive.search("invoice total", limit=5)        # {"hits": [{document_id, filename, page, snippet, uri}], ...}
    archive.get_page(3, 0)                          # markdown with its tables in place
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from models.db import Database
from models.errors import ConfigError
from models.tables import Document, FieldsRow, FieldsStatus, Page

from .download import DownloadLimits

if TYPE_CHECKING:
    from worker.objects.store import ObjectStore

    from .page_image import PageImage

__all__ = ["Archive", "MAX_ANSWER_CHARS", "MAX_LIMIT", "document_uri", "page_uri", "check_allowed"]

MAX_ANSWER_CHARS = 40_000  # about 10,000 tokens: what an assistant can take in one answer without drowning
MAX_LIMIT = 100


def document_uri(doc_id: int) -> str:
    return f"pagemill://documents/{doc_id}"


def page_uri(doc_id: int, page: int) -> str:
    return f"pagemill://documents/{doc_id}/pages/{page}"


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise ConfigError(f"bad cursor {cursor!r}: pass the next_cursor of the previous answer")
    return int(cursor)


def _limit(limit: int, default: int = 20) -> int:
    return max(1, min(int(limit or default), MAX_LIMIT))


def _bounded(items: list[dict[str, Any]], start: int, budget: int = MAX_ANSWER_CHARS) -> tuple[list[dict[str, Any]], int]:
    """As many items as fit in the answer's budget (at least one); returns them and how many were taken."""
    import json

    out, used = [], 0
    for item in items:
        cost = len(json.dumps(item, ensure_ascii=False, default=str))
        if out and used + cost > budget:
            break
        out.append(item)
        used += cost
    return out, start + len(out)


def check_allowed(path: Path, folders: list[Path]) -> Path:
    """`path` resolved (links followed) when it lies under one of `folders`; raises otherwise."""
    resolved = path.expanduser().resolve()
    for folder in folders:
        if resolved.is_relative_to(folder.expanduser().resolve()):
            return resolved
    raise ConfigError(f"{path} is not under a folder this server may read"
                      + (" (none were given: start it with --allow-folder DIR)" if not folders else ""))


@dataclass
class Archive:
    db: Database
    allowed_folders: list[Path] = field(default_factory=list)
    objects: ObjectStore | None = None  # built from the settings when first needed (page images)
    download_limits: DownloadLimits = field(default_factory=DownloadLimits)  # submit of a URL

    def object_store(self) -> ObjectStore:
        if self.objects is None:
            from worker.objects.registry import object_store
            from worker.settings import WorkerSettings

            self.objects = object_store(WorkerSettings())
        return self.objects

    # ---- reading -------------------------------------------------------------------------------------------

    def search(self, query: str, limit: int = 10, collection: str | None = None,
               cursor: str | None = None) -> dict[str, Any]:
        from models.search import search

        start, limit = _offset(cursor), _limit(limit, 10)
        want = start + limit
        # the collection is filtered in the query, before ranking; one more hit than asked says whether there are more
        fetched = search(self.db, query, limit=min(1000, want + 1), collection=collection)
        hits = [{"document_id": h.document_id, "filename": h.filename, "page": h.page_index,
                 "snippet": h.snippet, "matched": h.matched, "uri": page_uri(h.document_id, h.page_index)}
                for h in fetched[start:want]]
        shown, end = _bounded(hits, start)
        more = end < len(fetched)
        return {"query": query, "hits": shown, "next_cursor": str(end) if more else None,
                "note": "page numbers are 0-based; get_page(document_id, page) gives the page's text"}

    def list_documents(self, status: str | None = None, collection: str | None = None, limit: int = 50,
                       cursor: str | None = None) -> dict[str, Any]:
        after, limit = _offset(cursor), _limit(limit, 50)
        q = select(Document.id, Document.filename, Document.status, Document.collection, Document.page_count,
                   Document.created_at).where(Document.id > after).order_by(Document.id).limit(limit + 1)
        if status:
            q = q.where(Document.status == status)
        if collection:
            q = q.where(Document.collection == collection)
        with self.db.read_session() as s:
            rows = s.execute(q).all()
        docs = [{"id": r.id, "filename": r.filename, "status": r.status, "collection": r.collection,
                 "page_count": r.page_count, "created_at": r.created_at.isoformat() if r.created_at else None,
                 "uri": document_uri(r.id)} for r in rows[:limit]]
        shown, _ = _bounded(docs, 0)
        more = len(rows) > limit or len(shown) < len(docs)
        return {"documents": shown, "next_cursor": str(shown[-1]["id"]) if more and shown else None}

    def get_document(self, document_id: int) -> dict[str, Any]:
        with self.db.read_session() as s:
            doc = s.get(Document, int(document_id))
            if doc is None:
                raise ConfigError(f"no document {document_id}; list_documents lists them")
            stored = s.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc.id)) or 0
            fields = s.execute(select(FieldsRow.schema_name, FieldsRow.data).where(
                FieldsRow.document_id == doc.id, FieldsRow.status == FieldsStatus.done)
                .order_by(FieldsRow.updated_at, FieldsRow.id)).all()
            out = {"id": doc.id, "filename": doc.filename, "sha256": doc.sha256, "mime_type": doc.mime_type,
                   "status": doc.status, "error": doc.error, "collection": doc.collection,
                   "page_count": doc.page_count, "pages_stored": stored,
                   "created_at": doc.created_at.isoformat() if doc.created_at else None,
                   "fields": {name: data for name, data in fields},  # the newest row of each schema wins
                   "uri": document_uri(doc.id),
                   "pages": [page_uri(doc.id, i) for i in range(min(stored, 200))]}
        return out

    def get_page(self, document_id: int, page: int, offset: int = 0) -> dict[str, Any]:
        """The page's markdown (the corrected text if a person corrected it) with its tables in place."""
        from models.tables import PageTable

        from ..export.page_markdown import StoredTable, readable_page

        with self.db.read_session() as s:
            row = s.execute(select(Page.markdown, Page.confidence_avg, Page.source).where(
                Page.document_id == int(document_id), Page.page_index == int(page))).first()
            if row is None:
                raise ConfigError(f"document {document_id} has no stored page {page} (pages are 0-based)")
            tables = [StoredTable(t.table_id, t.content) for t in s.scalars(select(PageTable).where(
                PageTable.document_id == int(document_id), PageTable.page_index == int(page)).order_by(PageTable.id))]
            filename = s.scalar(select(Document.filename).where(Document.id == int(document_id)))
        text = readable_page(row.markdown or "", tables)
        offset = max(0, int(offset))
        part = text[offset:offset + MAX_ANSWER_CHARS]
        end = offset + len(part)
        return {"document_id": int(document_id), "filename": filename, "page": int(page), "markdown": part,
                "offset": offset, "total_chars": len(text), "next_offset": end if end < len(text) else None,
                "confidence": row.confidence_avg, "source": row.source, "uri": page_uri(int(document_id), int(page))}

    def page_image(self, document_id: int, page: int) -> PageImage:
        """The page rendered from its original, at most MAX_EDGE_PX on its longer edge (PNG or JPEG)."""
        from .page_image import render_page_image

        return render_page_image(self.db, self.object_store(), int(document_id), int(page))

    def get_chunks(self, document_id: int, cursor: str | None = None, limit: int = 20, max_size: int | None = None,
                   unit: str = "chars", overlap: int = 0) -> dict[str, Any]:
        from ..chunks import ChunkOptions, document_chunks

        try:
            options = ChunkOptions(max_size, overlap, unit)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        start, limit = _offset(cursor), _limit(limit, 20)
        chunks = document_chunks(self.db, int(document_id), options)
        items = [c.to_dict() for c in chunks[start:start + limit]]
        shown, end = _bounded(items, start)
        return {"document_id": int(document_id), "total": len(chunks), "chunks": shown,
                "next_cursor": str(end) if end < len(chunks) else None}

    def get_fields(self, schema: str, document_id: int | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict[str, Any]:
        from ..reports.fields import fields_table

        columns, rows = fields_table(self.db, schema)
        if document_id is not None:
            rows = [r for r in rows if r["document_id"] == int(document_id)]
        start, limit = _offset(cursor), _limit(limit, 50)
        shown, end = _bounded(rows[start:start + limit], start)
        return {"schema": schema, "columns": columns, "rows": shown,
                "next_cursor": str(end) if end < len(rows) else None}

    # ---- writing (only with --allow-writes) ------------------------------------------------------------------

    def submit(self, path: str, collection: str | None = None) -> dict[str, Any]:
        from .. import submit
        from .download import is_url

        if is_url(path):
            return self._submit_url(path, collection)
        target = check_allowed(Path(path), self.allowed_folders)
        if not target.exists():
            raise ConfigError(f"{path} does not exist")
        job = submit([target], collection=collection, wait=False)
        return self._submitted(job)

    def _submit_url(self, url: str, collection: str | None) -> dict[str, Any]:
        """Fetched into a folder of its own under the data folder, registered (intake copies it into the object
        store), then removed: the object store keeps the document, not the download folder."""
        import shutil
        import uuid

        from worker.settings import WorkerSettings

        from .. import submit
        from .download import download

        folder = WorkerSettings().data_dir / "downloads" / uuid.uuid4().hex
        try:
            path = download(url, folder, self.download_limits)
            job = submit([path], collection=collection, wait=False)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {**self._submitted(job), "url": url, "filename": path.name}

    @staticmethod
    def _submitted(job: Any) -> dict[str, Any]:
        return {"job": job.id, "documents": job.document_ids,
                "unreadable": [{"path": p, "reason": r} for p, r in job.unreadable],
                "note": "the documents are queued; list_documents shows their status"}

    def extract(self, schema_path: str, documents: list[str]) -> dict[str, Any]:
        from worker.extraction.schema import load_schema

        from ..launch.extract import extract_documents

        schema = load_schema(check_allowed(Path(schema_path), self.allowed_folders))
        report = extract_documents(schema, refs=[str(d) for d in documents], db=self.db)
        return {"schema": schema.name, "done": [e[0] for e in report.done], "skipped": [e[0] for e in report.skipped],
                "failed": [{"document_id": e[0], "filename": e[1], "error": e[2]} for e in report.failed]}
