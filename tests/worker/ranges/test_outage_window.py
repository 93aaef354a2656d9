"""A provider outage (the API answering only 503 or 429) spends a range's attempts only once it has lasted
PAGEMILL_RETRY_WINDOW_S: a minute of 503s fails nothing, and the range is stored, billed once, when the API is
back. The hour soak (bench/soak.py) failed a range after 9 quick attempts in a 52 s outage before this."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from models import Database, DatabaseSettings
from models.tables import Page, PageRange, Usage
from scheduler.intake.register import register_file
from scheduler.intake.types import IntakeOptions
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.mistral_server import Fault, MistralServer
from worker.objects.folder import FolderStore
from worker.providers.mistral import MistralProvider
from worker.providers.mistral_request import RequestOptions
from worker.ranges.run import run_range
from worker.settings import WorkerSettings

KEY = "k-123456"


@pytest.fixture
def one_range(tmp_path: Path) -> tuple[Database, FolderStore, int]:
    settings = WorkerSettings()
    db = Database.from_settings(DatabaseSettings())
    db.migrate()
    objects = FolderStore(settings.objects_dir)
    pdf = make_born_digital_pdf(tmp_path / "doc.pdf", [page_text(700 + i) for i in range(2)])
    (range_id,) = register_file(db, objects, pdf, settings, IntakeOptions(pages_per_task=2)).range_ids
    return db, objects, range_id


def provider(server: MistralServer) -> MistralProvider:
    return MistralProvider(RequestOptions(model="mistral-ocr-latest"), api_key=KEY, base_url=server.url)


def range_row(db: Database, range_id: int) -> PageRange:
    with db.read_session() as s:
        rng = s.get(PageRange, range_id)
        assert rng is not None
        return rng


def outage_began(db: Database, range_id: int, seconds_ago: float) -> None:
    """As if this range's outage had begun `seconds_ago`."""
    with db.write_session() as s:
        s.execute(update(PageRange).where(PageRange.id == range_id)
                  .values(failing_since=datetime.now(UTC) - timedelta(seconds=seconds_ago)))


def test_an_outage_inside_the_window_spends_no_attempts_and_the_range_is_stored_once_after_it(
    one_range: tuple[Database, FolderStore, int],
) -> None:
    db, objects, range_id = one_range
    with MistralServer(api_key=KEY) as server:
        server.inject(*[Fault(status=503)] * 5, Fault(status=429))
        ocr = provider(server)
        outcomes = [run_range(db, objects, ocr, range_id, max_attempts=2, retry_base_s=0.01, retry_max_s=0.05,
                              retry_window_s=60).status for _ in range(7)]
        statuses = [r.status for r in server.received]
        ocr.close()
    # six refusals in a row (three times the attempts allowed) and the range is still waiting for the API...
    assert outcomes == ["retry"] * 6 + ["done"]
    assert statuses == [503] * 5 + [429, 200]
    # ...then stored and billed once, its outage over
    with db.read_session() as s:
        assert sorted(s.scalars(select(Page.page_index))) == [0, 1]
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 2
    assert range_row(db, range_id).status == "done"


def test_without_a_window_an_outage_spends_the_attempts_at_once(one_range: tuple[Database, FolderStore, int]) -> None:
    db, objects, range_id = one_range
    with MistralServer(api_key=KEY) as server:
        server.inject(*[Fault(status=503)] * 3)
        ocr = provider(server)
        outcomes = [run_range(db, objects, ocr, range_id, max_attempts=2, retry_base_s=0.01, retry_max_s=0.05,
                              retry_window_s=0).status for _ in range(2)]
        ocr.close()
    assert outcomes == ["retry", "failed"]
    rng = range_row(db, range_id)
    assert rng.status == "failed" and rng.error is not None and rng.error.startswith("gave up after 2 attempts")


def test_an_outage_longer_than_the_window_fails_the_range_and_says_for_how_long(
    one_range: tuple[Database, FolderStore, int],
) -> None:
    db, objects, range_id = one_range
    with MistralServer(api_key=KEY) as server:
        server.inject(*[Fault(status=503)] * 3)
        ocr = provider(server)
        first = run_range(db, objects, ocr, range_id, max_attempts=2, retry_base_s=0.01, retry_max_s=0.05,
                          retry_window_s=60)
        assert first.status == "retry"
        outage_began(db, range_id, seconds_ago=120)
        second = run_range(db, objects, ocr, range_id, max_attempts=2, retry_base_s=0.01, retry_max_s=0.05,
                           retry_window_s=60)
        ocr.close()
    assert second.status == "failed"
    error = range_row(db, range_id).error or ""
    assert error.startswith("gave up after 2 attempts over 12") and "503" in error


def test_the_waits_grow_with_the_outage_so_a_long_one_costs_a_few_requests(
    one_range: tuple[Database, FolderStore, int],
) -> None:
    db, objects, range_id = one_range
    with MistralServer(api_key=KEY) as server:
        server.inject(*[Fault(status=503)] * 2)
        ocr = provider(server)
        run_range(db, objects, ocr, range_id, max_attempts=4, retry_base_s=0.01, retry_max_s=300, retry_window_s=600)
        outage_began(db, range_id, seconds_ago=200)
        outcome = run_range(db, objects, ocr, range_id, max_attempts=4, retry_base_s=0.01, retry_max_s=300,
                            retry_window_s=600)
        ocr.close()
    # 200 s into the outage the next request waits a quarter to half of that, not the 0.01 s base
    assert outcome.status == "retry" and outcome.retry_in_s is not None and 50 <= outcome.retry_in_s <= 100


def test_the_window_is_ten_minutes_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGEMILL_RETRY_WINDOW_S")  # the test suite's own setting (tests/conftest.py)
    assert WorkerSettings().retry_window_s == 600
