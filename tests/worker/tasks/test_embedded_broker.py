"""The embedded broker's transport (worker/tasks/broker.py): kombu's classes left as they are, a batch stored in
one transaction, and the app's pools following its configuration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import event
from sqlalchemy.engine import Engine

from worker.settings import WorkerSettings
from worker.tasks.app import app, configure
from worker.tasks.broker import EmbeddedTransport
from worker.tasks.ocr import enqueue_range, enqueue_ranges


def _waiting(broker: Path) -> list[int]:
    con = sqlite3.connect(broker)
    try:
        rows = con.execute("SELECT payload FROM kombu_message WHERE visible = 1 ORDER BY id").fetchall()
    finally:
        con.close()
    return [int(json.loads(p)["headers"]["argsrepr"].strip("[]")) for (p,) in rows]


def test_the_embedded_broker_is_a_registered_subclass_and_kombu_is_untouched(data_dir: Path) -> None:
    configure(app, WorkerSettings())
    with app.connection_for_write() as conn:
        assert type(conn.transport) is EmbeddedTransport
        assert conn.transport.polling_interval == 0.1
        assert conn.transport.implements.batch_publish
    assert kombu_sqla.Transport.polling_interval == 1.0  # kombu's own class keeps its default


def test_a_batch_is_one_commit_and_single_messages_still_go_one_by_one(data_dir: Path) -> None:
    configure(app, WorkerSettings())
    enqueue_range(1)  # declares the queue and opens the broker's engine
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    event.listen(Engine, "commit", count)  # every engine: the broker's is kombu's to create
    try:
        enqueue_ranges(list(range(2, 202)))
        batch_commits = len(commits)
        enqueue_range(202)
        single_commits = len(commits) - batch_commits
    finally:
        event.remove(Engine, "commit", count)
    assert (batch_commits, single_commits) == (1, 1)
    assert _waiting(data_dir / "broker.sqlite") == list(range(1, 203))


def test_a_new_configuration_sends_to_its_own_broker(tmp_path: Path) -> None:
    first, second = WorkerSettings(data_dir=tmp_path / "one"), WorkerSettings(data_dir=tmp_path / "two")
    configure(app, first)
    enqueue_ranges([1, 2])
    configure(app, second)
    enqueue_ranges([3])
    enqueue_range(4)
    assert _waiting(tmp_path / "one" / "broker.sqlite") == [1, 2]
    assert _waiting(tmp_path / "two" / "broker.sqlite") == [3, 4]
