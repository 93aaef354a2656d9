"""End to end with a schema: `run --schema` against the Mistral OCR fake (document annotations built from the
request's schema) and the chat fake, real worker processes, on SQLite (embedded) and on Redis + PostgreSQL;
then `pagemill fields` and `pagemill extract` as a user runs them."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Database, DatabaseSettings
from models.tables import FieldsRow, Page, Usage
from scheduler.launch.submit import run
from scheduler.samples import make_born_digital_pdf, page_text
from tests.fakes.chat_server import ChatServer
from tests.fakes.mistral_server import MistralServer

OCR_KEY = "sk-ocr-test-51c0"
CHAT_KEY = "sk-chat-test-a93e"
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "examples" / "invoice.schema.json"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("production_env")  # Redis broker and PostgreSQL results
    return str(request.param)


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MistralServer, ChatServer]]:
    with MistralServer(api_key=OCR_KEY) as ocr, ChatServer(api_key=CHAT_KEY) as chat:
        for k, v in {
            "PAGEMILL_PROVIDER": "mistral",
            "PAGEMILL_OCR_BASE_URL": ocr.url,
            "MISTRAL_API_KEY": OCR_KEY,
            "PAGEMILL_RATE_LIMIT": "50",
            "PAGEMILL_RETRY_BASE_S": "0.2",
            "PAGEMILL_RETRY_MAX_S": "3",
            "PAGEMILL_EMBEDDED_WORKERS": "2",
            "PAGEMILL_EXTRACT_BASE_URL": chat.url,
            "PAGEMILL_EXTRACT_API_KEY": CHAT_KEY,
            "PAGEMILL_EXTRACT_RATE_LIMIT": "20",
            "PAGEMILL_EXTRACT_RETRY_BASE_S": "0.2",
            "PAGEMILL_ANNOTATION_MAX_PAGES": "3",
            "PAGEMILL_SCHEMA": str(SCHEMA),
        }.items():
            monkeypatch.setenv(k, v)
        yield ocr, chat


def _invoice(folder: Path, name: str, number: str, total: str, extra_pages: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    first = f"ACME Supplies Ltd\n\nInvoice number: {number}\n\nInvoice date: 2026-03-01\n\nTotal: {total}\n\n" \
            "Currency: EUR"
    return make_born_digital_pdf(folder / name, [first] + [page_text(300 + i) for i in range(extra_pages)])


def _rows(db: Database) -> dict[int, FieldsRow]:
    with db.read_session() as s:
        rows = list(s.scalars(select(FieldsRow)))
        for r in rows:
            s.expunge(r)
    return {r.document_id: r for r in rows}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scheduler.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def test_run_with_a_schema_fills_fields_in_the_ocr_request_or_from_the_stored_markdown(
    tmp_path: Path, servers: tuple[MistralServer, ChatServer], backend: str
) -> None:
    ocr, chat = servers
    folder = tmp_path / "invoices"
    _invoice(folder, "short.pdf", "INV-2026-001", "1,250.50")
    _invoice(folder, "long.pdf", "INV-2026-002", "99.90", extra_pages=4)  # 5 pages > PAGEMILL_ANNOTATION_MAX_PAGES

    job = run([folder], pages_per_task=2)
    assert job.ok, [(d.filename, d.error) for d in job.summary()]
    ids = {d.filename: d.document_id for d in job.summary()}
    db = Database.from_settings(DatabaseSettings())
    assert db.is_sqlite == (backend == "sqlite")
    rows = _rows(db)

    short, long_ = rows[ids["short.pdf"]], rows[ids["long.pdf"]]
    assert (short.status, short.source, short.schema_name) == ("done", "annotation", "invoice")
    assert short.data is not None and short.data["invoice_number"] == "INV-2026-001"
    assert short.data["total"] == 1250.5 and short.data["currency"] == "EUR"
    assert (long_.status, long_.source) == ("done", "chat")
    assert long_.data is not None and long_.data["invoice_number"] == "INV-2026-002" and long_.data["total"] == 99.9

    # the short invoice went whole as one annotated request; the long one in ranges without annotation
    annotated = [r.body for r in ocr.received if r.body and "document_annotation_format" in r.body]
    assert len(annotated) == 1 and annotated[0]["document_annotation_format"]["json_schema"]["name"] == "invoice"
    assert len(ocr.received) == 1 + 3
    assert len(chat.received) == 1 and "INV-2026-002" in chat.received[0].text

    with db.read_session() as s:
        ledger = {(u.document_id, u.kind): u for u in s.scalars(select(Usage))}
        pages = {d: len(s.scalars(select(Page.id).where(Page.document_id == d)).all()) for d in ids.values()}
    assert pages == {ids["short.pdf"]: 1, ids["long.pdf"]: 5}
    annotated_row = ledger[(ids["short.pdf"], "annotation")]
    assert annotated_row.pages_processed == 1 and annotated_row.cost_usd == pytest.approx(0.005)
    extract_row = ledger[(ids["long.pdf"], "extract")]
    assert extract_row.prompt_tokens and extract_row.completion_tokens
    usage = _cli("usage", "--by", "kind")
    assert usage.returncode == 0, usage.stderr
    for kind in ("annotation", "extract", "ocr"):
        assert kind in usage.stdout

    out = _cli("fields", "invoice", "--format", "csv")
    assert out.returncode == 0, out.stderr
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["filename"] for r in table] == ["long.pdf", "short.pdf"] or \
        [r["filename"] for r in table] == ["short.pdf", "long.pdf"]
    assert {r["filename"]: r["total"] for r in table} == {"short.pdf": "1250.5", "long.pdf": "99.9"}
    assert list(table[0])[:3] == ["document_id", "filename", "invoice_number"]

    # after the fact: nothing new to do for the same schema, and no OCR request either way
    ocr_before, chat_before = len(ocr.received), len(chat.received)
    again = _cli("extract", "--schema", str(SCHEMA), "--all")
    assert again.returncode == 0, again.stderr
    assert "0 extracted, 2 skipped" in again.stdout
    forced = _cli("extract", "--schema", str(SCHEMA), f"job:{job.id}", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "2 extracted" in forced.stdout
    assert len(ocr.received) == ocr_before and len(chat.received) == chat_before + 2
    assert _rows(db)[ids["short.pdf"]].source == "chat"
    db.dispose()


@pytest.mark.parametrize("mode", ["reject", "breaks", "double"])
def test_a_bad_annotation_keeps_the_pages_and_asks_the_chat_model_once(
    tmp_path: Path, servers: tuple[MistralServer, ChatServer], mode: str
) -> None:
    ocr, chat = servers
    ocr.annotation_mode = mode
    _invoice(tmp_path / "in", "short.pdf", "INV-7", "12")
    job = run([tmp_path / "in"])
    assert job.ok, [(d.filename, d.error) for d in job.summary()]
    db = Database.from_settings(DatabaseSettings())
    [row] = _rows(db).values()
    assert (row.status, row.source) == ("done", "chat") and row.data is not None and row.data["total"] == 12
    # the pages were OCR'd once (a refused schema: once more without the annotation, not billed twice)
    assert ocr.statuses() == ([400, 200] if mode == "reject" else [200])
    with db.read_session() as s:
        billed = [(u.kind, u.pages_processed) for u in s.scalars(select(Usage).where(Usage.kind != "extract"))]
    assert billed == ([("ocr", 1)] if mode == "reject" else [("annotation", 1)])
    [asked] = chat.received
    assert "An earlier answer for this document was rejected" in asked.text
    expected = {"reject": "nullable", "breaks": "does not match the schema", "double": "encoded twice"}[mode]
    assert expected in asked.text
    db.dispose()


def test_the_local_engine_gets_fields_from_the_chat_model_and_status_shows_an_error(
    tmp_path: Path, servers: tuple[MistralServer, ChatServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    ocr, chat = servers
    monkeypatch.setenv("PAGEMILL_PROVIDER", "tesseract")  # with text layer "auto": born-digital PDFs need no OCR
    _invoice(tmp_path / "in", "a.pdf", "INV-9", "5")
    chat.script("{}", "{}")  # both answers break the schema
    job = run([tmp_path / "in"])
    assert job.ok  # the OCR is fine: only the fields failed
    db = Database.from_settings(DatabaseSettings())
    [row] = _rows(db).values()
    assert not ocr.received
    assert (row.status, row.data, row.error_code) == ("failed", None, "invalid_fields")
    assert "required property" in (row.error or "") and len(chat.received) == 2
    status = _cli("status", str(row.document_id))
    assert status.returncode == 0, status.stderr
    for text in ("fields", "invoice", "failed", "invalid_fields", "required property"):
        assert text in status.stdout, status.stdout
    empty = _cli("fields", "invoice", "--format", "csv")
    assert empty.stdout.splitlines()[1:] == []  # a failed extraction is never a row of fields

    retried = _cli("extract", "--schema", str(SCHEMA), str(row.document_id))  # a failure is not skipped
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert _rows(db)[row.document_id].data["invoice_number"] == "INV-9"  # type: ignore[index]
    db.dispose()


def test_a_schema_on_documents_already_ocrd_extracts_without_ocr_again(
    tmp_path: Path, servers: tuple[MistralServer, ChatServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    ocr, chat = servers
    monkeypatch.delenv("PAGEMILL_SCHEMA")
    _invoice(tmp_path / "in", "a.pdf", "INV-31", "310")
    assert run([tmp_path / "in"]).ok
    assert len(ocr.received) == 1 and not chat.received
    db = Database.from_settings(DatabaseSettings())
    assert _rows(db) == {}

    monkeypatch.setenv("PAGEMILL_SCHEMA", str(SCHEMA))
    job = run([tmp_path / "in"])  # same content, same OCR options: a duplicate, but new fields to fill
    assert job.ok
    assert [e.outcome for e in job.entries] == ["duplicate"] and "fields to extract" in (job.entries[0].note or "")
    assert len(ocr.received) == 1  # no OCR request
    [row] = _rows(db).values()
    assert (row.status, row.source) == ("done", "chat") and row.data is not None and row.data["total"] == 310
    assert run([tmp_path / "in"]).ok  # and a third time: nothing at all
    assert len(ocr.received) == 1 and len(chat.received) == 1
    db.dispose()
