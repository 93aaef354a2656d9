"""The outbox: an event row is written in the transaction of the change it reports, and only then."""

from __future__ import annotations

import pytest

from models.db import Database
from models.tables import Document
from worker.ranges.store import finish_document

from .helpers import document_with_ranges, events, finish_range, subscribe


def test_a_finished_document_writes_one_event_with_its_summary(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    doc, ranges = document_with_ranges(db, "a.pdf", 2, job_id=7, collection="invoices")
    assert finish_range(db, doc, ranges[0]) == "running"
    assert events(db) == []  # nothing while ranges remain
    assert finish_range(db, doc, ranges[1]) == "done"
    evs = events(db)
    assert [e.type for e in evs] == ["document.done", "job.done"]
    data = evs[0].payload["data"]
    assert data["id"] == doc and data["pages"] == {"done": 2, "total": 2} and data["sources"] == ["tesseract"]
    assert data["collection"] == "invoices" and data["job"] == 7 and data["error"] is None
    assert evs[0].subject == f"document:{doc}" and evs[0].msg_id.startswith("msg_")
    assert evs[1].payload["data"]["documents"]["done"] == 1
    with db.write_session() as s:  # settling again changes nothing and announces nothing
        finish_document(s, doc)
    assert len(events(db)) == 2


def test_partial_and_failed_documents_say_what_to_do(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    a, ra = document_with_ranges(db, "a.pdf", 2)
    b, rb = document_with_ranges(db, "b.pdf", 1)
    finish_range(db, a, ra[0])
    finish_range(db, a, ra[1], ok=False)
    finish_range(db, b, rb[0], ok=False)
    by_type = {e.type: e.payload["data"] for e in events(db)}
    assert by_type["document.partial"]["pages"] == {"done": 1, "total": 2}
    assert by_type["document.failed"]["error_code"] == "rejected"
    assert f"pagemill retry {b}" in by_type["document.failed"]["what_to_do"]


def test_a_rolled_back_change_writes_no_event(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    doc, ranges = document_with_ranges(db, "a.pdf", 1)
    with pytest.raises(RuntimeError), db.write_session() as s:
        from models.tables import PageRange

        s.get_one(PageRange, ranges[0]).status = "done"
        assert finish_document(s, doc) == "done"
        raise RuntimeError("the worker dies before its commit")
    assert events(db) == []
    with db.read_session() as s:
        assert s.get_one(Document, doc).status == "queued"


def test_job_done_once_when_its_last_document_finishes(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    a, ra = document_with_ranges(db, "a.pdf", 1, job_id=3)
    b, rb = document_with_ranges(db, "b.pdf", 1, job_id=3)
    finish_range(db, a, ra[0])
    assert [e.type for e in events(db)] == ["document.done"]
    finish_range(db, b, rb[0], ok=False)
    evs = events(db)
    assert [e.type for e in evs] == ["document.done", "document.failed", "job.done"]
    job = evs[2].payload["data"]
    assert job["id"] == 3 and job["documents"]["done"] == 1 and job["documents"]["failed"] == 1
    assert evs[2].subject == "job:3" and evs[2].job_id == 3


def test_no_subscription_no_event_rows(both_databases: Database) -> None:
    """An installation without webhooks pays one EXISTS per change and keeps no outbox."""
    db = both_databases
    doc, ranges = document_with_ranges(db, "a.pdf", 1, job_id=5)
    assert finish_range(db, doc, ranges[0]) == "done"
    assert events(db) == []
    sid = subscribe(db)
    doc2, ranges2 = document_with_ranges(db, "b.pdf", 1, job_id=6)
    assert finish_range(db, doc2, ranges2[0]) == "done"
    assert [e.type for e in events(db)] == ["document.done", "job.done"]
    from models.tables import WebhookSubscription

    with db.write_session() as s:  # a disabled subscription (410 Gone) counts as none
        s.get_one(WebhookSubscription, sid).enabled = False
    doc3, ranges3 = document_with_ranges(db, "c.pdf", 1, job_id=7)
    assert finish_range(db, doc3, ranges3[0]) == "done"
    assert len(events(db)) == 2


def test_job_done_waits_for_intake_and_comes_for_a_job_of_only_duplicates(both_databases: Database) -> None:
    from models.outbox import INTAKE_OPEN, intake_finished
    from models.tables import Job, JobDocument

    db = both_databases
    subscribe(db)
    a, ra = document_with_ranges(db, "a.pdf", 1, job_id=1)
    finish_range(db, a, ra[0])
    with db.write_session() as s:  # job 2: still reading its files when its first document finishes
        s.add(Job(id=2, kind="run", options={INTAKE_OPEN: True}))
    b, rb = document_with_ranges(db, "b.pdf", 1, job_id=2)
    finish_range(db, b, rb[0])
    assert [(e.type, e.job_id) for e in events(db)] == [("document.done", 1), ("job.done", 1), ("document.done", 2)]
    with db.write_session() as s:
        intake_finished(s, 2)
    assert events(db)[-1].type == "job.done" and events(db)[-1].job_id == 2
    with db.write_session() as s:  # job 3: only a duplicate of a.pdf, finished long ago
        s.add(Job(id=3, kind="run", options={INTAKE_OPEN: True}))
        s.flush()
        s.add(JobDocument(job_id=3, document_id=a, filename="a.pdf", outcome="duplicate"))
    with db.write_session() as s:
        intake_finished(s, 3)
    last = events(db)[-1]
    assert last.type == "job.done" and last.payload["data"]["documents"]["duplicates"] == 1
    with db.read_session() as s:
        assert INTAKE_OPEN not in s.get_one(Job, 3).options


def test_job_done_once_after_the_last_of_many(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    docs = [document_with_ranges(db, f"{i}.pdf", 1, job_id=9) for i in range(30)]
    for doc, (rid,) in reversed(docs):  # finished out of order: the check follows the open documents
        finish_range(db, doc, rid)
    types = [e.type for e in events(db)]
    assert types.count("job.done") == 1 and types[-1] == "job.done"
