"""Extraction over stored markdown against a loopback chat server that honours `response_format`, on SQLite and
PostgreSQL: the fields rows, the ledger, the skip, the retry with the validation error, and each bad answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from models import Database
from models.tables import FieldsRow, Page, PageTable, Usage
from scheduler.launch.extract import extract_documents
from tests.fakes.chat_server import ERROR_BODIES, ChatServer, Fault
from tests.results_db import add_document
from worker.extraction.client import ExtractClient
from worker.extraction.extract import extract_document
from worker.extraction.schema import schema_from_body
from worker.extraction.settings import ExtractSettings

KEY = "sk-extract-5b2e"
INVOICE = schema_from_body({
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "total": {"type": "number"},
        "currency": {"type": ["string", "null"]},
    },
    "required": ["invoice_number", "total", "currency"],
    "additionalProperties": False,
}, "invoice.schema.json", "invoice")


@pytest.fixture(autouse=True)
def _limiter_database() -> None:
    """The shared rate limiter keeps its state in the data folder's database (no Redis broker here)."""
    Database.from_settings().migrate()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer(api_key=KEY) as server:
        yield server


def _settings(chat: ChatServer, **extra: object) -> ExtractSettings:
    return ExtractSettings(base_url=chat.url, api_key=KEY, rate_limit=0, retry_base_s=0.05, **extra)  # type: ignore[arg-type]


def _rows(db: Database) -> dict[int, FieldsRow]:
    with db.read_session() as s:
        rows = list(s.scalars(select(FieldsRow)))
        for r in rows:
            s.expunge(r)
    return {r.document_id: r for r in rows}


def _ledger(db: Database) -> list[tuple[str, int | None, int | None]]:
    with db.read_session() as s:
        return [(u.kind, u.prompt_tokens, u.completion_tokens) for u in s.scalars(select(Usage).order_by(Usage.id))]


def _invoices(db: Database) -> tuple[int, int]:
    a = add_document(db, "a.pdf", ["# Invoice\n\nInvoice number: INV-17\n\nTotal: 1,250.50\n\nCurrency: EUR"])
    b = add_document(db, "b.pdf", ["Cover letter", "Invoice number: INV-18\nTotal: 99"])
    return a, b


def test_rows_ledger_and_the_skip_on_a_second_run(both_databases: Database, chat: ChatServer) -> None:
    db = both_databases
    a, b = _invoices(db)
    report = extract_documents(INVOICE, [str(a), str(b)], settings=_settings(chat), db=db)
    assert sorted(e[0] for e in report.done) == [a, b]
    rows = _rows(db)
    assert rows[a].data == {"invoice_number": "INV-17", "total": 1250.5, "currency": "EUR"}
    assert rows[b].data == {"invoice_number": "INV-18", "total": 99.0, "currency": None}
    for r in rows.values():
        assert (r.status, r.source, r.model, r.schema_name, r.schema_sha256) == (
            "done", "chat", "mistral-small-2603", "invoice", INVOICE.sha256)
        assert r.error is None and r.note is None
    sent = chat.received[0].body
    assert sent is not None
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "invoice", "schema": INVOICE.body, "strict": True}}
    assert "## Page 1" in next(r.text for r in chat.received if "INV-18" in r.text)  # 0-based page headings
    ledger = _ledger(db)
    assert len(ledger) == 2 and all(k == "extract" and p and c for k, p, c in ledger)

    again = extract_documents(INVOICE, [str(a), str(b)], settings=_settings(chat), db=db)
    assert len(again.skipped) == 2 and not again.done
    assert len(chat.received) == 2 and len(_ledger(db)) == 2  # nothing sent, nothing billed

    forced = extract_documents(INVOICE, [str(a)], force=True, settings=_settings(chat), db=db)
    assert [e[0] for e in forced.done] == [a] and len(chat.received) == 3


def test_an_invalid_answer_is_asked_again_with_the_error(both_databases: Database, chat: ChatServer) -> None:
    db = both_databases
    a, _ = _invoices(db)
    chat.script("Sure! The invoice number is INV-17.")
    client = ExtractClient.from_settings(_settings(chat))
    outcome = extract_document(db, client, INVOICE, a, _settings(chat))
    assert outcome.status == "done"
    assert len(chat.received) == 2
    retry = chat.received[1].body
    assert retry is not None
    assert retry["messages"][-2] == {"role": "assistant", "content": "Sure! The invoice number is INV-17."}
    assert "not JSON" in retry["messages"][-1]["content"]
    assert _rows(db)[a].data["invoice_number"] == "INV-17"  # type: ignore[index]
    assert [k for k, _, _ in _ledger(db)] == ["extract", "extract"]  # both answers were billed


@pytest.mark.parametrize(("answers", "expected"), [
    (['{"invoice_number": "INV-17", "total": "a lot", "currency": null}'] * 2, "at total: 'a lot' is not of type"),
    (["", ""], "the answer is empty"),
    ([json.dumps(json.dumps({"invoice_number": "x", "total": 1, "currency": None}))] * 2, "encoded twice"),
    ([{"refusal": "I cannot help with invoices."}] * 2, "the model refused: I cannot help with invoices."),
    (['{"invoice_number": "INV-17"'] * 2, "not JSON"),
])
def test_a_bad_answer_twice_is_the_documents_extraction_error(
    both_databases: Database, chat: ChatServer, answers: list[object], expected: str
) -> None:
    db = both_databases
    a, _ = _invoices(db)
    chat.script(*answers)
    outcome = extract_document(db, ExtractClient.from_settings(_settings(chat)), INVOICE, a, _settings(chat))
    assert outcome.status == "failed"
    row = _rows(db)[a]
    assert row.status == "failed" and row.data is None and row.error_code == "invalid_fields"
    assert expected in (row.error or "") and "after asking twice" in (row.error or "")
    assert len(chat.received) == 2


