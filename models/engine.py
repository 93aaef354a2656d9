"""The engine for SQLite (embedded) and PostgreSQL (production): connection setup, and how a transaction begins.

SQLite needs care with several writer processes (measured in reference/celery.md §4): WAL, a busy timeout on
every connection, and `BEGIN IMMEDIATE` for every transaction that reads then writes, because a deferred
transaction that upgrades its read snapshot to a write fails with "database is locked" regardless of the
busy timeout. A connection with the execution option `READONLY` set begins deferred instead (models/db.py
`read_session`, and the migrations' version check in models/migrate.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

__all__ = ["READONLY", "make_engine"]

# the execution option of a connection that only reads: a deferred BEGIN on SQLite, no write lock
READONLY = "pagemill_readonly"


def make_engine(url: str, busy_timeout_ms: int = 30_000, pool_size: int = 5) -> Engine:
    """`pool_size` connections stay open: as many as the threads that use the database at once. Connections
    beyond it (up to 10 more) are closed when returned, and on PostgreSQL each new one is a server process."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=pool_size, max_overflow=10)
        _ping_idle_connections(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        db_dir = Path(parsed.database).parent
        db_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(db_dir, 0o700)
        except OSError:
            pass
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=10,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # hand transaction control to the "begin" hook below (pysqlite would otherwise BEGIN lazily)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # straight to the driver: SQLAlchemy's execution path (context, cursor, events) for a bare BEGIN cost
        # ~2% of a worker's CPU at 1500 pages/s
        begin = "BEGIN" if conn.get_execution_options().get(READONLY) else "BEGIN IMMEDIATE"
        conn.connection.driver_connection.execute(begin)

    return engine


# A connection checked in less than this ago is taken as alive. SQLAlchemy's pool_pre_ping pings on every checkout:
# a round trip per transaction, ~0.1 ms of a worker's CPU three times a range. A connection that died within
# this second fails its first statement instead; the pipeline handles that as the database being away (the
# range is retried) and SQLAlchemy invalidates the pool's connections.
_PING_AFTER_IDLE_S = 1.0
_IDLE_SINCE = "pagemill_idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    """pool_pre_ping for connections that sat idle in the pool (SQLAlchemy's own recipe: a checkout hook that
    raises DisconnectionError, so the pool replaces the connection and tries again)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < _PING_AFTER_IDLE_S:
            return  # just connected, or just used
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure of the ping means: use another connection
            raise DisconnectionError("the pooled connection did not answer a ping") from exc
        if not alive:
            raise DisconnectionError("the pooled connection did not answer a ping")
