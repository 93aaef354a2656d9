"""The budget: several processes racing for the last dollars never spend past it, on every backend (SQLite,
PostgreSQL, Redis); a range that would cross it waits in `held` with the reason, unbilled, and goes on once the
budget is raised."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from models import Database, DatabaseSettings
from models.errors import BudgetExceeded
from models.tables import PageRange, Usage
from scheduler.cli import app
from scheduler.launch.submit import submit
from scheduler.samples import make_born_digital_pdf, page_text
from tests.conftest import start_worker, stop_process, wait_until
from tests.fakes.mistral_server import MistralServer
from tests.results_db import migrated_database
from worker.budget.limit import Budget
from worker.budget.redis import RedisBudget
from worker.budget.sql import SqlBudget

KEY = "sk-test-budget-99"
RACERS = 4
PRICE = 0.07
LIMIT = 1.0


# the most any one racer can be granted is every reservation that fits; one more must be refused
MAX_ATTEMPTS = int(LIMIT / PRICE) + 1


def _race(kind: str, url: str, start_at: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Reserve until refused, at most MAX_ATTEMPTS times; reports (granted, what ended the loop)."""
    backend = RedisBudget.from_url(url) if kind == "redis" else SqlBudget(Database(url))
    budget = Budget(backend, LIMIT)
    time.sleep(max(0.0, start_at - time.time()))
    granted = 0
    ended = f"never refused: {MAX_ATTEMPTS} reservations of ${PRICE} were all granted under a ${LIMIT} budget"
    try:
        for _ in range(MAX_ATTEMPTS):
            try:
                budget.reserve(PRICE)
            except BudgetExceeded:  # the last dollars are gone
                ended = "refused"
                break
            granted += 1
    except Exception as exc:
        ended = f"failed: {exc!r}"
    out.put((granted, ended))
    budget.close()


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "redis":
        yield "redis", request.getfixturevalue("redis_url")
        return
    url = f"sqlite:///{tmp_path / 'b.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    db = migrated_database(url)
    db.dispose()
    yield "sql", url


def test_processes_racing_for_the_last_dollars_never_overrun(backend_url: tuple[str, str]) -> None:
    kind, url = backend_url
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 2.0  # every racer is up before the first reserves
    procs = [ctx.Process(target=_race, args=(kind, url, start_at, out), daemon=True) for _ in range(RACERS)]
    for p in procs:
        p.start()
    try:
        try:
            reports = [out.get(timeout=60) for _ in procs]
        except queue.Empty:
            pytest.fail("a racer did not report within 60 s of starting: the budget's reserve never returned")
        for p in procs:
            p.join(10)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    grants = [granted for granted, _ in reports]
    assert [ended for _, ended in reports] == ["refused"] * RACERS  # every racer was told no in the end
    assert sum(grants) == int(LIMIT / PRICE)  # 14 x $0.07 fit in $1.00; the 15th never does
    backend = RedisBudget.from_url(url) if kind == "redis" else SqlBudget(Database(url))
    from worker.budget.limit import month_key

    assert backend.spent(month_key()) == pytest.approx(sum(grants) * PRICE)
    backend.close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MistralServer]:
    with MistralServer(api_key=KEY) as srv:
        for k, v in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": srv.url, "MISTRAL_API_KEY": KEY,
                     "PAGEMILL_PRICE_PER_1000_PAGES": "4", "PAGEMILL_RATE_LIMIT": "0"}.items():
            monkeypatch.setenv(k, v)
        yield srv


def _counts(db: Database) -> tuple[int, int, float]:
    with db.read_session() as s:
        held = s.scalar(select(func.count()).select_from(PageRange).where(PageRange.status == "held")) or 0
        pages = s.scalar(select(func.coalesce(func.sum(Usage.pages_processed), 0))) or 0
        cost = s.scalar(select(func.coalesce(func.sum(Usage.cost_usd), 0.0))) or 0.0
    return int(held), int(pages), float(cost)


def test_worker_processes_racing_hold_what_does_not_fit_and_a_raised_budget_lets_it_go_on(
        tmp_path: Path, server: MistralServer) -> None:
    pdf = make_born_digital_pdf(tmp_path / "twenty.pdf", [page_text(i, words=10) for i in range(20)])
    job = submit([pdf], pages_per_task=1, budget_usd=0.03)  # $0.004 a page: 7 pages fit, 13 do not
    db = Database.from_settings(DatabaseSettings())
    workers = [start_worker(concurrency=4, log=tmp_path / "w.log") for _ in range(3)]
    try:
        assert wait_until(lambda: _counts(db)[0] + _counts(db)[1] == 20, timeout_s=90)
        held, pages, cost = _counts(db)
        assert (held, pages) == (13, 7)
        assert cost == pytest.approx(0.028) and cost <= 0.03
        assert len(server.received) == 7  # held ranges were never sent
        with db.read_session() as s:
            reason = s.scalar(select(PageRange.error).where(PageRange.status == "held").limit(1))
        assert "job 1's --budget is $0.03" in (reason or "")
        status = CliRunner().invoke(app, ["status", str(job.document_ids[0])])
        assert "held" in status.output
        raised = CliRunner().invoke(app, ["budget", "--job", str(job.id), "--set", "1"])
        assert raised.exit_code == 0, raised.output
        retried = CliRunner().invoke(app, ["retry"])
        assert retried.exit_code == 0, retried.output
        assert wait_until(lambda: _counts(db)[1] == 20, timeout_s=90)
    finally:
        for w in workers:
            stop_process(w)
    held, pages, cost = _counts(db)
    assert (held, pages) == (0, 20) and cost == pytest.approx(0.08)
    assert len(server.received) == 20  # every page sent once
