"""docs/webhooks.md is a contract: each event is built here through the code that writes it where the state changes,
and its body has exactly the keys of the page's example (at every level; the free-form `fields` aside)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models.corrections import save_correction
from models.db import Database
from models.errors import BudgetExceeded
from models.outbox import EVENT_TYPES, batch_job_finished
from models.tables import BatchJob, Page, WebhookEvent
from tests.results_db import migrated_database
from worker.budget.hold import hold
from worker.extraction.schema import ExtractionSchema
from worker.extraction.store import store_failure, store_fields

from .helpers import document_with_ranges, finish_range, subscribe

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"
FREE_FORM = {"fields"}  # the extracted values: the schema's keys, not the page's


def documented() -> dict[str, dict[str, Any]]:
    body = DOC.read_text()
    found = re.findall(r"^### `([a-z_.]+)`[^\n]*\n(?:(?!^### ).)*?^```json\n(.*?)^```", body, re.DOTALL | re.MULTILINE)
    return {name: json.loads(example) for name, example in found}


def every_event(db: Database) -> dict[str, dict[str, Any]]:
    subscribe(db)
    a, ra = document_with_ranges(db, "invoice.pdf", 2, job_id=1, collection="invoices")
    b, rb = document_with_ranges(db, "partial.pdf", 2, job_id=2)
    c, rc = document_with_ranges(db, "failed.pdf", 1, job_id=3)
    for r in ra:
        finish_range(db, a, r)
    finish_range(db, b, rb[0])
    finish_range(db, b, rb[1], ok=False)
    finish_range(db, c, rc[0], ok=False)
    schema = ExtractionSchema("invoice", "a" * 64, {"type": "object", "properties": {"total": {"type": "number"}}})
    store_fields(db, a, schema, {"total": 12.5}, "chat", "mistral-small-latest")
    store_failure(db, b, schema, "chat", "mistral-small-latest", "invalid_fields", "the answer was not JSON")
    _held, rd = document_with_ranges(db, "held.pdf", 1, job_id=4)
    hold(db, rd[0], BudgetExceeded("job 4's budget of $1.00 would be exceeded"))
    with db.write_session() as s:
        job = BatchJob(token="t" * 32, status="SUCCESS", model="mistral-ocr-latest", requests=2,
                       succeeded_requests=2, provider_job_id="job_abc")
        s.add(job)
        s.flush()
        batch_job_finished(s, job.id, 2, 0, 0)
    save_correction(db, a, 0, "corrected", author="ana")
    with db.read_session() as s:
        return {e.type: e.payload for e in s.scalars(select(WebhookEvent).order_by(WebhookEvent.id))}


def shape(value: Any, key: str = "") -> Any:
    if isinstance(value, dict) and key not in FREE_FORM:
        return {k: shape(v, k) for k, v in value.items()}
    return type(value).__name__ if not isinstance(value, dict) else "object"


def keys(value: Any, key: str = "") -> Any:
    if isinstance(value, dict) and key not in FREE_FORM:
        return {k: keys(v, k) for k, v in value.items()}
    return None


def test_every_event_is_documented_with_the_keys_it_has(tmp_path: Path) -> None:
    db = migrated_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        built = every_event(db)
    finally:
        db.dispose()
    examples = documented()
    assert set(built) == set(EVENT_TYPES), sorted(set(EVENT_TYPES) - set(built))
    assert set(examples) == set(EVENT_TYPES), sorted(set(EVENT_TYPES) ^ set(examples))
    for name in EVENT_TYPES:
        assert keys(built[name]) == keys(examples[name]), f"{name}: the body and docs/webhooks.md differ"
        assert examples[name]["type"] == name


def test_bodies_carry_no_page_text(tmp_path: Path) -> None:
    db = migrated_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        built = every_event(db)
        with db.read_session() as s:
            texts = [t for t in s.scalars(select(Page.markdown)) if t]
    finally:
        db.dispose()
    body = json.dumps(built)
    assert texts and not any(f'"{t}"' in body for t in texts)
    assert "corrected" not in json.dumps(built["page.corrected"]["data"])  # the corrected text is not sent
