"""The limiter's shared state in the results database (embedded mode): table `rate_limits`.

One row per limiter (`key` = its name) holds the GCRA `tat`, the live `inflight` count (for people who look) and
`cooldown_until`. After a 429, the row "<name>#slow" holds the schedule's total push-back in `tat` and the end of
the reduced rate in `cooldown_until` (see worker/ratelimit/limiter.py). Each in-flight slot is a row of its own, `key`
= "<name>#lease#<token>", whose `tat` column is
the lease expiry: a worker that dies while holding a slot loses it when the lease runs out. Every step runs in one
write transaction: BEGIN IMMEDIATE on SQLite (the clock is this host's, which is all SQLite can serve), and a row
lock plus the server's clock on PostgreSQL (so several hosts agree). A request costs two write transactions
(acquire, release) and, when it had to wait for its slot, one read before sending.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from models.db import Database
from models.errors import RateLimited
from models.tables import RateLimitState

from ..ranges.persist import insert_ignore
from .base import Attempt, Check, LimiterConfig

__all__ = ["SqlBackend"]

_LEASE = "#lease#"
_SLOW = "#slow"


class SqlBackend:
    def __init__(self, db: Database, owns_db: bool = False) -> None:
        self.db = db
        self._owns_db = owns_db

    def _now(self, session: Session) -> float:
        if self.db.is_sqlite:
            return time.time()
        return float(session.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())

    def _row(self, session: Session, name: str) -> RateLimitState:
        insert_ignore(
            session, RateLimitState, [{"key": name, "tat": 0.0, "inflight": 0, "cooldown_until": 0.0}], ["key"]
        )
        return session.get_one(RateLimitState, name, with_for_update=True, populate_existing=True)

    def _slow(self, session: Session, name: str) -> tuple[float, float]:
        """(total push-back of the schedule, end of the reduced rate) or zeros."""
        row = session.get(RateLimitState, name + _SLOW)
        return (row.tat, row.cooldown_until) if row is not None else (0.0, 0.0)

    def try_acquire(self, cfg: LimiterConfig, token: str) -> Attempt:
        try:
            with self.db.write_session() as session:
                row = self._row(session, cfg.name)
                now = self._now(session)
                return self._acquire(session, row, cfg, token, now)
        except (OperationalError, DBAPIError) as exc:
            raise RateLimited(f"the rate limiter's database is busy ({type(exc.orig).__name__})", 5.0) from None

    def _acquire(self, session: Session, row: RateLimitState, cfg: LimiterConfig, token: str, now: float) -> Attempt:
        prefix = cfg.name + _LEASE
        leases = RateLimitState.key.startswith(prefix, autoescape=True)
        session.execute(delete(RateLimitState).where(leases, RateLimitState.tat <= now))
        held = session.scalar(select(func.count()).where(leases)) or 0
        row.inflight = held
        shift, slow_until = self._slow(session, cfg.name)
        if row.cooldown_until > now:
            return Attempt(False, row.cooldown_until - now, "cooldown", shift)
        if held >= cfg.max_inflight:
            first = session.scalar(select(func.min(RateLimitState.tat)).where(leases)) or now
            return Attempt(False, first - now, "inflight", shift)
        tat = max(row.tat, now)
        wait = tat - now
        if wait > cfg.max_wait_s:
            return Attempt(False, wait, "rate", shift)
        row.tat = tat + cfg.interval_s / (1 - _deficit(cfg, slow_until, now))
        row.inflight = held + 1
        session.add(RateLimitState(key=prefix + token, tat=now + wait + cfg.lease_s, inflight=1, cooldown_until=0.0))
        return Attempt(True, wait, "ok", shift)

    def release(self, cfg: LimiterConfig, token: str) -> None:
        with self.db.write_session() as session:
            session.execute(delete(RateLimitState).where(RateLimitState.key == cfg.name + _LEASE + token))

    def cool_down(self, cfg: LimiterConfig, seconds: float) -> None:
        with self.db.write_session() as session:
            row = self._row(session, cfg.name)
            row.cooldown_until = max(row.cooldown_until, self._now(session) + seconds)

    def slow_down(self, cfg: LimiterConfig, retry_after_s: float) -> None:
        step, recovery, escalate, long_s = cfg.slow_args()
        with self.db.write_session() as session:
            row = self._row(session, cfg.name)
            now = self._now(session)
            shift, slow_until = self._slow(session, cfg.name)
            deficit = _deficit(cfg, slow_until, now)
            if retry_after_s > long_s or deficit >= escalate:
                row.cooldown_until = max(row.cooldown_until, now + retry_after_s)
                return
            deficit += step
            gap = cfg.interval_s / (1 - deficit)
            row.tat = max(row.tat, now) + gap
            state = {"key": cfg.name + _SLOW, "tat": shift + gap, "inflight": 0,
                     "cooldown_until": now + deficit / recovery}
            insert_ignore(session, RateLimitState, [state], ["key"])
            slow = session.get_one(RateLimitState, cfg.name + _SLOW, populate_existing=True)
            slow.tat, slow.cooldown_until = state["tat"], state["cooldown_until"]

    def check(self, cfg: LimiterConfig) -> Check:
        with self.db.read_session() as session:
            rows = {
                key: (tat, until)
                for key, tat, until in session.execute(
                    select(RateLimitState.key, RateLimitState.tat, RateLimitState.cooldown_until).where(
                        RateLimitState.key.in_([cfg.name, cfg.name + _SLOW])
                    )
                )
            }
            left = max(0.0, rows.get(cfg.name, (0.0, 0.0))[1] - self._now(session))
            return Check(left, rows.get(cfg.name + _SLOW, (0.0, 0.0))[0])

    def cooldown_remaining(self, cfg: LimiterConfig) -> float:
        with self.db.read_session() as session:
            until = session.scalar(select(RateLimitState.cooldown_until).where(RateLimitState.key == cfg.name))
            return max(0.0, (until or 0.0) - self._now(session))

    def close(self) -> None:
        if self._owns_db:
            self.db.dispose()


def _deficit(cfg: LimiterConfig, slow_until: float, now: float) -> float:
    """How far below its pace the limiter runs now after recent 429s (0 = full pace)."""
    return max(0.0, slow_until - now) * cfg.slow_args()[1]
