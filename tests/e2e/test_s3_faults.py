"""Faults of the bucket during a real run (embedded workers, S3 on moto behind a proxy a test can cut): the bucket
going down mid-batch loses nothing, bills nothing twice and shows no `internal error`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import Document, Image, Page, PageRange, Usage
from scheduler.launch.submit import run
from scheduler.samples import make_born_digital_pdf, page_text
from tests.e2e._proxy import CuttableProxy
from tests.fakes.mistral_server import MistralServer
from tests.fakes.s3_server import MotoS3, aws_env
from worker.objects.registry import object_store
from worker.settings import WorkerSettings

pytestmark = [pytest.mark.slow]

KEY = "sk-test-key-bucket-down"


def _stored_pages(db: Database) -> int:
    with db.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(Page)) or 0)


def test_the_bucket_going_down_mid_batch_loses_nothing(moto_s3: MotoS3, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = CuttableProxy(moto_s3.port)
    inbox = tmp_path / "scans"
    inbox.mkdir()
    docs, pages_each = 6, 4
    for n in range(docs):
        make_born_digital_pdf(inbox / f"r{n}.pdf", [page_text(100 * n + i) for i in range(pages_each)])
    for key, value in aws_env(f"http://127.0.0.1:{proxy.port}", tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PAGEMILL_OBJECTS_URL", f"s3://{moto_s3.new_bucket()}/pm")
    monkeypatch.setenv("PAGEMILL_OBJECTS_RETRIES", "2")
    monkeypatch.setenv("PAGEMILL_RETRY_BASE_S", "0.5")
    monkeypatch.setenv("PAGEMILL_RETRY_MAX_S", "2")
    monkeypatch.setenv("PAGEMILL_EMBEDDED_WORKERS", "2")
    monkeypatch.setenv("PAGEMILL_PROVIDER", "mistral")
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("PAGEMILL_RATE_LIMIT", "50")
    db = Database.from_settings(DatabaseSettings())
    db.migrate()
    outage: dict[str, float] = {}

    def cut_mid_batch() -> None:
        deadline = time.monotonic() + 120
        while _stored_pages(db) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proxy.cut()
        outage["at_pages"] = _stored_pages(db)
        time.sleep(6)  # longer than botocore's own retries: ranges must wait for the bucket
        proxy.restore()

    try:
        with MistralServer(api_key=KEY, images_per_page=1, latency_s=0.2) as server:
            monkeypatch.setenv("PAGEMILL_OCR_BASE_URL", server.url)
            cutter = threading.Thread(target=cut_mid_batch, daemon=True)
            cutter.start()
            job = run([inbox], pages_per_task=1, timeout_s=240)
            cutter.join(30)
    finally:
        proxy.close()
    assert outage["at_pages"] < docs * pages_each  # the bucket really went down mid-batch
    assert job.ok, [(d.filename, d.status, d.error) for d in job.summary()]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == docs * pages_each
        assert set(s.scalars(select(Document.status))) == {"done"}
        assert s.scalar(select(func.sum(Usage.pages_processed))) == docs * pages_each  # nothing billed twice
        assert s.scalar(select(func.count()).select_from(Image)) == docs * pages_each
        errors = [e for e in s.scalars(select(PageRange.error)) if e]
    assert not any("internal error" in e for e in errors), errors
    assert "cannot be reached" in (tmp_path / "data" / "worker.log").read_text()  # the workers met the outage
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint)  # the proxy is gone: read the bucket directly
    objects = object_store(WorkerSettings())
    with db.read_session() as s:
        paths = list(s.scalars(select(Image.path)))
    assert all(objects.read_bytes(path) for path in paths)  # every image the pages link to is in the bucket
