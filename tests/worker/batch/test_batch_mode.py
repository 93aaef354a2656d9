"""Batch mode against the loopback Files/Batch API: ranges go out as JSONL lines of one job, come home through
the store path at the batch rate, and every way a line or a job can go wrong puts the range back, never stores
it, never crashes. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import BatchJob, BatchJobRange, Document, Image, Page, PageRange, Usage
from scheduler.launch.submit import submit
from scheduler.samples import make_born_digital_pdf, make_image, page_text
from scheduler.sweep.batch_poller import batch_tick
from tests.fakes.batch_server import BatchServer
from worker.settings import WorkerSettings

KEY = "sk-test-batch-5e1d"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgresql":
        monkeypatch.setenv("PAGEMILL_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return str(request.param)


def _env(monkeypatch: pytest.MonkeyPatch, server: BatchServer, **extra: str) -> None:
    for k, v in {"PAGEMILL_PROVIDER": "mistral", "PAGEMILL_OCR_BASE_URL": server.url, "MISTRAL_API_KEY": KEY,
                 "PAGEMILL_PRICE_PER_1000_PAGES": "4", "PAGEMILL_BATCH_POLL_MIN_S": "0.05",
                 "PAGEMILL_BATCH_POLL_MAX_S": "0.2", "PAGEMILL_BATCH_MAX_WAIT_S": "0.1",
                 "PAGEMILL_RETRY_BASE_S": "0.01", "PAGEMILL_RETRY_MAX_S": "0.05",
                 **extra}.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, backend: str) -> Iterator[BatchServer]:
    with BatchServer(api_key=KEY, images_per_page=1, queue_s=0.2, run_s=0.4) as srv:
        _env(monkeypatch, srv)
        yield srv


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [make_born_digital_pdf(folder / "report.pdf", [page_text(100 + i) for i in range(5)]),
            make_born_digital_pdf(folder / "memo.pdf", [page_text(200 + i) for i in range(3)]),
            make_image(folder / "photo.png", "A photo of a receipt", "PNG", dpi=100)]


def _drive(settings: WorkerSettings | None = None, timeout_s: float = 30) -> None:
    """The sweep's batch rounds until no job is left to collect."""
    settings = settings or WorkerSettings()
    db = _db()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch_tick(db, settings)
        with db.read_session() as s:
            if not s.scalar(select(func.count()).select_from(BatchJob).where(BatchJob.collected_at.is_(None))) and \
                    not s.scalar(select(func.count()).select_from(PageRange).where(
                        PageRange.status.in_(["queued", "running"]))):
                return
        time.sleep(0.05)
    raise AssertionError("batch jobs did not finish")


def _pages(db: Database, filename: str) -> dict[int, str]:
    with db.read_session() as s:
        doc = s.scalar(select(Document).where(Document.filename == filename))
        assert doc is not None
        return dict(s.execute(select(Page.page_index, Page.markdown).where(Page.document_id == doc.id)).all())


def test_one_job_carries_every_range_and_results_come_home_at_the_batch_rate(tmp_path: Path,
                                                                             server: BatchServer) -> None:
    files = _inputs(tmp_path / "in")
    job = submit(files, pages_per_task=2, batch=True)
    assert len(server.jobs) == 1 and len(server.uploads) == 1  # formed and sent when intake was over
    assert [c for c in server.calls if c[1] == "/v1/ocr"] == []  # nothing synchronous
    _drive()
    db = _db()
    for name, first, n in (("report.pdf", 100, 5), ("memo.pdf", 200, 3)):
        pages = _pages(db, name)
        assert sorted(pages) == list(range(n))
        for i in range(n):
            assert page_text(first + i)[:40] in pages[i]
    assert "receipt" in _pages(db, "photo.png")[0] or "image" in _pages(db, "photo.png")[0].lower()
    ids = server.uploaded_custom_ids()
    assert len(ids) == len(set(ids)) == 3 + 2 + 1  # one line per range, each uploaded once
    upload = server.uploads[0]
    line = json.loads(upload.content.splitlines()[0])
    assert "model" not in line["body"] and line["body"]["document"]["type"] == "document_url"
    remote = next(iter(server.jobs.values()))
    assert remote.model == "mistral-ocr-latest" and remote.timeout_hours == 24
    with db.read_session() as s:
        usage = s.execute(select(Usage.billing, func.sum(Usage.pages_processed), func.sum(Usage.cost_usd))
                          .group_by(Usage.billing)).all()
        assert [(b, int(p)) for b, p, _ in usage] == [("batch", 9)]
        assert usage[0][2] == pytest.approx(9 * 2.0 / 1000)  # half the synchronous $4
        jobs = s.scalars(select(BatchJob)).all()
        assert [(j.status, j.requests, j.succeeded_requests) for j in jobs] == [("SUCCESS", 6, 6)]
        links = s.scalars(select(BatchJobRange.outcome)).all()
        assert links == ["stored"] * 6
        assert s.scalar(select(func.count()).select_from(Image)) == 9  # images and all
    assert all(d.status == "done" for d in job.summary())
    # collected twice (another sweep): nothing more is stored or billed
    batch_tick(db, WorkerSettings())
    with db.read_session() as s:
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 9


