"""The guard in batch collection (`owned` in worker/batch/ranges.py): a batch answer is stored only while its
range is still held by that job at that attempt. A late answer for a range that was cancelled, or already taken
over (retried synchronously by a worker after the sweep gave it back), is neither stored nor recorded in the
ledger (issue 39: removing the guard failed no test)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import BatchJob, BatchJobRange, Page, PageRange, Usage
from scheduler.launch.submit import submit
from scheduler.samples import make_born_digital_pdf, page_text
from scheduler.sweep.batch_poller import batch_tick
from tests.fakes.batch_server import BatchServer
from worker.settings import WorkerSettings

KEY = "sk-test-batch-owned"


@pytest.mark.parametrize("taken_by", ["sync_retry", "cancelled"])
def test_a_late_batch_answer_for_a_range_no_longer_the_jobs_is_neither_stored_nor_billed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_by: str
) -> None:
    pdf = make_born_digital_pdf(tmp_path / "late.pdf", [page_text(400 + i) for i in range(2)])
    with BatchServer(api_key=KEY, queue_s=0.3, run_s=0.3) as server:
        for k, v in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url, "MISTRAL_API_KEY": KEY,
                     "PAGEMILL_BATCH_POLL_MIN_S": "0.05", "PAGEMILL_BATCH_POLL_MAX_S": "0.1",
                     "PAGEMILL_BATCH_MAX_WAIT_S": "0.1"}.items():
            monkeypatch.setenv(k, v)
        submit([pdf], pages_per_task=2, batch=True)
        assert len(server.jobs) == 1
        db = Database.from_settings(DatabaseSettings())
        with db.write_session() as s:
            rng = s.scalars(select(PageRange)).one()
            assert rng.status == "running"
            if taken_by == "sync_retry":  # the sweep gave it back and a worker claimed it: a later attempt
                rng.attempts += 1
                rng.worker = "sync-worker:host:123:1"
            else:
                rng.status, rng.worker, rng.lease_expires_at = "cancelled", None, None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            batch_tick(db, WorkerSettings())
            with db.read_session() as s:
                if s.scalar(select(func.count()).select_from(BatchJob).where(BatchJob.collected_at.is_not(None))):
                    break
            time.sleep(0.05)
        assert server.billed_pages == 2  # the provider answered (and billed) the late line
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(BatchJob).where(BatchJob.collected_at.is_not(None))) == 1
        assert s.scalar(select(func.count()).select_from(Page)) == 0  # not stored over the other owner's work
        assert s.scalar(select(func.count()).select_from(Usage)) == 0  # nor recorded as billed to this range
        assert s.scalars(select(BatchJobRange.outcome)).all() != ["stored"]
