"""End to end with the Mistral provider: `scheduler.launch.submit.run` (embedded broker, real worker processes) against
a real loopback server speaking /v1/ocr, with scripted failures."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Database, DatabaseSettings
from models.tables import Document, Image, Page, PageRange, Usage
from scheduler.launch.submit import run
from scheduler.samples import make_born_digital_pdf, make_image, page_text
from tests.fakes.mistral_server import ERROR_BODIES, Fault, MistralServer

KEY = "sk-test-key-8d1f0c2e"


@pytest.fixture
def server() -> Iterator[MistralServer]:
    with MistralServer(api_key=KEY, images_per_page=1) as srv:
        yield srv


@pytest.fixture
def mistral_env(monkeypatch: pytest.MonkeyPatch, server: MistralServer) -> None:
    for k, v in {
        "PAGEMILL_PROVIDER": "mistral",
        "PAGEMILL_OCR_BASE_URL": server.url,
        "MISTRAL_API_KEY": KEY,
        "PAGEMILL_RATE_LIMIT": "50",
        "PAGEMILL_EMBEDDED_WORKERS": "4",
        "PAGEMILL_RETRY_BASE_S": "0.2",
        "PAGEMILL_RETRY_MAX_S": "3",
        "PAGEMILL_REQUEST_TIMEOUT_S": "5",
    }.items():
        monkeypatch.setenv(k, v)


def _db() -> Database:
    return Database.from_settings(DatabaseSettings())


def _pdf(folder: Path, name: str, first: int, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return make_born_digital_pdf(folder / name, [page_text(first + i) for i in range(n)])


def _attempts(db: Database) -> list[int]:
    with db.read_session() as s:
        return list(s.scalars(select(PageRange.attempts).order_by(PageRange.id)))


@pytest.mark.usefixtures("mistral_env")
def test_pages_images_and_ledger_come_back_in_original_order(tmp_path: Path, server: MistralServer) -> None:
    folder = tmp_path / "in"
    _pdf(folder, "report.pdf", 100, 5)
    _pdf(folder, "memo.pdf", 200, 3)
    make_image(folder / "photo.png", "A photo of a receipt", "PNG", dpi=100)

    job = run([folder], pages_per_task=2)

    assert job.ok, [(d.filename, d.error) for d in job.summary()]
    db = _db()
    docs = {d.filename: d.document_id for d in job.summary()}
    with db.read_session() as s:
        for name, first, n in (("report.pdf", 100, 5), ("memo.pdf", 200, 3)):
            pages = dict(s.execute(select(Page.page_index, Page.markdown).where(Page.document_id == docs[name])).all())
            assert sorted(pages) == list(range(n))
            for i in range(n):
                # the server read page i of the small PDF it got; we must have mapped it back to page i
                assert page_text(first + i)[:40] in pages[i], (name, i, pages[i][:80])
        images = s.execute(select(Image)).scalars().all()
        assert len(images) == 9  # one per page, the photo included
        objects = tmp_path / "data" / "objects"
        for im in images:
            assert (objects / im.path).is_file()
            assert im.mime_type == "image/png" and im.bottom_right_x is not None
            md = s.scalar(select(Page.markdown).where(Page.document_id == im.document_id,
                                                      Page.page_index == im.page_index))
            assert f"![{im.name}]({im.name})" in md  # placeholder linked to the stored image
        ledger = s.execute(select(Usage.pages_processed, Usage.cost_usd, Usage.model)).all()
    # 3 + 2 ranges for the PDFs, 1 for the photo: one billed response each, nothing twice
    assert len(ledger) == 3 + 2 + 1
    assert sum(r[0] for r in ledger) == 9
    assert sum(r[1] for r in ledger) == pytest.approx(9 * 4.0 / 1000)
    assert {r[2] for r in ledger} == {"mistral-ocr-2512"}
    assert _attempts(db) == [1] * 6
    assert len(server.received) == 6 and all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.received)


@pytest.mark.usefixtures("mistral_env")
def test_retryable_failures_are_retried_and_billed_once(tmp_path: Path, server: MistralServer) -> None:
    _pdf(tmp_path / "in", "long.pdf", 300, 6)
    server.inject(
        Fault(429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "1"}),
        Fault(503, ERROR_BODIES["bare"]("upstream overloaded")),
        Fault(429, ERROR_BODIES["bare"]("Requests rate limit exceeded")),  # no Retry-After
        Fault(200, b'{"pages": [ {"index": 0, "markdo'),  # malformed JSON
    )

    job = run([tmp_path / "in"], pages_per_task=1)

    assert job.ok, [(d.filename, d.error) for d in job.summary()]
    db = _db()
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Page)) == 6
        assert s.scalar(select(func.sum(Usage.pages_processed))) == 6  # failed answers are not billed
        assert s.scalar(select(func.count()).select_from(Usage)) == 6
    assert sum(_attempts(db)) == 6 + 4  # each injected failure cost exactly one attempt
    assert sorted(server.statuses()).count(200) == 7  # 6 good answers + the malformed 200


@pytest.mark.usefixtures("mistral_env")
def test_client_errors_fail_fast_with_the_servers_message(tmp_path: Path, server: MistralServer) -> None:
    _pdf(tmp_path / "in", "bad.pdf", 400, 1)
    server.inject(Fault(422, ERROR_BODIES["fastapi"]("Input should be 'markdown' or 'html'")))

    job = run([tmp_path / "in"])

    [doc] = job.summary()
    assert doc.status == "failed"
    assert doc.error_code == "rejected"
    assert "HTTP 422" in doc.error and "document: Input should be 'markdown' or 'html'" in doc.error
    assert _attempts(_db()) == [1]


@pytest.mark.usefixtures("mistral_env")
def test_retries_stop_after_max_attempts(tmp_path: Path, server: MistralServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEMILL_MAX_ATTEMPTS", "3")
    _pdf(tmp_path / "in", "down.pdf", 500, 1)
    server.inject(*[Fault(502, ERROR_BODIES["documented"]("bad gateway"))] * 5)

    job = run([tmp_path / "in"])

    [doc] = job.summary()
    assert doc.status == "failed" and doc.error_code == "unavailable"
    assert "gave up after 3 attempts" in doc.error and "HTTP 502" in doc.error
    assert _attempts(_db()) == [3]
    assert len(server.received) == 3


@pytest.mark.usefixtures("mistral_env")
def test_a_wrong_key_stops_the_job_and_never_leaks(tmp_path: Path, server: MistralServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    monkeypatch.setenv("MISTRAL_API_KEY", wrong)
    monkeypatch.setenv("PAGEMILL_EMBEDDED_WORKERS", "1")
    _pdf(tmp_path / "in", "a.pdf", 600, 8)
    _pdf(tmp_path / "in", "b.pdf", 700, 8)

    job = run([tmp_path / "in"], pages_per_task=1)

    summary = job.summary()
    assert [d.status for d in summary] == ["failed", "failed"]
    assert all("check MISTRAL_API_KEY" in (d.error or "") for d in summary)
    assert all(d.error_code == "auth" for d in summary)
    # the job stopped: far fewer requests than the 16 ranges (one per worker thread at most)
    assert len(server.received) <= 8
    data = tmp_path / "data"
    for path in data.rglob("*"):
        if path.is_file():
            assert wrong.encode() not in path.read_bytes(), path
    con = sqlite3.connect(data / "pagemill.sqlite")
    assert not any(wrong in line for line in con.iterdump())


@pytest.mark.usefixtures("mistral_env")
def test_hostile_image_ids_cannot_escape_the_object_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    escape_dir = tmp_path / "victim"
    escape_dir.mkdir()
    hostile = ["../../../victim/pwned.png", str(escape_dir / "abs.png"), "..\\..\\x.png"]
    with MistralServer(api_key=KEY, images_per_page=3, image_ids=hostile, bare_base64=True) as srv:
        monkeypatch.setenv("PAGEMILL_OCR_BASE_URL", srv.url)
        _pdf(tmp_path / "in", "evil.pdf", 800, 2)
        job = run([tmp_path / "in"])
    assert job.ok
    assert list(escape_dir.iterdir()) == []
    objects = (tmp_path / "data" / "objects").resolve()
    db = _db()
    with db.read_session() as s:
        images = s.execute(select(Image)).scalars().all()
        pages = s.execute(select(Page.markdown)).scalars().all()
        doc = s.execute(select(Document)).scalar_one()
    assert len(images) == 6
    for im in images:
        assert im.name.startswith("img-") and "/" not in im.name and ".." not in im.name
        stored = (objects / im.path).resolve()
        assert stored.is_relative_to(objects / "images") and stored.is_file()
        assert im.provider_id in hostile  # kept for reference only
    for md in pages:
        assert "victim" not in md and ".." not in md  # placeholders now point at pagemill's names
    assert doc.status == "done"