@pytest.mark.parametrize("fault", ["error", "malformed", "not_ocr", "unknown", "missing"])
def test_a_bad_line_puts_its_range_back_and_the_next_batch_answers_it(tmp_path: Path, server: BatchServer,
                                                                      fault: str) -> None:
    seen: set[str] = set()

    def first_line_of_range_1_fails(cid: str) -> str | None:
        # the first attempt of the first range goes wrong; its retry (custom_id <range>-2-0) is answered
        if cid.endswith("-1-0") and cid not in seen and not seen:
            seen.add(cid)
            return fault
        return None

    server.line_fault = first_line_of_range_1_fails
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(4)])
    submit([pdf], pages_per_task=2, batch=True)
    _drive()
    db = _db()
    assert sorted(_pages(db, "report.pdf")) == [0, 1, 2, 3]
    with db.read_session() as s:
        ranges = s.execute(select(PageRange.attempts, PageRange.status).order_by(PageRange.id)).all()
        assert ranges == [(2, "done"), (1, "done")]
        assert len(server.jobs) == 2  # the retried range went out in a second job
        pages = s.scalar(select(func.sum(Usage.pages_processed)))
        assert pages == 4  # a bad answer is never stored (nor billed by us)


def test_every_attempt_failing_fails_the_range_with_the_providers_words(tmp_path: Path, server: BatchServer,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_MAX_ATTEMPTS", "2")
    server.line_fault = lambda cid: "error" if cid.split("-")[0] == "1" else None  # range 1, every attempt
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(4)])
    job = submit([pdf], pages_per_task=2, batch=True)
    _drive()
    (doc,) = job.summary()
    assert doc.status == "partial"
    db = _db()
    with db.read_session() as s:
        first = s.scalars(select(PageRange).order_by(PageRange.id)).first()
        assert first is not None and first.status == "failed" and first.attempts == 2
        assert "gave up after 2 attempts" in (first.error or "")
        assert "Document could not be processed" in (first.error or "")


@pytest.mark.parametrize("end", ["FAILED", "TIMEOUT_EXCEEDED"])
def test_a_job_that_ends_early_keeps_its_answers_and_requeues_the_rest(tmp_path: Path, server: BatchServer,
                                                                       end: str) -> None:
    server.end_status, server.partial = end, 0.5
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(8)])
    submit([pdf], pages_per_task=2, batch=True)
    server.end_status = None  # later jobs succeed
    # the first job ends with half its lines answered
    _drive()
    db = _db()
    assert sorted(_pages(db, "report.pdf")) == list(range(8))
    with db.read_session() as s:
        statuses = [j.status for j in s.scalars(select(BatchJob).order_by(BatchJob.id))]
        assert statuses[0] == end and statuses[-1] == "SUCCESS"
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 8  # kept answers are not sent again
    ids = server.job_custom_ids()
    assert sorted(ids) == sorted({*ids})  # no line sent twice under the same attempt


def test_402_stops_the_batch_with_what_to_do(tmp_path: Path, server: BatchServer) -> None:
    server.billing_enabled = False
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(2)])
    job = submit([pdf], batch=True)
    (doc,) = job.summary()
    assert doc.status == "failed"
    assert doc.error_code == "batch_billing"
    assert "enable it (billing) in the Mistral console, or run without --batch" in (doc.error or "")


def test_429_and_5xx_on_the_files_and_jobs_endpoints_are_retried(tmp_path: Path, server: BatchServer) -> None:
    from tests.fakes._http_fake import Fault

    server.inject(Fault(429, headers={"Retry-After": "0.1"}), Fault(503), Fault(502))  # upload x2, then create
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(2)])
    submit([pdf], batch=True)
    _drive()
    assert sorted(_pages(_db(), "report.pdf")) == [0, 1]
    assert len([u for u in server.uploads if u.purpose == "batch"]) == 1


def test_a_batch_over_its_budget_sends_what_fits_and_holds_the_rest(tmp_path: Path, server: BatchServer) -> None:
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(10)])
    submit([pdf], pages_per_task=2, batch=True, budget_usd=0.012)  # $0.004 a range at the batch rate: 3 fit
    _drive()
    db = _db()
    with db.read_session() as s:
        statuses = list(s.scalars(select(PageRange.status).order_by(PageRange.id)))
        assert statuses == ["done"] * 3 + ["held"] * 2
        assert s.scalar(select(func.sum(Usage.cost_usd))) == pytest.approx(0.012)
        reason = s.scalar(select(PageRange.error).where(PageRange.status == "held").limit(1))
        assert "--budget is $0.01" in (reason or "")
    assert len(server.job_custom_ids()) == 3  # held ranges were never uploaded


