"""`pagemill retry` re-runs only what failed; `pagemill cancel` stops queued work; a bad page fails its range only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, Page, PageRange, Usage
from scheduler.cli import app
from scheduler.launch.rerun import cancel_documents, retry_failed
from scheduler.launch.submit import submit
from tests.e2e._faults import fault_env, make_pdf
from tests.fakes.slow import SlowFakeProvider
from worker.objects.folder import FolderStore
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return fault_env(monkeypatch, PAGEMILL_TEST_PAGE_DELAY_S="0")


def run_all(db: Database, doc_ids: list[int]) -> None:
    """What workers would do, in this process: every queued range once."""
    objects = FolderStore(WorkerSettings().objects_dir)
    with db.read_session() as s:
        ids = list(s.scalars(select(PageRange.id).where(PageRange.document_id.in_(doc_ids),
                                                        PageRange.status == "queued").order_by(PageRange.id)))
    for rid in ids:
        run_range(db, objects, SlowFakeProvider(0), rid, max_attempts=1)


def facts(db: Database, doc_id: int) -> tuple[str, int, int, dict[str, int]]:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        pages = s.scalar(select(func.count()).select_from(Page).where(Page.document_id == doc_id)) or 0
        billed = s.scalar(select(func.sum(Usage.pages_processed)).where(Usage.document_id == doc_id)) or 0
        ranges = dict(s.execute(select(PageRange.status, func.count()).where(PageRange.document_id == doc_id)
                                .group_by(PageRange.status)).all())
        return doc.status, pages, int(billed), ranges


def test_a_failing_page_fails_its_range_only_and_retry_reruns_only_that_range(
    tmp_path: Path, fake: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGEMILL_TEST_FAIL_PAGES", "10")
    job = submit([make_pdf(tmp_path / "a.pdf", 24, seed=1), make_pdf(tmp_path / "b.pdf", 8, seed=2)],
                 pages_per_task=8, wait=False, start_workers=False)
    bad, good = job.document_ids
    db = Database.from_settings(DatabaseSettings())
    run_all(db, [bad, good])

    status, pages, billed, ranges = facts(db, bad)
    assert (status, pages, billed) == ("partial", 16, 16)
    assert ranges == {"done": 2, "failed": 1}
    with db.read_session() as s:
        doc = s.get(Document, bad)
        assert doc is not None and doc.error_code == "engine" and "pages 8-15" in (doc.error or "")
    assert facts(db, good)[:3] == ("done", 8, 8)  # the rest of the batch is untouched

    monkeypatch.delenv("PAGEMILL_TEST_FAIL_PAGES")
    with db.read_session() as s:
        before = dict(s.execute(select(Page.page_index, Page.created_at).where(Page.document_id == bad)).all())
    report = retry_failed(db, WorkerSettings(), [bad])
    assert (len(report.range_ids), report.pages) == (1, 8)
    run_all(db, [bad])
    status, pages, billed, ranges = facts(db, bad)
    assert (status, pages, billed, ranges) == ("done", 24, 24, {"done": 3})  # 8 more pages billed, not 24
    with db.read_session() as s:
        after = dict(s.execute(select(Page.page_index, Page.created_at).where(Page.document_id == bad)).all())
    assert all(after[p] == c for p, c in before.items())  # stored pages were not written again


def test_retry_skips_pages_already_stored(tmp_path: Path, fake: dict[str, str]) -> None:
    """A failed range whose pages were partly stored meanwhile only OCRs (and bills) the missing ones."""
    job = submit([make_pdf(tmp_path / "a.pdf", 8)], pages_per_task=8, wait=False, start_workers=False)
    doc_id = job.document_ids[0]
    db = Database.from_settings(DatabaseSettings())
    with db.write_session() as s:
        rng = s.scalars(select(PageRange).where(PageRange.document_id == doc_id)).one()
        rng.status, rng.error, rng.error_code = "failed", "the provider was down", "unavailable"
        s.add_all(Page(document_id=doc_id, page_index=i, markdown=f"earlier {i}", source="slowfake")
                  for i in range(5))
    retry_failed(db, WorkerSettings(), [doc_id])
    run_all(db, [doc_id])
    status, pages, billed, _ = facts(db, doc_id)
    assert (status, pages, billed) == ("done", 8, 3)
    with db.read_session() as s:
        assert s.scalar(select(Page.markdown).where(Page.document_id == doc_id, Page.page_index == 0)) == "earlier 0"


def test_cancel_stops_queued_work(tmp_path: Path, fake: dict[str, str]) -> None:
    job = submit([make_pdf(tmp_path / "a.pdf", 16)], pages_per_task=8, wait=False, start_workers=False)
    doc_id = job.document_ids[0]
    out = CliRunner().invoke(app, ["cancel", str(doc_id)])
    assert out.exit_code == 0, out.output
    assert f"document {doc_id}: cancelled" in out.output
    db = Database.from_settings(DatabaseSettings())
    run_all(db, [doc_id])  # the messages are still in the broker: taking them does nothing
    with db.read_session() as s:
        ids = list(s.scalars(select(PageRange.id).where(PageRange.document_id == doc_id)))
    objects = FolderStore(WorkerSettings().objects_dir)
    assert all(run_range(db, objects, SlowFakeProvider(0), rid).status == "skipped" for rid in ids)
    status, pages, billed, ranges = facts(db, doc_id)
    assert (status, pages, billed, ranges) == ("cancelled", 0, 0, {"cancelled": 2})
    again = cancel_documents(db, [doc_id])
    assert again.already_finished == [doc_id]
    assert "nothing to retry" in CliRunner().invoke(app, ["retry", str(doc_id)]).output


def test_retry_of_an_intake_failure_says_what_to_do(tmp_path: Path, fake: dict[str, str]) -> None:
    p = tmp_path / "empty.pdf"
    p.write_bytes(b"")
    submit([p], wait=False, start_workers=False)
    out = CliRunner().invoke(app, ["retry"])
    assert out.exit_code == 1
    assert "failed at intake (empty)" in out.output


@pytest.mark.slow
def test_pagemill_retry_processes_failed_ranges_with_its_own_workers(tmp_path: Path, fake: dict[str, str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_TEST_FAIL_PAGES", "3")
    job = submit([make_pdf(tmp_path / "a.pdf", 8)], pages_per_task=4, wait=False, start_workers=False)
    db = Database.from_settings(DatabaseSettings())
    run_all(db, job.document_ids)
    assert facts(db, job.document_ids[0])[:2] == ("partial", 4)
    monkeypatch.delenv("PAGEMILL_TEST_FAIL_PAGES")
    monkeypatch.setenv("PAGEMILL_EMBEDDED_WORKERS", "1")
    out = CliRunner().invoke(app, ["retry", f"job:{job.id}"])
    assert out.exit_code == 0, out.output
    assert "re-queued 1 failed range(s), 4 page(s)" in out.output
    assert facts(db, job.document_ids[0]) == ("done", 8, 8, {"done": 2})
