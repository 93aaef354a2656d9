"""The limiter's shared state in Redis: one Lua script, so every step is atomic and uses the Redis clock."""

from __future__ import annotations

from typing import Any

import redis

from models.errors import RateLimited

from .keys import ratelimit_keys
from .ratelimit import Attempt, LimiterConfig

__all__ = ["RedisBackend", "LIMITER_SCRIPT"]

# KEYS: tat, leases, cooldown.  ARGV[1] = op; times are seconds (floats) on the Redis clock.
# Replies are strings: Redis truncates Lua numbers to integers.
LIMITER_SCRIPT = """
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cool = tonumber(redis.call('GET', KEYS[3]) or '0')
if op == 'acquire' then
  local interval, maxinf = tonumber(ARGV[2]), tonumber(ARGV[3])
  local lease, maxwait, token = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.6f', now))
  if cool > now then return {0, string.format('%.6f', cool - now), 'cooldown'} end
  if redis.call('ZCARD', KEYS[2]) >= maxinf then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, string.format('%.6f', tonumber(first[2]) - now), 'inflight'}
  end
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local wait = tat - now
  if wait > maxwait then return {0, string.format('%.6f', wait), 'rate'} end
  redis.call('SET', KEYS[1], string.format('%.6f', tat + interval), 'PX', math.ceil((wait + interval) * 1000) + 1000)
  redis.call('ZADD', KEYS[2], string.format('%.6f', now + wait + lease), token)
  redis.call('PEXPIRE', KEYS[2], math.ceil((maxwait + lease) * 1000) + 1000)
  return {1, string.format('%.6f', wait), 'ok'}
elseif op == 'release' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {1, '0', 'ok'}
elseif op == 'cooldown' then
  local untl = now + tonumber(ARGV[2])
  if untl > cool then
    redis.call('SET', KEYS[3], string.format('%.6f', untl), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
  end
  return {1, '0', 'ok'}
end
local left = cool - now
if left < 0 then left = 0 end
return {1, string.format('%.6f', left), 'ok'}
"""


class RedisBackend:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(LIMITER_SCRIPT)

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        return cls(redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10))

    def _call(self, cfg: LimiterConfig, *args: Any) -> Attempt:
        try:
            granted, wait, reason = self._script(keys=list(ratelimit_keys(cfg.name)), args=list(args))
        except redis.RedisError as exc:
            # the limiter's store being down is a reason to wait, not to fail the range
            raise RateLimited(f"the rate limiter's Redis is unreachable ({type(exc).__name__})", 5.0) from None
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Attempt(bool(int(granted)), float(wait), reason)

    def try_acquire(self, cfg: LimiterConfig, token: str) -> Attempt:
        return self._call(cfg, "acquire", cfg.interval_s, cfg.max_inflight, cfg.lease_s, cfg.max_wait_s, token)

    def release(self, cfg: LimiterConfig, token: str) -> None:
        self._call(cfg, "release", token)

    def cool_down(self, cfg: LimiterConfig, seconds: float) -> None:
        self._call(cfg, "cooldown", seconds)

    def cooldown_remaining(self, cfg: LimiterConfig) -> float:
        return self._call(cfg, "remaining").wait_s

    def close(self) -> None:
        self.client.close()
