"""The archive (`run/submit/watch --archive DIR`, PAGEMILL_ARCHIVE_DIR): each finished document's searchable PDF
written into a folder or a bucket, under the original file's name, and written again when a page changes.

Which documents are due, and the lease that keeps two archivers off one document, are models/archive.py. Here:
- the PDF is the export's own (`write_searchable_pdf`, scheduler/export/pdf.py), written to a temporary file of
  this host, then handed to the archive's store (`object_store`, the one builder of stores, with the archive's
  URL) by `put_named`: a temp name renamed into place in a folder, one PUT in a bucket. No reader sees half a file;
  a failed write leaves nothing behind but what was there before.
- the name: `report.pdf` stays `report.pdf`, `scan.png` becomes `scan.pdf`. A name another document chose, or a
  file already there that pagemill did not write (a user's own, another folder's `report.pdf`), is never
  overwritten: the next free `report (2).pdf`, `report (3).pdf`... is taken, and the chosen name is recorded on
  the document (documents.archive_name) before the write, so every rewrite goes to the same name.
- errors (the original missing from the store, an unwritable or full archive, a page the PDF writer refuses)
  become documents.archive_error, readable, and the write is tried again after RETRY_S; the document, its pages
  and the caller (the sweep, a run) carry on.

Called by the sweeps (scheduler/sweep/periodic.py: `pagemill scheduler`, and the embedded workers of `run`,
`submit --wait` and `watch`), by a direct run every few seconds (scheduler/launch/direct.py), and at the end of
`submit(wait=True)` / `run` for the job's documents.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from models.archive import (
    ArchiveClaim,
    archive_due,
    archive_failed,
    archive_names_taken,
    archived,
    claim_archive,
    name_archive,
)
from models.db import Database
from models.errors import ConfigError, PagemillError, StorageError
from worker.objects.registry import object_store
from worker.objects.store import ObjectStore
from worker.settings import WorkerSettings

from .pdf import write_searchable_pdf

__all__ = ["ArchiveReport", "archive_name", "archive_pending", "archive_store", "check_archive", "name_candidates"]

log = logging.getLogger("pagemill.archive")

_MAX_NAME_BYTES = 200  # under every filesystem's 255, with room for " (NNN)" and the temp file's affixes
_MAX_TRIES = 1000  # report.pdf ... report (1000).pdf
# one write at a time in this process: the sweep thread and the end of a run never write the same document, and
# the end of a run knows, once it holds this, that no write of this process is under way
_WRITING = threading.Lock()


@dataclass
class ArchiveReport:
    written: list[tuple[int, str]] = field(default_factory=list)  # (document, name in the archive)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (document, why)


def archive_name(filename: str, mime_type: str | None, document_id: int) -> str:
    """The name of a document's searchable PDF: the original's (a PDF named *.pdf), else its stem plus `.pdf`
    (`scan.png` -> `scan.pdf`), made safe for any folder or bucket (no separators, control characters or
    leading dots; at most _MAX_NAME_BYTES)."""
    name = unicodedata.normalize("NFC", PurePosixPath(filename.replace("\\", "/")).name)
    name = "".join("_" if unicodedata.category(c)[0] == "C" else c for c in name).strip().lstrip(".")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    if (mime_type or "") != "application/pdf":
        ext = "pdf"  # an image: scan.png -> scan.pdf
    elif ext.lower() != "pdf":
        stem, ext = name, "pdf"  # a PDF named without its extension (Report.PDF stays as it is)
    stem = stem.strip() or f"document-{document_id}"
    while len(stem.encode()) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    return f"{stem}.{ext}"


def name_candidates(name: str) -> Iterator[str]:
    """`report.pdf`, `report (2).pdf`, `report (3).pdf`, ... (the way file managers name a second copy)."""
    yield name
    stem, _, ext = name.rpartition(".")
    for n in range(2, _MAX_TRIES + 1):
        yield f"{stem} ({n}).{ext}"


def archive_pending(db: Database, settings: WorkerSettings, document_ids: Sequence[int] | None = None,
                    budget_s: float | None = None) -> ArchiveReport:
    """Write every due document's archive copy (only `document_ids`, when given), stopping after `budget_s`
    seconds (the rest waits for the next call). Never raises for one document's fault."""
    report = ArchiveReport()
    started = time.monotonic()
    stores: dict[str, ObjectStore] = {}
    objects: ObjectStore | None = None
    try:
        while True:
            due = archive_due(db, document_ids)
            progressed = False
            for doc_id in due:
                if budget_s is not None and time.monotonic() - started > budget_s:
                    return report
                if objects is None:
                    objects = object_store(settings)
                with _WRITING:
                    claim = claim_archive(db, doc_id)
                    if claim is None:
                        continue  # written meanwhile, or another process holds it
                    progressed = True
                    _write_one(db, settings, objects, stores, claim, report)
            if not progressed or len(due) < 100:
                break
        with _WRITING:  # a write of this process's sweep thread, if one is under way, has ended
            pass
        return report
    finally:
        for store in [*stores.values(), *([objects] if objects is not None else [])]:
            store.close()


