"""A rate limit and a cap on concurrent requests shared by every worker process and host.

    limiter = build_limiter(settings, name="ocr")            # rate/in-flight from PAGEMILL_RATE_LIMIT/_MAX_INFLIGHT
    vision = build_limiter(settings, name="vision", rate_per_s=1.0, max_inflight=2)   # separate keys
    with limiter.slot():                                      # waits its turn, then holds one in-flight slot
        response = client.post(...)
    if response.status_code == 429:
        limiter.cool_down(retry_after_s)                      # every worker pauses, not only this one

Algorithm: GCRA with burst 1 (requests evenly spaced at 1/rate, which a server's sliding window never sees as a
burst; reference/celery.md §2). Each acquire is one atomic step on the shared backend that
1. drops in-flight leases whose expiry passed (a worker that died mid-request gives its slot back this way),
2. refuses while a shared cooldown (set after a 429) is running,
3. refuses while `max_inflight` leases are held,
4. otherwise *reserves* the next emission time and a lease, and returns how long to wait for it.
The caller sleeps in its own thread for waits up to `max_wait_s` (~30 s); a longer wait raises
`RateLimited(retry_after_s=wait)` with nothing reserved, so the Celery task retries with that countdown instead
of holding a worker thread.

Backends: `RedisBackend` (one Lua script, Redis `TIME` as the clock, so host clocks do not matter) when
PAGEMILL_BROKER_URL is a redis:// URL; otherwise `SqlBackend` on the `rate_limits` table of the results database
(one BEGIN IMMEDIATE transaction on SQLite; SELECT ... FOR UPDATE and the server clock on PostgreSQL).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from models.errors import ConfigError, RateLimited

if TYPE_CHECKING:
    from .settings import WorkerSettings

__all__ = [
    "Attempt",
    "LimiterBackend",
    "LimiterConfig",
    "RateLimiter",
    "build_limiter",
    "DEFAULT_MAX_WAIT_S",
]

DEFAULT_MAX_WAIT_S = 30.0
_LEASE_MARGIN_S = 30.0
_INFLIGHT_POLL_S = 0.05  # a slot frees when a request ends; poll about that often, with jitter


@dataclass(frozen=True)
class Attempt:
    """One try at the shared state. `granted`: a slot was reserved and the caller waits `wait_s` for it.
    Otherwise `wait_s` says when trying again is worthwhile and `reason` is "cooldown", "inflight" or "rate"."""

    granted: bool
    wait_s: float
    reason: str


@dataclass(frozen=True)
class LimiterConfig:
    name: str
    rate_per_s: float
    max_inflight: int
    lease_s: float  # an in-flight slot not released by then is given back (its holder died)
    max_wait_s: float = DEFAULT_MAX_WAIT_S

    @property
    def interval_s(self) -> float:
        return 1.0 / self.rate_per_s


class LimiterBackend(Protocol):
    def try_acquire(self, cfg: LimiterConfig, token: str) -> Attempt: ...

    def release(self, cfg: LimiterConfig, token: str) -> None: ...

    def cool_down(self, cfg: LimiterConfig, seconds: float) -> None: ...

    def cooldown_remaining(self, cfg: LimiterConfig) -> float: ...

    def close(self) -> None: ...


class RateLimiter:
    """The algorithm's caller side: sleeping, polling and giving up. Thread-safe; share one per process."""

    def __init__(self, backend: LimiterBackend, cfg: LimiterConfig) -> None:
        if cfg.rate_per_s <= 0 or cfg.max_inflight < 1:
            raise ConfigError("the rate limit must be > 0 requests/s and max in-flight >= 1")
        self.backend = backend
        self.cfg = cfg

    def __repr__(self) -> str:
        c = self.cfg
        return f"RateLimiter({c.name!r}, {c.rate_per_s}/s, max_inflight={c.max_inflight})"

    def acquire(self) -> str:
        """Wait for a slot and return its token (give it to `release`). Raises RateLimited when the wait
        would exceed `max_wait_s`."""
        deadline = time.monotonic() + self.cfg.max_wait_s
        while True:
            token = uuid.uuid4().hex
            attempt = self.backend.try_acquire(self.cfg, token)
            remaining = deadline - time.monotonic()
            if attempt.granted:
                if attempt.wait_s <= 0:
                    return token
                time.sleep(attempt.wait_s)
                # a 429 elsewhere while we slept: our slot would land inside the cooldown
                if self.backend.cooldown_remaining(self.cfg) <= 0:
                    return token
                self.backend.release(self.cfg, token)
                continue
            # a busy slot frees when its request ends, long before its lease runs out: poll for it
            pause = _INFLIGHT_POLL_S if attempt.reason == "inflight" else attempt.wait_s
            if pause > remaining:
                retry_s = attempt.wait_s if attempt.reason != "inflight" else self.cfg.max_wait_s / 4
                raise RateLimited(self._refusal(attempt), retry_after_s=max(1.0, retry_s))
            time.sleep(min(remaining, pause * random.uniform(1.0, 1.5)))

    def _refusal(self, attempt: Attempt) -> str:
        if attempt.reason == "cooldown":
            return f"the provider asked to slow down; sending again in {attempt.wait_s:.0f} s"
        if attempt.reason == "inflight":
            return f"all {self.cfg.max_inflight} request slots stayed busy for {self.cfg.max_wait_s:.0f} s"
        return f"rate limit of {self.cfg.rate_per_s:g} requests/s: next free slot in {attempt.wait_s:.0f} s"

    def release(self, token: str) -> None:
        try:
            self.backend.release(self.cfg, token)
        except Exception:  # noqa: BLE001 - the lease expires by itself; never mask the caller's own error
            pass

    @contextmanager
    def slot(self) -> Iterator[None]:
        from .metrics import METRICS

        started = time.monotonic()
        token = self.acquire()
        METRICS.ratelimit_wait_seconds.labels(self.cfg.name).observe(time.monotonic() - started)
        try:
            yield
        finally:
            self.release(token)

    def cool_down(self, seconds: float) -> None:
        """Nobody sends for `seconds` (a 429 seen by any worker slows every worker)."""
        if seconds > 0:
            self.backend.cool_down(self.cfg, seconds)

    def close(self) -> None:
        self.backend.close()


def _is_redis(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0] in ("redis", "rediss", "unix")  # type: ignore[union-attr]


def build_limiter(
    settings: WorkerSettings,
    name: str = "ocr",
    rate_per_s: float | None = None,
    max_inflight: int | None = None,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    lease_s: float | None = None,
) -> RateLimiter:
    """A limiter on the shared backend: Redis when the broker is Redis, else the results database.
    `name` separates limiters (ocr, vision...); unset rates come from PAGEMILL_RATE_LIMIT/PAGEMILL_MAX_INFLIGHT."""
    cfg = LimiterConfig(
        name=name,
        rate_per_s=rate_per_s if rate_per_s is not None else settings.rate_limit,
        max_inflight=max_inflight if max_inflight is not None else settings.max_inflight,
        lease_s=lease_s if lease_s is not None else settings.request_timeout_s + _LEASE_MARGIN_S,
        max_wait_s=max_wait_s,
    )
    backend: LimiterBackend
    if _is_redis(settings.broker_url):
        from ._ratelimit_redis import RedisBackend

        backend = RedisBackend.from_url(settings.broker_url or "")
    else:
        from models.db import Database
        from models.settings import DatabaseSettings

        from ._ratelimit_sql import SqlBackend

        backend = SqlBackend(Database.from_settings(DatabaseSettings(data_dir=settings.data_dir)), owns_db=True)
    return RateLimiter(backend, cfg)
