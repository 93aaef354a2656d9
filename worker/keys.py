"""Every Redis key pagemill writes, in one place (the broker's own keys belong to kombu).

Keys of one limiter share a hash tag (`{name}`) so the limiter's script touches one Redis Cluster slot.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["PREFIX", "RateLimitKeys", "ratelimit_keys", "budget_key"]

PREFIX = "pagemill:"


class RateLimitKeys(NamedTuple):
    tat: str  # GCRA theoretical arrival time, seconds since the epoch (Redis clock)
    leases: str  # sorted set: in-flight slot token -> lease expiry
    cooldown: str  # seconds since the epoch before which nobody sends (a long Retry-After, or 429s in a row)
    slow: str  # hash after a 429: `shift` (total seconds the schedule was pushed back), `until` (slow-down ends)


def ratelimit_keys(name: str) -> RateLimitKeys:
    base = f"{PREFIX}ratelimit:{{{name}}}"
    return RateLimitKeys(f"{base}:tat", f"{base}:leases", f"{base}:cooldown", f"{base}:slow")


def budget_key(name: str) -> str:
    """The spend (USD, a float string) of one budget: `name` is "month:2026-12" or "job:17"."""
    return f"{PREFIX}budget:{name}"
