"""What the rate limiter and its shared-state backends agree on: the backend interface (`LimiterBackend`), its
configuration (`LimiterConfig`) and answers (`Attempt`, `Check`). Below limiter.py (the caller side) and the
backends, redis.py and sql.py, which implement `LimiterBackend`; limiter.py's `build_limiter` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Attempt", "Check", "LimiterBackend", "LimiterConfig", "DEFAULT_MAX_WAIT_S", "UNLIMITED_INFLIGHT"]

DEFAULT_MAX_WAIT_S = 30.0
UNLIMITED_INFLIGHT = 1 << 30  # max_inflight 0 (no cap), as a number every backend compares with
_SLOW_STEP = 0.10  # a 429 lowers the rate by this share of it...
_SLOW_RECOVERY_PER_S = 0.10  # ...which comes back at this share per second
_SLOW_ESCALATE = 0.25  # a 429 while the rate is already this much lower: a full cooldown
_LONG_PAUSE_S = 5.0  # a Retry-After longer than this is a pause the server wants from everyone


@dataclass(frozen=True)
class Attempt:
    """One try at the shared state. `granted`: a slot was reserved and the caller waits `wait_s` for it.
    Otherwise `wait_s` says when trying again is worthwhile and `reason` is "cooldown", "inflight" or "rate".
    `shift`: the schedule's total push-back so far (see `Check`)."""

    granted: bool
    wait_s: float
    reason: str
    shift: float = 0.0


@dataclass(frozen=True)
class Check:
    """Read before sending a reserved request: the cooldown left, and the schedule's total push-back (seconds,
    growing by one interval per 429) so a slot reserved before a 429 moves back with every other one."""

    cooldown_s: float
    shift: float


@dataclass(frozen=True)
class LimiterConfig:
    name: str
    rate_per_s: float  # the pace actually kept (the configured rate x the share); inf = no pacing
    max_inflight: int
    lease_s: float  # an in-flight slot not released by then is given back (its holder died)
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    share: float = 1.0  # rate_per_s / the configured rate

    @property
    def interval_s(self) -> float:
        return 1.0 / self.rate_per_s

    @property
    def unlimited(self) -> bool:
        return self.rate_per_s == float("inf") and self.max_inflight >= UNLIMITED_INFLIGHT

    def slow_args(self) -> tuple[float, float, float, float]:
        return (_SLOW_STEP, _SLOW_RECOVERY_PER_S, _SLOW_ESCALATE, _LONG_PAUSE_S)


class LimiterBackend(Protocol):
    def try_acquire(self, cfg: LimiterConfig, token: str) -> Attempt: ...

    def release(self, cfg: LimiterConfig, token: str) -> None: ...

    def cool_down(self, cfg: LimiterConfig, seconds: float) -> None: ...

    def slow_down(self, cfg: LimiterConfig, retry_after_s: float) -> None: ...

    def check(self, cfg: LimiterConfig) -> Check: ...

    def cooldown_remaining(self, cfg: LimiterConfig) -> float: ...

    def close(self) -> None: ...
