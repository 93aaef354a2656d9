"""A range split into several requests keeps what was paid for; a refusal by our own limiter costs no attempt."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.errors import RateLimited
from models.tables import Page, PageRange, Usage
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.mistral_server import Fault, MistralServer
from worker.objects.folder import FolderStore
from worker.objects.store import ObjectStore
from worker.providers.base import OcrResult, SourceDocument
from worker.providers.mistral import MistralProvider
from worker.providers.mistral_request import RequestOptions
from worker.ranges.run import run_range
from worker.settings import WorkerSettings


def _setup(tmp_path: Path, pages: int) -> tuple[Database, ObjectStore, int]:
    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings())
    db.migrate()
    objects = FolderStore(settings.objects_dir)
    pdf = make_born_digital_pdf(tmp_path / "doc.pdf", [page_text(500 + i) for i in range(pages)])
    intake = register_file(db, objects, pdf, settings, IntakeOptions(pages_per_task=pages))
    (range_id,) = intake.range_ids
    return db, objects, range_id


def test_pages_answered_before_a_later_request_failed_are_kept_and_not_paid_twice(tmp_path: Path) -> None:
    db, objects, range_id = _setup(tmp_path, 4)
    with MistralServer(api_key="k-123456") as server:
        # 4 pages, at most 2 per request: the first request succeeds, the second gets a 503
        server.inject(Fault(status=200), Fault(status=503))
        provider = MistralProvider(
            RequestOptions(model="mistral-ocr-latest"), api_key="k-123456", base_url=server.url,
            max_request_pages=2,
        )
        first = run_range(db, objects, provider, range_id, retry_base_s=0.01, retry_max_s=0.05)
        assert first.status == "retry"
        with db.read_session() as s:
            assert sorted(s.scalars(select(Page.page_index))) == [0, 1]
            assert s.scalar(select(func.sum(Usage.pages_processed))) == 2
        second = run_range(db, objects, provider, range_id)
        assert second.status == "done"
        pages_sent = [r.pages for r in server.received if r.status == 200]
        provider.close()
    assert pages_sent == [2, 2]  # the retry sent only pages 2 and 3
    with db.read_session() as s:
        assert sorted(s.scalars(select(Page.page_index))) == [0, 1, 2, 3]
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 4


class _RefusingProvider:
    """Our limiter says "wait" before any request leaves, as it does in a long shared cooldown."""

    name = "mistral"

    def __init__(self) -> None:
        self.calls = 0

    def ocr(self, source: SourceDocument, pages: Sequence[int]) -> OcrResult:
        self.calls += 1
        raise RateLimited("the provider asked to slow down; sending again in 60 s", retry_after_s=0.01, sent=False)

    def close(self) -> None:
        pass


def test_a_refusal_by_our_own_limiter_spends_no_attempt(tmp_path: Path) -> None:
    db, objects, range_id = _setup(tmp_path, 1)
    provider = _RefusingProvider()
    for _ in range(6):
        outcome = run_range(db, objects, provider, range_id, max_attempts=2, retry_base_s=0.01, retry_max_s=0.05)
        assert outcome.status == "retry"
    with db.read_session() as s:
        rng = s.get(PageRange, range_id)
        assert rng is not None and rng.status == "queued" and rng.attempts == 0
    assert provider.calls == 6
