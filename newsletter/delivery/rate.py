"""The global send rate limit (SEND_RATE_LIMIT messages per second), shared in Redis.

One token bucket for the whole deployment, kept in Redis and updated by a Lua
script (atomic, using Redis's own clock), so adding workers or machines never
pushes the relay past what it allows. Each worker takes tokens in small grants
so a fast send does not pay a Redis round trip per message.

It is a no-op when the limit is 0 or when the broker is not Redis (the embedded
`newsletter dev` setup has a single worker anyway).
"""
from __future__ import annotations

import logging
import time

from ..config import Settings

log = logging.getLogger(__name__)

# KEYS[1]: bucket; ARGV: rate/s, burst, tokens wanted. Returns "0" when granted,
# else the seconds to wait before asking again.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= want then
  tokens = tokens - want
else
  wait = (want - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""


class SendRateLimiter:
    """`acquire()` blocks until this worker may send one more message."""

    def __init__(self, redis_url: str, key: str, rate: float):
        import redis

        self.rate = rate
        # A fifth of a second's worth may go at once, at least one message.
        self.burst = max(1.0, rate / 5)
        self.grant = max(1, min(int(self.burst), 20))
        self.key = key
        # as the pacer's: a hanging Redis raises after a while instead of stalling the send
        self._client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self._client.register_script(_TOKEN_BUCKET)
        self._granted = 0

    def ask(self, tokens: int) -> float:
        """Take `tokens` from the shared bucket if it has them (0.0), else the seconds
        until it will: one atomic script run in Redis, on Redis's clock."""
        return float(self._script(keys=[self.key], args=[self.rate, self.burst, tokens]))

    def acquire(self) -> None:
        if self._granted > 0:
            self._granted -= 1
            return
        while True:
            wait = self.ask(self.grant)
            if wait <= 0:
                self._granted = self.grant - 1
                return
            time.sleep(min(wait, 1.0))

    def close(self) -> None:
        self._client.close()


class NoLimit:
    def acquire(self) -> None:
        return None

    def close(self) -> None:
        return None


def limiter(settings: Settings) -> SendRateLimiter | NoLimit:
    if settings.send_rate_limit <= 0:
        return NoLimit()
    if not settings.uses_redis_broker:
        log.warning("SEND_RATE_LIMIT is set but the broker is not Redis: sending without a shared limit")
        return NoLimit()
    key = f"{settings.redis_key_prefix}:send-rate"
    return SendRateLimiter(settings.celery_broker_url, key, settings.send_rate_limit)
