"""Ranges finished by many threads of one worker process at once, on SQLite and on PostgreSQL (one code path):
every page is stored once, every request billed once, every document finished, and a range stored twice (a
redelivered task) adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database
from models.tables import Document, Page, PageRange, Usage
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_born_digital_pdf
from tests.fakes.instant_provider import InstantProvider
from tests.worker.concurrency import run_in_threads
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.providers.base import SourceDocument
from worker.ranges.lease import LeaseKeeper
from worker.ranges.run import run_range
from worker.ranges.store import store_result
from worker.ranges.types import ClaimedRange
from worker.settings import WorkerSettings


@pytest.fixture
def db(both_databases: Database) -> Database:
    return both_databases


def _documents(db: Database, objects: ObjectStore, tmp_path: Path, count: int, pages: int) -> list[int]:
    range_ids: list[int] = []
    for n in range(count):
        pdf = make_born_digital_pdf(tmp_path / f"doc{n}.pdf", [f"doc {n} page {i}" for i in range(pages)])
        range_ids += register_file(db, objects, pdf, WorkerSettings(), IntakeOptions(pages_per_task=2)).range_ids
    return range_ids


def test_ranges_stored_by_many_threads_at_once_all_finish(db: Database, tmp_path: Path) -> None:
    objects = FolderStore(WorkerSettings().objects_dir)
    range_ids = _documents(db, objects, tmp_path, count=3, pages=40)  # 60 ranges of 2 pages
    provider = InstantProvider()
    leases = LeaseKeeper(db, 60)
    outcomes = run_in_threads(
        range_ids, 12,
        lambda rid, worker: run_range(db, objects, provider, rid, worker, leases=leases),  # type: ignore[arg-type]
    )
    leases.close()
    # a deadlock or a lost write shows up as a "database unavailable" retry; none may happen
    assert [o.message for o in outcomes if o.status != "done"] == []
    assert sum(o.pages_written for o in outcomes) == 120
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 120
        assert s.scalar(select(func.count(func.distinct(Page.document_id * 1000 + Page.page_index)))) == 120
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 120
        assert s.scalar(select(func.count()).select_from(Usage)) == 60  # one ledger row per request
        assert set(s.scalars(select(PageRange.status))) == {"done"}
        assert list(s.scalars(select(Document.status))) == ["done"] * 3
        page = s.scalar(select(Page.markdown).where(Page.page_index == 7).order_by(Page.document_id).limit(1))
        assert page is not None and page.startswith("text of page 7 of ")


def test_stored_ranges_finish_their_documents_and_a_second_store_adds_nothing(db: Database, tmp_path: Path) -> None:
    objects = FolderStore(WorkerSettings().objects_dir)
    range_ids = _documents(db, objects, tmp_path, count=2, pages=2)  # one range per document
    provider = InstantProvider()
    finished = []
    for rid in range_ids:
        with db.read_session() as s:
            rng = s.get(PageRange, rid)
            assert rng is not None
            doc_id, pages = rng.document_id, list(rng.pages)
        source = SourceDocument(path=tmp_path / f"doc{len(finished)}.pdf", mime_type="application/pdf", kind="pdf",
                                page_count=2)
        finished.append((ClaimedRange(rid, doc_id, 1, pages, source), provider.ocr(source, pages)))
    assert [store_result(db, objects, c, r, provider=provider.name) for c, r in finished] == [2, 2]
    # the same ranges again, as a redelivered task would store them: nothing is added, the answer is the same
    assert [store_result(db, objects, c, r, provider=provider.name) for c, r in reversed(finished)] == [2, 2]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 4
        assert set(s.scalars(select(PageRange.status))) == {"done"}
        assert list(s.scalars(select(Document.status))) == ["done", "done"]
