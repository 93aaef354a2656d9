"""The PostgreSQL connection pool: a connection that died while idle is replaced before anyone uses it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from models import Database
from tests.conftest import POSTGRES_URL


def _backend_pid(db: Database) -> int:
    with db.read_connection() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.postgres
def test_a_connection_killed_while_idle_is_replaced_transparently(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        first = _backend_pid(db)
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:  # what a PostgreSQL restart or an idle-connection reaper does
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
        admin.dispose()
        time.sleep(1.2)  # idle for longer than a just-used connection is trusted (models/db.py)
        second = _backend_pid(db)  # no error: the dead connection was pinged and replaced at checkout
        assert second != first
    finally:
        db.dispose()


@pytest.mark.postgres
def test_only_a_connection_that_sat_idle_is_pinged(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(postgres_url)
    pings: list[object] = []
    real_ping = db.engine.dialect.do_ping

    def counting_ping(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return real_ping(dbapi_conn)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counting_ping)
    try:
        _backend_pid(db)  # a new connection: not pinged
        _backend_pid(db)  # checked in a moment ago: not pinged (a round trip per transaction saved)
        assert pings == []
        time.sleep(1.2)
        _backend_pid(db)
        assert len(pings) == 1
    finally:
        db.dispose()
