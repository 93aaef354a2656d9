"""Engine and session setup for SQLite (embedded) and PostgreSQL (production).

SQLite needs care with several writer processes (the embedded mode's workers): WAL, a busy timeout on
every connection, and `BEGIN IMMEDIATE` for every transaction that reads then writes, because a deferred
transaction that upgrades its read snapshot to a write fails with "database is locked" regardless of the
busy timeout. Sessions from `write_session` take the write lock up front; `read_session` stays deferred.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from .settings import DatabaseSettings
from .writer_lock import WriterLock

__all__ = ["Database", "make_engine", "pipelined"]

_READONLY = "pagemill_readonly"


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
        begin = "BEGIN" if conn.get_execution_options().get(_READONLY) else "BEGIN IMMEDIATE"
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


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """psycopg's pipeline mode for the statements run inside: each is sent without waiting for its answer, and
    the answers are read once at the end of the block, one round trip instead of one per statement (BEGIN, an
    UPDATE, a batch of inserts, another insert: four fewer, ~0.1 ms of a worker's CPU each). Statements inside
    must not return rows (inserts use `.inline()`). An error surfaces at the end of the block, raised as
    SQLAlchemy's DBAPIError like any statement's. On SQLite (in-process calls, no round trips) it does nothing."""
    pipeline = getattr(conn.connection.driver_connection, "pipeline", None)
    if pipeline is None:
        yield
        return
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with pipeline():
            yield
    except dbapi_error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, dbapi_error, connection_invalidated=lost, dialect=conn.dialect
        ) from exc


class Database:
    """Owns one engine and hands out sessions. Built from settings, passed to whoever needs it."""

    def __init__(self, url: str, busy_timeout_ms: int = 30_000, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms, pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(
            self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )
        self.sqlite_path: Path | None = None
        if self.is_sqlite:
            db_file = make_url(url).database
            self.sqlite_path = Path(db_file) if db_file and db_file != ":memory:" else None
        # SQLite has one writer at a time and its busy handler sleeps in steps of up to 100 ms: writers queue on
        # a lock that hands over at once instead (models/writer_lock.py)
        self._write_lock: WriterLock | None = None
        if self.sqlite_path is not None:
            self._write_lock = WriterLock(self.sqlite_path.with_name(self.sqlite_path.name + ".lock"))

    @classmethod
    def from_settings(cls, settings: DatabaseSettings | None = None, pool_size: int = 5) -> Database:
        settings = settings or DatabaseSettings()
        return cls(settings.url, settings.sqlite_busy_timeout_ms, pool_size)

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction that may read then write: BEGIN IMMEDIATE on SQLite. Commits on success."""
        if self._write_lock is None:
            with self._write() as session, session.begin():
                yield session
            return
        with self._write_lock.hold(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """`write_session` without the ORM, for Core statements on the workers' hot path (a Session costs
        about as much CPU as the statements of a claim). Commits on success."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock.hold(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """Core statements that only read: a deferred transaction on SQLite (no write lock), autocommit on
        PostgreSQL (each statement sees every commit before it; no BEGIN and COMMIT round trips)."""
        if self.is_sqlite:
            with self.engine.connect().execution_options(**{_READONLY: True}) as conn, conn.begin():
                yield conn
            return
        with self.autocommit_connection() as conn:
            yield conn

    @contextmanager
    def autocommit_connection(self) -> Iterator[Connection]:
        """Each statement commits on its own: for a single statement that must be atomic by itself (PostgreSQL's
        claim), without BEGIN and COMMIT round trips. SQLite writers use write_connection (the writer lock)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    def migrate(self) -> None:
        from .migrate import upgrade_to_head

        upgrade_to_head(self.engine)
        if self.sqlite_path is not None:
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(self.sqlite_path) + suffix)
                if p.exists():
                    try:
                        os.chmod(p, 0o600)
                    except OSError:
                        pass

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()
