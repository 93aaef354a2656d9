"""A job handle: what a run/submit covered, its progress and its summary, read from the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from models.db import Database
from models.tables import DocStatus, Document, JobDocument, PageRange, RangeStatus
from models.tables import Job as JobRow

from ..intake.register import IntakeResult

__all__ = ["Job", "JobProgress", "DocumentSummary"]


HELD_GRACE_S = 5.0


@dataclass
class JobProgress:
    pages_total: int = 0
    pages_done: int = 0
    pages_failed: int = 0
    documents: int = 0
    documents_finished: int = 0
    pages_held: int = 0  # in ranges waiting for budget (worker/budget/hold.py)
    ranges_active: int = 0  # queued or running

    @property
    def finished(self) -> bool:
        return self.documents_finished >= self.documents

    @property
    def only_held(self) -> bool:
        """Nothing is left to do but ranges the budget holds: waiting longer would wait for a person."""
        return not self.finished and self.pages_held > 0 and self.ranges_active == 0


@dataclass
class DocumentSummary:
    document_id: int
    filename: str
    status: str
    page_count: int | None
    pages_done: int
    seconds: float | None
    outcome: str
    error: str | None
    error_code: str | None


def _later(a: datetime, b: datetime | None) -> datetime:
    """The later of two times (a document processed again by a later job is timed from that job)."""
    if b is None:
        return a
    return max(a.replace(tzinfo=None), b.replace(tzinfo=None))


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds())


@dataclass
class Job:
    id: int
    db: Database = field(repr=False)
    entries: list[IntakeResult] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) never registered
    vision_min_size: int | None = None  # the settings' --vision-min-size, which the workers were given

    @property
    def document_ids(self) -> list[int]:
        return sorted({e.document_id for e in self.entries if e.document_id is not None})

    def progress(self) -> JobProgress:
        ids = self.document_ids
        prog = JobProgress(documents=len(ids))
        if not ids:
            return prog
        with self.db.read_session() as s:
            for status, pages in s.execute(
                select(PageRange.status, PageRange.pages).where(PageRange.document_id.in_(ids))
            ):
                prog.pages_total += len(pages)
                if status == RangeStatus.done:
                    prog.pages_done += len(pages)
                elif status == RangeStatus.failed:
                    prog.pages_failed += len(pages)
                elif status == RangeStatus.held:
                    prog.pages_held += len(pages)
                elif status in (RangeStatus.queued, RangeStatus.running):
                    prog.ranges_active += 1
            prog.documents_finished = len(
                s.scalars(
                    select(Document.id).where(Document.id.in_(ids), Document.status.in_(DocStatus.TERMINAL))
                ).all()
            )
        return prog

    def pending_descriptions(self) -> int:
        """Images still waiting for the vision step (0 when vision is off)."""
        from worker.vision.settings import VisionSettings

        vision = VisionSettings()
        if not vision.enabled:
            return 0
        from worker.vision.describe import pending_descriptions  # only now: it loads the HTTP client

        min_size = vision.min_size if self.vision_min_size is None else self.vision_min_size
        return pending_descriptions(self.db, self.document_ids, min_size)

    def pending_fields(self) -> int:
        """Fields still to extract for finished documents of the job (submitted with a schema)."""
        from models.tables import FieldsRow, FieldsStatus

        with self.db.read_session() as s:
            return len(s.scalars(select(FieldsRow.id).join(Document, Document.id == FieldsRow.document_id).where(
                FieldsRow.document_id.in_(self.document_ids), FieldsRow.status == FieldsStatus.pending,
                Document.status.in_((DocStatus.done, DocStatus.partial)),
            )).all())

    def wait(
        self,
        timeout_s: float | None = None,
        poll_s: float = 0.3,
        on_progress: Callable[[JobProgress], None] | None = None,
        tick: Callable[[], None] | None = None,
        pause: Callable[[float], None] = time.sleep,
    ) -> Job:
        """Block until every document of the job is done, partial, failed or cancelled, and (with vision on)
        every image of it is described or given up on."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        held_since: float | None = None
        while True:
            prog = self.progress()
            if on_progress:
                on_progress(prog)
            if prog.finished and self.pending_descriptions() == 0:
                if self.pending_fields() == 0:
                    return self
                from worker.extraction.tasks import queue_untaken_fields

                queue_untaken_fields(self.db, self.document_ids)  # a range that ended without taking them
            # only budget-held ranges left, for longer than a sweep takes to let fitting ones go: stop waiting
            held_since = (held_since or time.monotonic()) if prog.only_held else None
            if held_since is not None and time.monotonic() - held_since > HELD_GRACE_S:
                return self
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} not finished after {timeout_s} s")
            if tick:
                tick()
            pause(poll_s)

    def summary(self) -> list[DocumentSummary]:
        with self.db.read_session() as s:
            rows = s.execute(
                select(Document, JobDocument.outcome, JobDocument.filename)
                .join(JobDocument, JobDocument.document_id == Document.id)
                .where(JobDocument.job_id == self.id)
                .order_by(Document.id)
            ).all()
            job_row = s.get(JobRow, self.id)
            job_start = job_row.created_at if job_row is not None else None
            out = []
            for doc, outcome, filename in rows:
                done = sum(
                    len(p)
                    for p in s.scalars(
                        select(PageRange.pages).where(
                            PageRange.document_id == doc.id, PageRange.status == RangeStatus.done
                        )
                    )
                )
                out.append(
                    DocumentSummary(
                        document_id=doc.id, filename=filename, status=doc.status, page_count=doc.page_count,
                        pages_done=done, seconds=_seconds(_later(doc.created_at, job_start), doc.finished_at), outcome=outcome,
                        error=doc.error, error_code=doc.error_code,
                    )
                )
            return out

    @property
    def failed(self) -> list[DocumentSummary]:
        return [d for d in self.summary() if d.status in (DocStatus.failed, DocStatus.partial)]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unreadable
