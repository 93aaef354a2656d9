"""A rate limit and a cap on concurrent requests shared by every worker process and host.

    limiter = build_limiter(settings, name="ocr")            # rate/in-flight from PAGEMILL_RATE_LIMIT/_MAX_INFLIGHT
    vision = build_limiter(settings, name="vision", rate_per_s=1.0, max_inflight=2)   # separate keys
    with limiter.slot():                                      # waits its turn, then holds one in-flight slot
        response = client.post(...)
    if response.status_code == 429:
        limiter.slow_down(retry_after_s)                      # every worker slows, in proportion
    limiter.cool_down(seconds)                                # every worker pauses for `seconds`

Algorithm: GCRA with burst 1 (requests evenly spaced, which a server's sliding window never sees as a
burst). Each acquire is one atomic step on the shared backend that
1. drops in-flight leases whose expiry passed (a worker that died mid-request gives its slot back this way),
2. refuses while a shared cooldown is running,
3. refuses while `max_inflight` leases are held,
4. otherwise *reserves* the next emission time and a lease, and returns how long to wait for it.
The caller sleeps in its own thread for waits up to `max_wait_s` (~30 s); a longer wait raises
`RateLimited(retry_after_s=wait)` with nothing reserved, so the Celery task retries with that countdown instead
of holding a worker thread.

Headroom: the limiter sends at `PAGEMILL_RATE_LIMIT_SHARE` (default 0.97) of the configured rate. Requests reach
the server some milliseconds late, unevenly, and a sliding window counts a late request with the ones that follow
it: at a share s the spacing leaves (1/s - 1) s of slack per window (31 ms at 0.97, 53 ms at 0.95; measured
against a sliding-window server: at 95 % no 429 at all, at 97.7 % one request in 400).

After a 429 (`slow_down`): an isolated 429 is a near miss, so every worker slows in proportion instead of
pausing for the whole Retry-After: the whole schedule, including slots already reserved, is pushed back by one
interval, and the rate drops by `_SLOW_STEP` (10 %, worker/ratelimit/base.py), recovering linearly within about a second. A long
Retry-After (> `_LONG_PAUSE_S`), or 429s arriving faster than the slow-down recovers (the configured rate is
above the server's), become a full shared cooldown of Retry-After. The request that got the 429 itself retries
after Retry-After either way (the caller's job).

No limit: PAGEMILL_RATE_LIMIT=0 paces nothing and PAGEMILL_MAX_INFLIGHT=0 caps nothing; with both, `slot()` does
no shared-state call at all (a 429 then still sets a cooldown, checked before each request).

Backends (worker/ratelimit/base.py says what one provides): `RedisBackend` (one Lua script, Redis `TIME` as the clock,
so host clocks do not matter) when
PAGEMILL_BROKER_URL is a redis:// URL; otherwise `SqlBackend` on the `rate_limits` table of the results database
(one BEGIN IMMEDIATE transaction on SQLite; SELECT ... FOR UPDATE and the server clock on PostgreSQL).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic_settings import BaseSettings, SettingsConfigDict

from models.errors import ConfigError, RateLimited

from .base import DEFAULT_MAX_WAIT_S, UNLIMITED_INFLIGHT, Attempt, LimiterBackend, LimiterConfig

if TYPE_CHECKING:
    from ..settings import WorkerSettings

__all__ = ["LimiterSettings", "RateLimiter", "build_limiter", "DEFAULT_RATE_SHARE"]

DEFAULT_RATE_SHARE = 0.97
_LEASE_MARGIN_S = 30.0
_INFLIGHT_POLL_S = 0.05  # a slot frees when a request ends; poll about that often, with jitter
_COOLDOWN_RECHECK_S = 0.05  # unlimited: how late a worker may notice a cooldown another worker started


class LimiterSettings(BaseSettings):
    """The limiter's own knobs (PAGEMILL_RATE_LIMIT_SHARE)."""

    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")
    rate_limit_share: float = DEFAULT_RATE_SHARE


