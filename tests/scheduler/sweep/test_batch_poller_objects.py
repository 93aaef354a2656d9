"""The batch poller reads originals from the configured object store (PAGEMILL_OBJECTS_URL), not from the data
folder of the host it runs on. Found by the soak (bench/soak.py, issue 39): `submit --batch` from one host and the
scheduler on another, sharing only a bucket, failed every batch document with `object_missing` naming the
poller's own `<data>/objects`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import BatchJob, Document, Page, PageRange
from scheduler.launch.submit import submit
from scheduler.samples import make_born_digital_pdf, page_text
from scheduler.sweep.batch_poller import batch_tick
from tests.fakes.batch_server import BatchServer
from worker.settings import WorkerSettings

KEY = "sk-test-batch-objects"


def test_batch_jobs_read_originals_from_the_object_store_not_the_hosts_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-objects"  # the store every host names; no host's <data>/objects
    files = [make_born_digital_pdf(tmp_path / "report.pdf", [page_text(300 + i) for i in range(3)])]
    with BatchServer(api_key=KEY, queue_s=0.1, run_s=0.2) as server:
        for k, v in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url, "MISTRAL_API_KEY": KEY,
                     "PAGEMILL_OBJECTS_URL": str(shared), "PAGEMILL_BATCH_POLL_MIN_S": "0.05",
                     "PAGEMILL_BATCH_POLL_MAX_S": "0.2", "PAGEMILL_BATCH_MAX_WAIT_S": "0.1"}.items():
            monkeypatch.setenv(k, v)
        submit(files, pages_per_task=2, batch=True)
        # the poller runs on another host: a data folder of its own, the same store
        monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "scheduler-host"))
        settings = WorkerSettings()
        db = Database.from_settings(DatabaseSettings(data_dir=tmp_path / "data"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            batch_tick(db, settings)
            with db.read_session() as s:
                if not s.scalar(select(func.count()).select_from(PageRange)
                                .where(PageRange.status.in_(["queued", "running"]))):
                    break
            time.sleep(0.05)
        assert len(server.uploads) == 1, "the job was never sent"
    assert not (tmp_path / "data" / "objects").exists() and not (tmp_path / "scheduler-host" / "objects").exists()
    with db.read_session() as s:
        doc = s.scalars(select(Document)).one()
        assert (doc.status, doc.error_code) == ("done", None), doc.error
        assert s.scalar(select(func.count()).select_from(Page)) == 3
        assert s.scalars(select(BatchJob.status)).all() == ["SUCCESS"]