def test_an_output_file_that_cannot_be_downloaded_puts_its_ranges_back(tmp_path: Path, server: BatchServer) -> None:
    server.failing_downloads = [404]
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(4)])
    submit([pdf], pages_per_task=2, batch=True)
    _drive()
    db = _db()
    assert sorted(_pages(db, "report.pdf")) == [0, 1, 2, 3]
    with db.read_session() as s:
        assert list(s.scalars(select(PageRange.attempts).order_by(PageRange.id))) == [2, 2]
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 4
    assert len(server.jobs) == 2


def test_batches_over_the_file_limits_are_split_into_jobs(tmp_path: Path, server: BatchServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # each range of 2 pages becomes 2 lines (1 page per request); at most 2 lines per input file
    monkeypatch.setenv("PAGEMILL_MAX_REQUEST_PAGES", "1")
    monkeypatch.setenv("PAGEMILL_BATCH_MAX_REQUESTS", "2")
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(6)])
    submit([pdf], pages_per_task=2, batch=True)
    _drive()
    assert sorted(_pages(_db(), "report.pdf")) == list(range(6))
    assert [len(u.custom_ids) for u in server.uploads if u.purpose == "batch"] == [2, 2, 2]
    assert len(server.jobs) == 3
    ids = server.job_custom_ids()
    assert len(ids) == len(set(ids)) == 6


def test_fallback_sync_sends_a_failed_batch_line_as_a_synchronous_request(tmp_path: Path, server: BatchServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_BATCH_FALLBACK", "sync")
    server.line_fault = lambda cid: "error" if cid.startswith("1-") else None
    pdf = make_born_digital_pdf(tmp_path / "report.pdf", [page_text(i) for i in range(4)])
    submit([pdf], pages_per_task=2, batch=True)
    db = _db()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batch_tick(db, WorkerSettings())
        with db.read_session() as s:
            if s.scalar(select(BatchJob.collected_at)) is not None:
                break
        time.sleep(0.05)
    else:
        pytest.fail("the batch job was never collected within 30 s")
    with db.read_session() as s:
        first = s.get(PageRange, 1)
        assert first is not None and (first.status, first.batch) == ("queued", False)
    from worker.tasks.ocr import ocr_range  # what a worker does with the message the fallback sent

    assert ocr_range.apply(args=[1]).get() == "done"
    assert sorted(_pages(db, "report.pdf")) == [0, 1, 2, 3]
    with db.read_session() as s:
        rows = dict(s.execute(select(Usage.billing, func.sum(Usage.pages_processed)).group_by(Usage.billing)).all())
    assert {k: int(v) for k, v in rows.items()} == {"batch": 2, "sync": 2}
    assert [c for c in server.received if c.status == 200]  # the synchronous /v1/ocr request


def test_a_schema_goes_in_the_batch_lines_and_its_pages_are_billed_at_the_batch_annotated_rate(
        tmp_path: Path, server: BatchServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.tables import FieldsRow

    schema = Path(__file__).resolve().parents[3] / "examples" / "invoice.schema.json"
    monkeypatch.setenv("PAGEMILL_SCHEMA", str(schema))
    monkeypatch.setenv("PAGEMILL_ANNOTATED_PRICE_PER_1000_PAGES", "6")
    folder = tmp_path / "in"
    folder.mkdir()
    pdf = make_born_digital_pdf(folder / "invoice.pdf", ["ACME Supplies Ltd\n\nInvoice number: INV-7\n\n"
                                                         "Invoice date: 2026-03-01\n\nTotal: 12.50\n\nCurrency: EUR"])
    submit([pdf], batch=True)
    _drive()
    line = json.loads(server.uploads[0].content.splitlines()[0])
    # the same body as the synchronous request: the document schema as document_annotation_format
    assert line["body"]["document_annotation_format"]["json_schema"]["name"] == "invoice"
    assert [c for c in server.calls if c[1] == "/v1/ocr"] == []
    db = _db()
    with db.read_session() as s:
        row = s.scalars(select(FieldsRow)).one()
        assert (row.status, row.source, row.schema_name) == ("done", "annotation", "invoice")
        assert row.data is not None and row.data["invoice_number"] == "INV-7"
        usage = s.execute(select(Usage.kind, Usage.billing, Usage.pages_processed, Usage.cost_usd)).all()
    assert [(k, b, p) for k, b, p, _ in usage] == [("annotation", "batch_annotated", 1)]
    assert usage[0][3] == pytest.approx(1 * 3.0 / 1000)  # the annotated $6 at the batch discount (half)
