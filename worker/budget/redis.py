"""The budget's spend in Redis: one Lua script checks and adds in one atomic step (worker/budget/limit.py)."""

from __future__ import annotations

import redis

from ..keys import budget_key

__all__ = ["RedisBudget", "RESERVE_SCRIPT"]

# KEYS[1]: the spend (a float string, USD). ARGV: amount, limit. Reply {granted, spend before} as strings: Redis
# truncates Lua numbers to integers.
RESERVE_SCRIPT = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if spent + amount > limit + 1e-9 then return {0, string.format('%.9f', spent)} end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
return {1, string.format('%.9f', spent)}
"""


class RedisBudget:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._script = client.register_script(RESERVE_SCRIPT)

    @classmethod
    def from_url(cls, url: str) -> RedisBudget:
        return cls(redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10))

    def reserve(self, key: str, usd: float, limit_usd: float) -> tuple[bool, float]:
        granted, before = self._script(keys=[budget_key(key)], args=[f"{usd:.9f}", f"{limit_usd:.9f}"])
        return bool(int(granted)), float(before)

    def adjust(self, key: str, delta_usd: float) -> None:
        self._redis.incrbyfloat(budget_key(key), delta_usd)

    def spent(self, key: str) -> float:
        value = self._redis.get(budget_key(key))
        return float(value) if value is not None else 0.0

    def close(self) -> None:
        self._redis.close()
