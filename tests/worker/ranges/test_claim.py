"""Claiming a range, on SQLite and on PostgreSQL (one code path): what runs, what is skipped, and that two workers
never both run one range."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from models import Database
from models.tables import Document, Page, PageRange
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_born_digital_pdf
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.ranges.claim import claim_range
from worker.ranges.types import ClaimedRange
from worker.settings import WorkerSettings


@pytest.fixture
def db(both_databases: Database) -> Database:
    return both_databases


@pytest.fixture
def objects() -> ObjectStore:
    return FolderStore(WorkerSettings().objects_dir)


def _ranges(db: Database, objects: ObjectStore, tmp_path: Path, pages: int = 8) -> list[int]:
    pdf = make_born_digital_pdf(tmp_path / "doc.pdf", [f"page {i}" for i in range(pages)])
    return register_file(db, objects, pdf, WorkerSettings(), IntakeOptions(pages_per_task=4)).range_ids


def _range(db: Database, range_id: int) -> PageRange:
    with db.read_session() as s:
        rng = s.get(PageRange, range_id)
        assert rng is not None
        return rng


def test_a_queued_range_is_leased_to_the_claiming_thread(db: Database, objects: ObjectStore, tmp_path: Path) -> None:
    first, _second = _ranges(db, objects, tmp_path)
    claimed = claim_range(db, objects, first, "w1", max_attempts=4, lease_s=60)
    assert isinstance(claimed, ClaimedRange)
    assert claimed.pages == [0, 1, 2, 3]
    assert claimed.attempt == 1
    assert claimed.source.kind == "pdf" and claimed.source.page_count == 8 and claimed.source.path.is_file()
    rng = _range(db, first)
    assert rng.status == "running" and rng.attempts == 1 and rng.worker == claimed.holder
    lease = rng.lease_expires_at
    assert lease is not None
    assert (lease if lease.tzinfo else lease.replace(tzinfo=UTC)) > datetime.now(UTC) + timedelta(seconds=50)
    with db.read_session() as s:
        assert s.scalar(select(Document.status)) == "running"


def test_pages_already_stored_are_not_claimed_again(db: Database, objects: ObjectStore, tmp_path: Path) -> None:
    first, _second = _ranges(db, objects, tmp_path)
    with db.write_session() as s:
        doc_id = s.scalar(select(Document.id))
        s.add_all([Page(document_id=doc_id, page_index=i, markdown="x", source="mistral") for i in (1, 3)])
    claimed = claim_range(db, objects, first, "w1", max_attempts=4, lease_s=60)
    assert claimed is not None and claimed.pages == [0, 2]


def test_a_range_held_by_a_live_worker_is_not_claimed(db: Database, objects: ObjectStore, tmp_path: Path) -> None:
    first, _second = _ranges(db, objects, tmp_path)
    assert claim_range(db, objects, first, "w1", max_attempts=4, lease_s=60) is not None
    # the same message delivered to another worker while the first one works: skipped, the lease untouched
    assert claim_range(db, objects, first, "w2", max_attempts=4, lease_s=60) is None
    rng = _range(db, first)
    assert rng.attempts == 1 and rng.worker is not None and rng.worker.startswith("w1:")


def test_an_expired_lease_is_claimed_by_the_next_worker(db: Database, objects: ObjectStore, tmp_path: Path) -> None:
    first, _second = _ranges(db, objects, tmp_path)
    assert claim_range(db, objects, first, "w1", max_attempts=4, lease_s=60) is not None
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id == first).values(
            lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    claimed = claim_range(db, objects, first, "w2", max_attempts=4, lease_s=60)
    assert claimed is not None and claimed.attempt == 2
    assert _range(db, first).worker == claimed.holder


def test_done_ranges_and_cancelled_documents_are_skipped(db: Database, objects: ObjectStore, tmp_path: Path) -> None:
    first, second = _ranges(db, objects, tmp_path)
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id == first).values(status="done"))
    assert claim_range(db, objects, first, "w1", max_attempts=4, lease_s=60) is None
    with db.write_session() as s:
        s.execute(update(Document).values(status="cancelled"))
    assert claim_range(db, objects, second, "w1", max_attempts=4, lease_s=60) is None
    assert _range(db, second).status == "queued" and _range(db, second).attempts == 0


def test_a_range_out_of_attempts_fails_instead_of_running(db: Database, objects: ObjectStore, tmp_path: Path) -> None:
    first, _second = _ranges(db, objects, tmp_path)
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id == first).values(
            attempts=3, error="HTTP 503 from the OCR server", error_code="provider_unavailable"))
    assert claim_range(db, objects, first, "w1", max_attempts=3, lease_s=60) is None
    rng = _range(db, first)
    assert rng.status == "failed" and rng.attempts == 3
    assert rng.error == "gave up after 3 attempts: HTTP 503 from the OCR server"


def test_two_workers_claiming_one_range_at_once_only_one_runs_it(
    db: Database, objects: ObjectStore, tmp_path: Path
) -> None:
    ids = _ranges(db, objects, tmp_path, pages=80)
    winners: dict[int, list[str]] = {rid: [] for rid in ids}
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claim_all(name: str) -> None:
        start.wait()
        for rid in ids:
            if claim_range(db, objects, rid, name, max_attempts=4, lease_s=60) is not None:
                with lock:
                    winners[rid].append(name)

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(names) == 1 for names in winners.values()), winners
    with db.read_session() as s:
        assert set(s.scalars(select(PageRange.attempts))) == {1}
