"""The limiter's shared state in Redis: one Lua script, so every step is atomic and uses the Redis clock.
A request costs two script calls (acquire, release), plus one check before sending when it had to wait."""

from __future__ import annotations

from typing import Any

import redis

from models.errors import RateLimited

from ..keys import ratelimit_keys
from .base import Attempt, Check, LimiterConfig

__all__ = ["RedisBackend", "LIMITER_SCRIPT"]

# KEYS: tat, leases, cooldown, slow.  ARGV[1] = op; times are seconds (floats) on the Redis clock.
# Replies are strings: Redis truncates Lua numbers to integers. `slow` holds `shift` (total push-back of the
# schedule, s) and `until` (when the reduced rate is back to full; the reduction is (until - now) * recovery).
LIMITER_SCRIPT = """
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cool = tonumber(redis.call('GET', KEYS[3]) or '0')
local slow = redis.call('HMGET', KEYS[4], 'shift', 'until')
local shift, slow_until = tonumber(slow[1] or '0'), tonumber(slow[2] or '0')
local function fmt(x) return string.format('%.6f', x) end
if op == 'acquire' then
  local interval, maxinf = tonumber(ARGV[2]), tonumber(ARGV[3])
  local lease, maxwait, token, recovery = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
  if cool > now then return {0, fmt(cool - now), 'cooldown', fmt(shift)} end
  if redis.call('ZCARD', KEYS[2]) >= maxinf then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, fmt(tonumber(first[2]) - now), 'inflight', fmt(shift)}
  end
  local deficit = 0
  if slow_until > now then deficit = (slow_until - now) * recovery end
  interval = interval / (1 - deficit)
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local wait = tat - now
  if wait > maxwait then return {0, fmt(wait), 'rate', fmt(shift)} end
  redis.call('SET', KEYS[1], fmt(tat + interval), 'PX', math.ceil((wait + interval) * 1000) + 1000)
  redis.call('ZADD', KEYS[2], fmt(now + wait + lease), token)
  redis.call('PEXPIRE', KEYS[2], math.ceil((maxwait + lease) * 1000) + 1000)
  return {1, fmt(wait), 'ok', fmt(shift)}
elseif op == 'release' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {1, '0', 'ok', fmt(shift)}
elseif op == 'slow' then
  local retry, interval = tonumber(ARGV[2]), tonumber(ARGV[3])
  local step, recovery, escalate, long = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local deficit = 0
  if slow_until > now then deficit = (slow_until - now) * recovery end
  if retry <= long and deficit < escalate then
    deficit = deficit + step
    interval = interval / (1 - deficit)
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tat < now then tat = now end
    redis.call('SET', KEYS[1], fmt(tat + interval), 'PX', math.ceil((tat - now + interval) * 1000) + 1000)
    redis.call('HSET', KEYS[4], 'shift', fmt(shift + interval), 'until', fmt(now + deficit / recovery))
    redis.call('PEXPIRE', KEYS[4], 86400000)
    return {1, '0', 'slow', fmt(shift + interval)}
  end
  op = 'cooldown'
end
if op == 'cooldown' then
  local untl = now + tonumber(ARGV[2])
  if untl > cool then
    redis.call('SET', KEYS[3], fmt(untl), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
  end
  return {1, '0', 'ok', fmt(shift)}
end
local left = cool - now
if left < 0 then left = 0 end
return {1, fmt(left), 'ok', fmt(shift)}
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
            granted, wait, reason, shift = self._script(keys=list(ratelimit_keys(cfg.name)), args=list(args))
        except redis.RedisError as exc:
            # the limiter's store being down is a reason to wait, not to fail the range
            raise RateLimited(f"the rate limiter's Redis is unreachable ({type(exc).__name__})", 5.0) from None
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Attempt(bool(int(granted)), float(wait), reason, float(shift))

    def try_acquire(self, cfg: LimiterConfig, token: str) -> Attempt:
        recovery = cfg.slow_args()[1]
        return self._call(
            cfg, "acquire", cfg.interval_s, cfg.max_inflight, cfg.lease_s, cfg.max_wait_s, token, recovery
        )

    def release(self, cfg: LimiterConfig, token: str) -> None:
        self._call(cfg, "release", token)

    def cool_down(self, cfg: LimiterConfig, seconds: float) -> None:
        self._call(cfg, "cooldown", seconds)

    def slow_down(self, cfg: LimiterConfig, retry_after_s: float) -> None:
        self._call(cfg, "slow", retry_after_s, cfg.interval_s, *cfg.slow_args())

    def check(self, cfg: LimiterConfig) -> Check:
        attempt = self._call(cfg, "remaining")
        return Check(attempt.wait_s, attempt.shift)

    def cooldown_remaining(self, cfg: LimiterConfig) -> float:
        return self._call(cfg, "remaining").wait_s

    def close(self) -> None:
        self.client.close()
