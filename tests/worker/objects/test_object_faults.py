"""A range whose original cannot be read: a typed error on the document (what is missing, where, what to check),
never `internal error`; an unreachable bucket is waited for without spending the range's attempts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from models.db import Database
from models.settings import DatabaseSettings
from models.tables import Document, Page, PageRange
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_image
from tests.e2e._proxy import CuttableProxy
from tests.fakes.instant_provider import InstantProvider
from tests.fakes.s3_server import MotoS3, aws_env
from worker.objects.folder import FolderStore
from worker.objects.registry import object_store
from worker.objects.store import ObjectStore
from worker.providers.base import OcrResult, SourceDocument
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


class CountingProvider(InstantProvider):
    def __init__(self) -> None:
        self.calls = 0

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        self.calls += 1
        assert source.path.is_file()  # the original is on this host by the time the provider runs
        return super().ocr(source, pages)


def _db(data_dir: Path) -> Database:
    db = Database.from_settings(DatabaseSettings(data_dir=data_dir))
    db.migrate()
    return db


def _submit(db: Database, objects: ObjectStore, tmp_path: Path) -> tuple[int, int]:
    res = register_file(db, objects, make_image(tmp_path / "scan.png", "hello"), WorkerSettings(), IntakeOptions())
    assert res.document_id is not None and len(res.range_ids) == 1
    return res.document_id, res.range_ids[0]


def _document(db: Database, doc_id: int) -> Document:
    with db.read_session() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None
        return doc


def test_a_worker_without_the_submitting_host_s_folder_gets_a_readable_error(data_dir: Path, tmp_path: Path) -> None:
    """The issue's case: two hosts, each with its own object folder, sharing only the database."""
    db = _db(data_dir)
    doc_id, range_id = _submit(db, FolderStore(tmp_path / "host1" / "objects"), tmp_path)
    provider = CountingProvider()
    outcome = run_range(db, FolderStore(tmp_path / "host2" / "objects"), provider, range_id, max_attempts=2)
    assert outcome.status == "failed" and provider.calls == 0
    doc = _document(db, doc_id)
    assert (doc.status, doc.error_code) == ("failed", "object_missing")
    assert "internal error" not in (doc.error or "")
    assert "missing from the object folder" in (doc.error or "") and "PAGEMILL_OBJECTS_URL" in (doc.error or "")


def test_an_original_deleted_from_the_bucket_fails_its_document_readably(
    s3_objects: str, moto_s3: MotoS3, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _db(data_dir)
    doc_id, range_id = _submit(db, object_store(WorkerSettings()), tmp_path)
    bucket, prefix = s3_objects.removeprefix("s3://").split("/", 1)
    moto_s3.client().delete_object(Bucket=bucket, Key=f"{prefix}/{_document(db, doc_id).object_path}")
    monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "worker-host"))  # a worker without a cached copy
    provider = CountingProvider()
    assert run_range(db, object_store(WorkerSettings()), provider, range_id, max_attempts=2).status == "failed"
    doc = _document(db, doc_id)
    assert (doc.status, doc.error_code) == ("failed", "object_missing")
    assert s3_objects in (doc.error or "") and "submit the file again" in (doc.error or "")
    assert provider.calls == 0  # nothing was sent (or billed) for a document that is not there


def test_a_range_waits_for_an_unreachable_bucket_without_spending_attempts(
    moto_s3: MotoS3, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = CuttableProxy(moto_s3.port)
    try:
        for key, value in aws_env(f"http://127.0.0.1:{proxy.port}", tmp_path).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("PAGEMILL_OBJECTS_URL", f"s3://{moto_s3.new_bucket()}/pm")
        monkeypatch.setenv("PAGEMILL_OBJECTS_RETRIES", "1")
        db = _db(data_dir)
        doc_id, range_id = _submit(db, object_store(WorkerSettings()), tmp_path)
        monkeypatch.setenv("PAGEMILL_DATA_DIR", str(tmp_path / "worker-host"))
        worker_objects = object_store(WorkerSettings())
        provider = CountingProvider()
        proxy.cut()
        for _ in range(3):  # more tries than max_attempts: none of them is spent while the bucket is away
            outcome = run_range(db, worker_objects, provider, range_id, max_attempts=2, retry_max_s=0.1)
            assert outcome.status == "retry" and outcome.retry_in_s is not None
        with db.read_session() as s:
            rng = s.get(PageRange, range_id)
            assert rng is not None
            assert (rng.status, rng.attempts, rng.error_code) == ("queued", 0, "store_unavailable")
            assert "cannot be reached" in (rng.error or "")
        proxy.restore()
        assert run_range(db, worker_objects, provider, range_id, max_attempts=2).status == "done"
        assert _document(db, doc_id).status == "done" and provider.calls == 1
        with db.read_session() as s:
            assert s.scalar(select(Page.markdown).where(Page.document_id == doc_id)).startswith("text of page 0")
    finally:
        proxy.close()
