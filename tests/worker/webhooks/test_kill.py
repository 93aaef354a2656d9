"""kill -9, for real: of the process delivering (mid-request, and between requests) and of a process storing
ranges. After a restart every event is delivered with its one webhook-id, none is invented, a document's events
arrive in order; an event exists exactly when the change it reports was committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from models.corrections import save_correction
from models.db import Database
from models.tables import Document, Page, PageRange, WebhookEvent
from worker.webhooks.subscriptions import add_subscription

from .helpers import document_with_ranges, events, fast_settings, finish_range, subscribe
from .receiver import Receiver, receiver

ROOT = Path(__file__).resolve().parents[3]


def _url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def _until(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.05)


def _deliverer(db: Database, tmp: Path, n: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PAGEMILL_DATABASE_URL": _url(db), "PAGEMILL_DATA_DIR": str(tmp / "data"),
           "PAGEMILL_WEBHOOK_ALLOW_PRIVATE": "1", "PAGEMILL_WEBHOOK_POLL_S": "0.1",
           "PAGEMILL_WEBHOOK_CONNECT_TIMEOUT_S": "1", "PAGEMILL_WEBHOOK_TIMEOUT_S": "3",
           "PAGEMILL_WEBHOOK_RETRY_BASE_S": "0.2", "PAGEMILL_WEBHOOK_RETRY_MAX_S": "1",
           "PAGEMILL_WEBHOOK_CONCURRENCY": "2", "PYTHONPATH": str(ROOT)}
    log = open(tmp / f"deliverer{n}.log", "wb")
    with log:
        return subprocess.Popen([sys.executable, "-m", "scheduler.cli", "webhooks", "deliver", "--follow"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _all_delivered(db: Database, rec: Receiver) -> bool:
    return {e.msg_id for e in events(db)} <= set(rec.delivered_ids())


def test_the_deliverer_killed_mid_request_and_between_requests(both_databases: Database, tmp_path: Path) -> None:
    db = both_databases
    with receiver() as rec:
        _sid, secret = add_subscription(db, rec.url, settings=fast_settings())
        rec.secrets.append(secret)
        for i in range(6):  # two events per document: document.done, then page.corrected
            doc, ranges = document_with_ranges(db, f"d{i}.pdf", 1)
            finish_range(db, doc, ranges[0])
            save_correction(db, doc, 0, f"corrected {i}", author="ana")
        written = events(db)
        assert len(written) == 12
        hung: list[str] = []

        def hang_first(n: int, msg: str) -> tuple[int, dict[str, str], float]:
            if n == 0:
                hung.append(msg)
                return 200, {}, 30.0  # answered long after the sender is gone
            return 200, {}, 0.05

        rec.behave = hang_first
        first = _deliverer(db, tmp_path, 1)
        try:
            _until("the first request reached the receiver", lambda: bool(hung), 60)
            _kill(first)  # mid-request: its answer never reaches pagemill
        finally:
            first.kill()
        second = _deliverer(db, tmp_path, 2)  # waits for the dead sender's lease (4 s of time-outs + 10 s)
        try:
            _until("a few deliveries after the restart", lambda: len(rec.delivered()) >= 4, 60)
            _kill(second)  # between requests, or in one: either way nothing may be lost
        finally:
            second.kill()
        third = _deliverer(db, tmp_path, 3)
        try:
            _until("every event delivered", lambda: _all_delivered(db, rec), 90)
        finally:
            third.send_signal(signal.SIGTERM)
            third.wait(40)
    ids = {e.msg_id: e for e in written}
    assert all(a.verified for a in rec.arrivals)
    assert {a.msg_id for a in rec.arrivals} <= set(ids), "an event nobody wrote arrived"
    assert hung[0] in rec.delivered_ids()[1:], "the event cut off mid-request was sent again with its id"
    # in order per document: the first delivery of each event follows the order the events were written
    firsts: list[str] = []
    for msg in rec.delivered_ids():
        if msg not in firsts:
            firsts.append(msg)
    for subject in {e.subject for e in written}:
        mine = [m for m in firsts if ids[m].subject == subject]
        assert mine == sorted(mine, key=lambda m: ids[m].id), subject


_STORER = textwrap.dedent("""
    import sys
    from models.db import Database
    from tests.worker.webhooks.helpers import finish_range
    db = Database(sys.argv[1])
    for pair in sys.argv[2:]:
        doc, rng = map(int, pair.split(":"))
        finish_range(db, doc, rng)  # pages, range, document status and its event: one transaction
        print(pair, flush=True)
""")


def test_a_storing_process_killed_leaves_events_exactly_for_committed_documents(both_databases: Database) -> None:
    db = both_databases
    subscribe(db)
    docs = [document_with_ranges(db, f"k{i}.pdf", 2) for i in range(60)]
    work = [f"{doc}:{r}" for doc, ranges in docs for r in ranges]
    proc = subprocess.Popen([sys.executable, "-c", _STORER, _url(db), *work], cwd=ROOT, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    for _ in range(15):  # a dozen ranges stored, then killed wherever it is
        assert proc.stdout.readline(), "the storing process ended early"
    _kill(proc)
    with db.read_session() as s:
        status = dict(s.execute(select(Document.id, Document.status)).all())
        pages = dict(s.execute(select(Page.document_id, func.count()).group_by(Page.document_id)).all())
        done_ranges = dict(s.execute(select(PageRange.document_id, func.count())
                                     .where(PageRange.status == "done").group_by(PageRange.document_id)).all())
        announced = [e.document_id for e in s.scalars(select(WebhookEvent).where(WebhookEvent.type == "document.done"))]
    assert len(announced) == len(set(announced)), "a document announced twice"
    finished = {d for d, st in status.items() if st == "done"}
    assert len(finished) >= 7
    assert set(announced) == finished  # an event exactly for each committed document, none for the rest
    for doc, _ranges in docs:
        assert pages.get(doc, 0) == done_ranges.get(doc, 0)  # pages exactly where their range is done
        assert (status[doc] == "done") == (done_ranges.get(doc, 0) == 2)