def test_429_waits_retry_after_and_400_is_recorded(both_databases: Database, chat: ChatServer) -> None:
    db = both_databases
    a, b = _invoices(db)
    chat.inject(Fault(429, ERROR_BODIES["documented"]("Rate limit exceeded"), {"Retry-After": "2"}))
    waits: list[float] = []
    client = ExtractClient.from_settings(_settings(chat))
    assert extract_document(db, client, INVOICE, a, _settings(chat), sleep=waits.append).status == "done"
    assert waits and waits[0] >= 2.0
    assert chat.statuses() == [429, 200]

    chat.inject(Fault(400, ERROR_BODIES["documented"]("Invalid schema: nullable number is not supported")))
    outcome = extract_document(db, client, INVOICE, b, _settings(chat), sleep=waits.append)
    assert outcome.status == "failed"
    row = _rows(db)[b]
    assert row.error_code == "rejected" and "nullable number is not supported" in (row.error or "")
    assert chat.statuses() == [429, 200, 400]  # a 400 is not retried
    assert len(_ledger(db)) == 1  # only the answered request is billed


def test_a_failure_after_force_keeps_the_valid_fields(both_databases: Database, chat: ChatServer) -> None:
    db = both_databases
    a, _ = _invoices(db)
    client = ExtractClient.from_settings(_settings(chat))
    extract_document(db, client, INVOICE, a, _settings(chat))
    chat.script("nope", "nope")
    outcome = extract_document(db, client, INVOICE, a, _settings(chat), force=True)
    assert outcome.status == "failed" and "kept" in (outcome.message or "")
    assert _rows(db)[a].data == {"invoice_number": "INV-17", "total": 1250.5, "currency": "EUR"}


def test_a_long_document_reads_its_first_pages_and_the_ones_naming_fields(
    both_databases: Database, chat: ChatServer
) -> None:
    db = both_databases
    filler = "Terms and conditions apply to every delivery. " * 20
    pages = [filler] * 30
    pages[22] = "Invoice number: INV-99\n\nTotal: 12"
    doc = add_document(db, "long.pdf", pages)
    settings = _settings(chat, max_chars=4000)
    outcome = extract_document(db, ExtractClient.from_settings(settings), INVOICE, doc, settings)
    assert outcome.status == "done"
    row = _rows(db)[doc]
    assert row.data == {"invoice_number": "INV-99", "total": 12.0, "currency": None}
    assert row.note is not None and "22" in row.note and "of 0-29" in row.note
    text = chat.received[0].text
    assert "## Page 0" in text and "## Page 22" in text and "## Page 15" not in text
    assert "too long to send whole" in text


def test_stored_tables_headers_and_footers_are_in_the_request(both_databases: Database, chat: ChatServer) -> None:
    db = both_databases
    doc = add_document(db, "t.pdf", ["Invoice number: INV-3\n\n[tbl-0-0.html](tbl-0-0.html)"])
    with db.write_session() as s:
        page = s.scalars(select(Page).where(Page.document_id == doc)).one()
        page.header, page.footer = "ACME Supplies Ltd", "Page 1 of 1"
        s.add(PageTable(document_id=doc, page_index=0, table_id="tbl-0-0.html", format="html",
                        content="<table><tr><td>Total: 77</td></tr></table>", text="Total: 77"))
    settings = _settings(chat)
    assert extract_document(db, ExtractClient.from_settings(settings), INVOICE, doc, settings).status == "done"
    text = chat.received[0].text
    assert "Table tbl-0-0.html:\n<table><tr><td>Total: 77</td></tr></table>" in text
    assert "Page header: ACME Supplies Ltd" in text and "Page footer: Page 1 of 1" in text
    assert _rows(db)[doc].data == {"invoice_number": "INV-3", "total": 77.0, "currency": None}


def test_fields_no_worker_took_are_queued_or_failed_by_the_sweep(both_databases: Database) -> None:
    from models.tables import FieldSchema
    from worker.extraction.tasks import queue_untaken_fields

    db = both_databases
    done = add_document(db, "done.pdf", ["Invoice number: INV-1"])
    failed = add_document(db, "failed.pdf", [], status="failed")
    running = add_document(db, "running.pdf", ["x"], status="running")
    with db.write_session() as s:
        s.add(FieldSchema(sha256=INVOICE.sha256, name="invoice", body=INVOICE.body))
        s.flush()
        for doc in (done, failed, running):
            s.add(FieldsRow(document_id=doc, schema_name="invoice", schema_sha256=INVOICE.sha256, status="pending"))
    assert queue_untaken_fields(db) == 1
    rows = _rows(db)
    assert (rows[done].status, rows[done].source) == ("pending", "chat")  # taken: its task is queued
    assert rows[failed].status == "failed" and "no text to extract" in (rows[failed].error or "")
    assert (rows[running].status, rows[running].source) == ("pending", None)  # not finished: left alone
    assert queue_untaken_fields(db) == 0  # taken once only
