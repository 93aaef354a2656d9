"""The archive state of documents (`--archive DIR`): where each one's searchable PDF goes and whether the copy
there is current. The writing itself is scheduler/export/archive.py; this module is the rows it goes by.

A document is *due* when it is finished (done or partial), has an archive target, and its copy is missing or
older than its last change: `archived_rev` (the change count the written copy was made from) below
`archive_rev` (bumped where a document finishes, worker/ranges/store.py, and by a correction, models/corrections.py).
An archiver takes a due document with a compare-and-set of `archive_next_at` (a lease), so two processes never
write the same document at once, and a crash mid-write leaves it due again once the lease runs out: no write is
lost. A failed write records its reason in `archive_error` and waits RETRY_S before the next try.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.orm import Session

from .db import Database
from .tables import DocStatus, Document

__all__ = ["LEASE_S", "RETRY_S", "ArchiveClaim", "ArchiveCounts", "archive_changed", "archive_counts",
           "archive_due", "archive_failed", "archive_names_taken", "archived", "claim_archive", "name_archive",
           "want_archive"]

LEASE_S = 300.0  # one document's write; a crashed archiver's document is taken again after this
RETRY_S = 60.0  # after a failed write (full disk, unwritable folder, missing original) before the next try

_D = Document.__table__
_FINISHED = (DocStatus.done, DocStatus.partial)


def _now() -> datetime:
    return datetime.now(UTC)


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return and_(_D.c.archive_url.is_not(None), _D.c.status.in_(_FINISHED),
                or_(_D.c.archived_rev.is_(None), _D.c.archived_rev < _D.c.archive_rev),
                or_(_D.c.archive_next_at.is_(None), _D.c.archive_next_at <= now))


def _conn(target: Session | Connection) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def archive_changed(target: Session | Connection, document_id: int) -> None:
    """A page of the document changed after it finished (a correction): its archive copy is written again."""
    _conn(target).execute(update(_D).where(_D.c.id == document_id, _D.c.archive_url.is_not(None))
                          .values(archive_rev=_D.c.archive_rev + 1))


def want_archive(target: Session | Connection, document_ids: Iterable[int], url: str) -> None:
    """At intake: these documents' copies go to `url`. A document that had another target starts over there
    (a new name, a first write); one already archived there is left as it is (a rerun writes nothing)."""
    ids = sorted(set(document_ids))
    if not ids:
        return
    _conn(target).execute(
        update(_D).where(_D.c.id.in_(ids), or_(_D.c.archive_url.is_(None), _D.c.archive_url != url))
        .values(archive_url=url, archive_name=None, archived_rev=None, archived_at=None, archived_partial=None,
                archive_error=None, archive_next_at=None))


def archive_due(db: Database, document_ids: Sequence[int] | None = None, limit: int = 100) -> list[int]:
    """Finished documents whose archive copy is missing or stale, oldest first."""
    q = select(_D.c.id).where(_due(_now())).order_by(_D.c.id).limit(limit)
    if document_ids is not None:
        q = q.where(_D.c.id.in_(list(document_ids)))
    with db.read_session() as s:
        return list(s.scalars(q))


@dataclass(frozen=True)
class ArchiveClaim:
    document_id: int
    rev: int  # the change count this write covers
    url: str
    name: str | None  # the name chosen by an earlier write (None: choose one)
    written: bool  # a copy was written under `name` before: it is ours to replace
    filename: str
    mime_type: str | None
    partial: bool


def claim_archive(db: Database, document_id: int) -> ArchiveClaim | None:
    """Take the document for one write (None: not due any more, or another archiver holds it)."""
    now = _now()
    with db.write_session() as s:
        taken = s.execute(update(_D).where(_D.c.id == document_id, _due(now))
                          .values(archive_next_at=now + timedelta(seconds=LEASE_S)))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = s.execute(select(_D.c.archive_rev, _D.c.archive_url, _D.c.archive_name, _D.c.archived_at,
                               _D.c.filename, _D.c.mime_type, _D.c.status).where(_D.c.id == document_id)).one()
    return ArchiveClaim(document_id, row.archive_rev, row.archive_url, row.archive_name,
                        row.archived_at is not None and row.archive_name is not None, row.filename, row.mime_type,
                        row.status == DocStatus.partial)


def archive_names_taken(db: Database, url: str, document_id: int) -> set[str]:
    """Names other documents archived to `url` have chosen (a name is never shared, even before its write)."""
    with db.read_session() as s:
        return set(s.scalars(select(_D.c.archive_name).where(
            _D.c.archive_url == url, _D.c.archive_name.is_not(None), _D.c.id != document_id)))


def name_archive(db: Database, claim: ArchiveClaim, name: str) -> None:
    """Record the chosen name before the file is written, so a rewrite after a crash goes to the same name."""
    with db.write_session() as s:
        s.execute(update(_D).where(_D.c.id == claim.document_id, _D.c.archive_url == claim.url)
                  .values(archive_name=name))


def archived(db: Database, claim: ArchiveClaim, name: str) -> None:
    """The copy of change `claim.rev` is in place: current unless the document changed during the write."""
    with db.write_session() as s:
        s.execute(update(_D).where(_D.c.id == claim.document_id, _D.c.archive_url == claim.url)
                  .values(archive_name=name, archived_rev=claim.rev, archived_at=_now(),
                          archived_partial=claim.partial, archive_error=None, archive_next_at=None))


def archive_failed(db: Database, claim: ArchiveClaim, message: str) -> None:
    with db.write_session() as s:
        s.execute(update(_D).where(_D.c.id == claim.document_id)
                  .values(archive_error=message, archive_next_at=_now() + timedelta(seconds=RETRY_S)))


@dataclass(frozen=True)
class ArchiveCounts:
    archived: int = 0  # finished documents whose copy is current
    partial: int = 0  # ...of which written from a partial document
    waiting: int = 0  # finished documents whose copy is missing or stale, without an error
    failed: int = 0  # ...whose last write failed (archive_error)


def archive_counts(s: Session, document_ids: Any = None) -> ArchiveCounts:
    """For `pagemill status`: finished documents with an archive target, by the state of their copy
    (`document_ids`: a list or a subquery of ids, e.g. one job's)."""
    current = and_(_D.c.archived_rev.is_not(None), _D.c.archived_rev >= _D.c.archive_rev)
    stale = or_(_D.c.archived_rev.is_(None), _D.c.archived_rev < _D.c.archive_rev)  # NULL-safe, unlike ~current
    q = select(
        func.count().filter(current),
        func.count().filter(current, _D.c.archived_partial.is_(True)),
        func.count().filter(stale, _D.c.archive_error.is_(None)),
        func.count().filter(stale, _D.c.archive_error.is_not(None)),
    ).where(_D.c.archive_url.is_not(None), _D.c.status.in_(_FINISHED))
    if document_ids is not None:
        q = q.where(_D.c.id.in_(document_ids))
    row = s.execute(q).one()
    return ArchiveCounts(*(int(v or 0) for v in row))
