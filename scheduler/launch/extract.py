"""extract_documents(): the Python API behind `pagemill extract` (fields from stored markdown, no OCR).

    report = extract_documents(load_schema(Path("invoice.schema.json")), refs=["job:3"])
    report.done, report.skipped, report.failed     # lists of (document_id, filename, message)

Documents run on up to PAGEMILL_EXTRACT_MAX_INFLIGHT threads of this process, paced by the shared rate limiter
(Redis when the broker is Redis, else the database), so several `extract` commands and workers together stay
within the server's limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select

from models.db import Database
from models.errors import ConfigError, ProviderAuthError
from models.tables import DocStatus, Document
from worker.extraction.client import ExtractClient
from worker.extraction.extract import Outcome, extract_document
from worker.extraction.schema import ExtractionSchema
from worker.extraction.settings import ExtractSettings
from worker.extraction.store import save_schema
from worker.settings import WorkerSettings

from ..console import resolve_document
from .rerun import documents_of_job

__all__ = ["ExtractReport", "extract_documents", "resolve_targets"]

Entry = tuple[int, str, str | None]


@dataclass
class ExtractReport:
    done: list[Entry] = field(default_factory=list)
    skipped: list[Entry] = field(default_factory=list)
    failed: list[Entry] = field(default_factory=list)


def resolve_targets(db: Database, refs: Sequence[str], every: bool) -> list[int]:
    """Document ids from ids / SHA-256 prefixes / job:N, or every done or partial document."""
    if every and refs:
        raise ConfigError("give documents (or job:N) or --all, not both")
    if every:
        with db.read_session() as s:
            return list(s.scalars(select(Document.id).where(
                Document.status.in_((DocStatus.done, DocStatus.partial))).order_by(Document.id)))
    if not refs:
        raise ConfigError("name the documents to extract from: ids, SHA-256 prefixes, job:N, or --all")
    ids: list[int] = []
    for ref in refs:
        if ref.lower().startswith("job:"):
            ids += documents_of_job(db, int(ref[4:]) if ref[4:].isdigit() else -1)
        else:
            ids.append(resolve_document(db, ref))
    return list(dict.fromkeys(ids))


def _filenames(db: Database, ids: Sequence[int]) -> dict[int, str]:
    with db.read_session() as s:
        rows = s.execute(select(Document.id, Document.filename).where(Document.id.in_(list(ids)))).all()
    return {doc_id: filename for doc_id, filename in rows}


def extract_documents(
    schema: ExtractionSchema, refs: Sequence[str] = (), every: bool = False, force: bool = False,
    prompt: str | None = None, settings: ExtractSettings | None = None, db: Database | None = None,
    on_result: Callable[[int, str, Outcome], None] | None = None,
) -> ExtractReport:
    from worker.ratelimit.limiter import build_limiter

    worker_settings = WorkerSettings()
    settings = settings or ExtractSettings()
    if db is None:
        db = Database.from_settings()
        db.migrate()
    ids = resolve_targets(db, refs, every)
    save_schema(db, schema)
    names = _filenames(db, ids)
    report = ExtractReport()
    if not ids:
        return report
    limiter = build_limiter(worker_settings, name=settings.limiter_name, rate_per_s=settings.rate_limit,
                            max_inflight=settings.max_inflight, lease_s=settings.timeout_s + 30)
    client = ExtractClient.from_settings(settings, worker_settings.api_key, limiter)
    stopped: list[ProviderAuthError] = []

    def one(doc_id: int) -> None:
        if stopped:
            return
        try:
            outcome = extract_document(db, client, schema, doc_id, settings, force, prompt)
        except ProviderAuthError as err:
            stopped.append(err)
            return
        entry = (doc_id, names.get(doc_id, "?"), outcome.message or outcome.note)
        {"done": report.done, "skipped": report.skipped, "failed": report.failed}[outcome.status].append(entry)
        if on_result is not None:
            on_result(doc_id, names.get(doc_id, "?"), outcome)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(settings.max_inflight, len(ids)))) as pool:
            list(pool.map(one, ids))
    finally:
        client.close()
    if stopped:
        raise stopped[0]
    return report
