"""Sessions and connections for SQLite (embedded) and PostgreSQL (production), over the engine of models/engine.py.

SQLite needs care with several writer processes (the embedded mode's workers): WAL, a busy timeout on
every connection (models/engine.py), and `BEGIN IMMEDIATE` for every transaction that reads then writes, because
a deferred transaction that upgrades its read snapshot to a write fails with "database is locked" regardless of
the busy timeout. Sessions from `write_session` take the write lock up front; `read_session` stays deferred.
`migrate` brings the schema to the head revision (models/migrate.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .engine import READONLY, make_engine
from .migrate import upgrade_to_head
from .settings import DatabaseSettings
from .writer_lock import WriterLock

__all__ = ["Database"]


class Database:
    """Owns one engine and hands out sessions. Built from settings, passed to whoever needs it."""

    def __init__(self, url: str, busy_timeout_ms: int = 30_000, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms, pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(
            self.engine.execution_options(**{READONLY: True}), expire_on_commit=False
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
            with self.engine.connect().execution_options(**{READONLY: True}) as conn, conn.begin():
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