def _write_one(db: Database, settings: WorkerSettings, objects: ObjectStore, stores: dict[str, ObjectStore],
               claim: ArchiveClaim, report: ArchiveReport) -> None:
    where = claim.name or archive_name(claim.filename, claim.mime_type, claim.document_id)
    try:
        store = stores.get(claim.url)
        if store is None:
            store = stores[claim.url] = archive_store(settings, claim.url)
        with tempfile.TemporaryDirectory(prefix="archive-", dir=_scratch(settings)) as tmp:
            pdf = Path(tmp) / "document.pdf"
            write_searchable_pdf(db, objects, claim.document_id, pdf)
            name = _put(db, store, claim, pdf)
        archived(db, claim, name)
        report.written.append((claim.document_id, name))
        log.info("archive: document %d written to %s as %s", claim.document_id, claim.url, name)
    except Exception as exc:  # one document's fault is recorded on it; the sweep or the run carries on
        if isinstance(exc, PagemillError):
            why = exc.message
        else:
            log.exception("archive: document %d", claim.document_id)
            why = f"{type(exc).__name__}: {exc}"
        message = f"its searchable PDF could not be written to {claim.url} as {where!r}: {why}"
        try:
            archive_failed(db, claim, message)
        except Exception as err:  # the database is away: the lease runs out and the write is tried again
            log.warning("archive: could not record the error of document %d: %s", claim.document_id, err)
        report.failed.append((claim.document_id, message))
        log.warning("archive: document %d: %s", claim.document_id, message)


def _put(db: Database, store: ObjectStore, claim: ArchiveClaim, pdf: Path) -> str:
    """Into the archive under the document's name, or the next free one; returns the name used."""
    if claim.name is not None and claim.written:
        store.put_named(pdf, claim.name, replace=True)  # our own copy, written before under this name
        return claim.name
    taken = archive_names_taken(db, claim.url, claim.document_id)
    base = archive_name(claim.filename, claim.mime_type, claim.document_id)
    first = [claim.name] if claim.name else []  # chosen before a crash cut the write short
    for name in [*first, *name_candidates(base)]:
        if name in taken:
            continue
        name_archive(db, claim, name)
        if store.put_named(pdf, name, replace=False):
            return name
    raise StorageError(f"every name from {base!r} to {list(name_candidates(base))[-1]!r} is taken in {claim.url}")


def archive_store(settings: WorkerSettings, url: str) -> ObjectStore:
    """The store of an archive target: built by the one builder of stores, from these settings with the
    archive's URL in place of PAGEMILL_OBJECTS_URL (the bucket's endpoint and credentials are read the same way)."""
    return object_store(settings.model_copy(update={"objects_url": url}))


def check_archive(settings: WorkerSettings) -> None:
    """Before intake: PAGEMILL_ARCHIVE_DIR / --archive names a store pagemill has (ConfigError otherwise)."""
    if settings.archive_url:
        try:
            archive_store(settings, settings.archive_url).close()
        except ConfigError:
            raise ConfigError(f"--archive / PAGEMILL_ARCHIVE_DIR {settings.archive_url!r}: use a folder or"
                              " s3://bucket/prefix") from None


def _scratch(settings: WorkerSettings) -> Path:
    """This host's scratch folder for PDFs on their way to the archive (the data folder's tmp/)."""
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