class RateLimiter:
    """The algorithm's caller side: sleeping, polling and giving up. Thread-safe; share one per process."""

    def __init__(self, backend: LimiterBackend, cfg: LimiterConfig) -> None:
        if cfg.rate_per_s <= 0 or cfg.max_inflight < 1:
            raise ConfigError("the rate limit must be > 0 requests/s and max in-flight >= 1")
        self.backend = backend
        self.cfg = cfg
        # unlimited: when the shared cooldown was last seen clear, trust that for _COOLDOWN_RECHECK_S instead of
        # asking the backend before every request (a round trip that cost ~4% of a worker's CPU at 1500 pages/s)
        self._clear_until = 0.0

    def __repr__(self) -> str:
        c = self.cfg
        return f"RateLimiter({c.name!r}, {c.rate_per_s}/s, max_inflight={c.max_inflight})"

    def acquire(self) -> str:
        """Wait for a slot and return its token (give it to `release`). Raises RateLimited when the wait
        would exceed `max_wait_s`."""
        if self.cfg.unlimited:
            self._wait_out_cooldown(time.monotonic() + self.cfg.max_wait_s)
            return ""
        deadline = time.monotonic() + self.cfg.max_wait_s
        while True:
            token = uuid.uuid4().hex
            attempt = self.backend.try_acquire(self.cfg, token)
            if attempt.granted:
                if attempt.wait_s <= 0 or self._sleep_to_slot(attempt):
                    return token
                self.backend.release(self.cfg, token)  # a cooldown began while we slept
                continue
            remaining = deadline - time.monotonic()
            # a busy slot frees when its request ends, long before its lease runs out: poll for it
            pause = _INFLIGHT_POLL_S if attempt.reason == "inflight" else attempt.wait_s
            if pause > remaining:
                retry_s = attempt.wait_s if attempt.reason != "inflight" else self.cfg.max_wait_s / 4
                raise RateLimited(self._refusal(attempt), retry_after_s=max(1.0, retry_s), sent=False)
            time.sleep(min(remaining, pause * random.uniform(1.0, 1.5)))

    def _sleep_to_slot(self, attempt: Attempt) -> bool:
        """Sleep to the reserved time, plus however far 429s pushed the schedule back meanwhile. False when a
        cooldown started: the slot would fall inside it."""
        time.sleep(attempt.wait_s)
        shifted = attempt.shift
        while True:
            check = self.backend.check(self.cfg)
            if check.cooldown_s > 0:
                return False
            if check.shift <= shifted + 1e-6:
                return True
            time.sleep(check.shift - shifted)
            shifted = check.shift

    def _wait_out_cooldown(self, deadline: float) -> None:
        now = time.monotonic()
        if now < self._clear_until:
            return
        left = self.backend.cooldown_remaining(self.cfg)
        if left <= 0:
            self._clear_until = now + _COOLDOWN_RECHECK_S
        else:
            if time.monotonic() + left > deadline:
                raise RateLimited(
                    self._refusal(Attempt(False, left, "cooldown")), retry_after_s=max(1.0, left), sent=False
                )
            time.sleep(left)

    def _refusal(self, attempt: Attempt) -> str:
        if attempt.reason == "cooldown":
            return f"the provider asked to slow down; sending again in {attempt.wait_s:.0f} s"
        if attempt.reason == "inflight":
            return f"all {self.cfg.max_inflight} request slots stayed busy for {self.cfg.max_wait_s:.0f} s"
        return f"rate limit of {self.cfg.rate_per_s / self.cfg.share:g} requests/s: next free slot in {attempt.wait_s:.0f} s"

    def release(self, token: str) -> None:
        if not token:  # unlimited: nothing was reserved
            return
        try:
            self.backend.release(self.cfg, token)
        except Exception:
            pass

    @contextmanager
    def slot(self) -> Iterator[None]:
        from ..metrics import METRICS

        started = time.monotonic()
        token = self.acquire()
        METRICS.ratelimit_wait_seconds.labels(self.cfg.name).observe(time.monotonic() - started)
        try:
            yield
        finally:
            self.release(token)

    def cool_down(self, seconds: float) -> None:
        """Nobody sends for `seconds`."""
        if seconds > 0:
            self._clear_until = 0.0
            self.backend.cool_down(self.cfg, seconds)

    def slow_down(self, retry_after_s: float) -> None:
        """A 429: every worker slows in proportion (see the module docstring); a long Retry-After or 429s in a
        row pause everyone for `retry_after_s`."""
        self._clear_until = 0.0
        self.backend.slow_down(self.cfg, max(0.0, retry_after_s))

    def close(self) -> None:
        self.backend.close()


def build_limiter(
    settings: WorkerSettings,
    name: str = "ocr",
    rate_per_s: float | None = None,
    max_inflight: int | None = None,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    lease_s: float | None = None,
    share: float | None = None,
) -> RateLimiter:
    """A limiter on the shared backend: Redis when the broker is Redis, else the results database.
    `name` separates limiters (ocr, vision...); unset rates come from PAGEMILL_RATE_LIMIT/PAGEMILL_MAX_INFLIGHT.
    The pace kept is `share` (default PAGEMILL_RATE_LIMIT_SHARE, 0.97) of the rate; a rate of 0 means no pacing
    and max_inflight 0 no cap."""
    rate = rate_per_s if rate_per_s is not None else settings.rate_limit
    inflight = max_inflight if max_inflight is not None else settings.max_inflight
    share = share if share is not None else LimiterSettings().rate_limit_share
    if not 0 < share <= 1:
        raise ConfigError(f"PAGEMILL_RATE_LIMIT_SHARE must be in (0, 1], not {share}")
    cfg = LimiterConfig(
        name=name,
        rate_per_s=rate * share if rate > 0 else float("inf"),
        max_inflight=inflight if inflight > 0 else UNLIMITED_INFLIGHT,
        lease_s=lease_s if lease_s is not None else settings.request_timeout_s + _LEASE_MARGIN_S,
        max_wait_s=max_wait_s,
        share=share,
    )
    backend: LimiterBackend
    if settings.shared_redis_url is not None:
        from .redis import RedisBackend

        backend = RedisBackend.from_url(settings.shared_redis_url)
    else:
        from models.db import Database
        from models.settings import DatabaseSettings

        from .sql import SqlBackend

        backend = SqlBackend(Database.from_settings(DatabaseSettings(data_dir=settings.data_dir)), owns_db=True)
    return RateLimiter(backend, cfg)
