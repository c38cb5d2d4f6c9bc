"""Per-group pacing shared by every worker: a token bucket, connection slots, the AIMD
rate and the warm-up count of each receiving-domain group (`groups`, `aimd`).

With a Redis broker the state lives in Redis and every change is one Lua script
(atomic, on Redis's clock), so workers on every machine pace a group together;
without Redis (`newsletter dev`, the SQLite tests) `LocalPacer` keeps the same
state in the process. Nothing here blocks: `take()` grants what the group may send
now (the engine claims that many of its rows) or says how long to wait, so a slow
group never holds a worker that other groups could use.

A group with no rate, no AIMD state and no warm-up costs one script run per batch.
"""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

from ..config import Settings
from . import aimd, groups

BURST_SECONDS = 1.0  # a paced group's bucket holds a second's worth (at least one message)
STATE_TTL = 3600  # an AIMD state not touched for an hour is forgotten

# KEYS: state hash, today's warm-up counter. ARGV: configured rate, wanted, successes
# since the last call, tokens given back, increase step, burst seconds, today's cap
# (0: none), seconds to midnight UTC. Returns {granted, wait seconds as text}.
_TAKE = """
local cfg, want, succ, refund = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local step, burst_s, cap, to_midnight = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local st = redis.call('HMGET', KEYS[1], 'rate', 'tokens', 'ts', 'ceiling')
local rate = tonumber(st[1])
if rate and succ > 0 then
  rate = rate + step * succ / rate
  local ceiling = tonumber(st[4]) or cfg
  if ceiling > 0 and rate >= ceiling then rate = nil end
  if rate then redis.call('HSET', KEYS[1], 'rate', tostring(rate)) else redis.call('HDEL', KEYS[1], 'rate', 'ceiling') end
end
if cap > 0 then
  -- never below nought: a grant of yesterday given back today buys nothing today
  local used = math.max(0, tonumber(redis.call('GET', KEYS[2]) or '0') - refund)
  if used >= cap then
    redis.call('SET', KEYS[2], tostring(used), 'EX', 172800)
    return {0, to_midnight}
  end
  want = math.min(want, cap - used)
end
local r = rate or cfg
local grant, wait = want, 0
if r > 0 then
  local burst = math.max(1, r * burst_s)
  local tokens = tonumber(st[2]) or burst
  local ts = tonumber(st[3]) or now
  tokens = math.min(burst, tokens + refund + math.max(0, now - ts) * r)
  grant = math.min(want, math.floor(tokens))
  if grant < 1 then
    grant = 0
    wait = (1 - tokens) / r
  end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - grant), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[1], 3600)
end
if cap > 0 then
  redis.call('SET', KEYS[2], tostring(math.max(0, tonumber(redis.call('GET', KEYS[2]) or '0') - refund) + grant), 'EX', 172800)
end
return {grant, tostring(wait)}
"""

# KEYS: state hash. ARGV: configured rate, factor, floor, observed rate, cooldown.
# Returns the group's rate after the throttle, as text.
_THROTTLE = """
local cfg, factor, floor, observed, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local st = redis.call('HMGET', KEYS[1], 'rate', 'cut', 'ceiling')
local rate = tonumber(st[1])
if now - (tonumber(st[2]) or 0) < cooldown then return tostring(rate or cfg) end
local base = rate
if not base or base <= 0 then base = (cfg > 0 and cfg) or (observed > 0 and observed) or floor end
local ceiling = (cfg > 0 and cfg) or tonumber(st[3]) or rate or (observed > 0 and observed) or floor
local new = math.max(floor, base * factor)
redis.call('HSET', KEYS[1], 'rate', tostring(new), 'cut', tostring(now), 'ceiling', tostring(ceiling), 'tokens', '0', 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(new)
"""

# KEYS: the group's slots (a sorted set of holders by expiry). ARGV: limit, holder, seconds.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('EXPIRE', KEYS[1], 3600)
  return 1
end
return 0
"""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _today(now: datetime) -> tuple[datetime, float]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86400
    return now, midnight - now.timestamp()


class _Base:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.clock = clock  # the warm-up's day (UTC); tests move it across midnight
        self.holder = uuid.uuid4().hex  # this run, as a connection-slot holder
        self.limits = {name: groups.limit(settings, name) for name in groups.names(settings)}

    def limit(self, group: str) -> groups.Limit:
        return self.limits.get(group) or groups.limit(self.settings, group)

    def cap(self, group: str) -> tuple[int, str, float]:
        """Today's warm-up cap of the group (0: none), the day, seconds to midnight UTC."""
        now, to_midnight = _today(self.clock())
        s = self.settings
        return aimd.daily_cap(self.limit(group).first_day_cap, s.pacing_warmup_start, s.pacing_warmup_days,
                              now.date()), now.strftime("%Y%m%d"), to_midnight


# A Redis that hangs (rather than refuses) must not stall a send or a page forever:
# each call gives up after this long and raises, as a refused connection does.
REDIS_TIMEOUT_SECONDS = 5.0


class RedisPacer(_Base):
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now):
        import redis

        super().__init__(settings, clock)
        self._client = redis.Redis.from_url(settings.celery_broker_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                            socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        self._take = self._client.register_script(_TAKE)
        self._throttle = self._client.register_script(_THROTTLE)
        self._hold = self._client.register_script(_HOLD)
        self.prefix = f"{settings.redis_key_prefix}:pace"

    def take(self, group: str, want: int, successes: int = 0, refund: int = 0) -> tuple[int, float]:
        """Up to `want` messages the group may send now (and the accepted messages and
        unused grants since the last call); (0, seconds to wait) if none."""
        cap, day, to_midnight = self.cap(group)
        granted, wait = self._take(
            keys=[f"{self.prefix}:{group}", f"{self.prefix}:{group}:day:{day}"],
            args=[self.limit(group).rate, want, successes, refund, self.settings.pacing_increase, BURST_SECONDS,
                  cap, to_midnight])
        return int(granted), float(wait)

    def throttled(self, group: str, observed: float) -> float:
        """The receiving side throttled the group: cut its rate; returns the new rate."""
        s = self.settings
        return float(self._throttle(keys=[f"{self.prefix}:{group}"], args=[
            self.limit(group).rate, s.pacing_decrease, s.pacing_min_rate, observed, aimd.COOLDOWN]))

    def current_rate(self, group: str) -> float | None:
        """The group's AIMD rate (None: paced by its configured rate alone)."""
        rate = self._client.hget(f"{self.prefix}:{group}", "rate")
        return float(rate) if rate is not None else None

    def used_today(self, group: str) -> int:
        """Messages granted to the group today under its warm-up cap (the editor's view)."""
        used = self._client.get(f"{self.prefix}:{group}:day:{self.cap(group)[1]}")
        return max(0, int(float(used))) if used is not None else 0

    def state(self, group: str) -> tuple[float | None, int] | None:
        """The group's AIMD rate and today's warm-up use for a page or a command; None
        while Redis is out of reach: a broker outage must not take the page with it."""
        import redis

        try:
            return self.current_rate(group), self.used_today(group)
        except (redis.ConnectionError, redis.TimeoutError):
            return None

    def hold(self, group: str) -> bool:
        """A connection slot of the group for this run (renewed by calling again)."""
        connections = self.limit(group).connections
        if not connections:
            return True
        return bool(self._hold(keys=[f"{self.prefix}:{group}:slots"],
                               args=[connections, self.holder, self.settings.send_lease_seconds]))

    def let_go(self, group: str) -> None:
        if self.limit(group).connections:
            self._client.zrem(f"{self.prefix}:{group}:slots", self.holder)

    def close(self) -> None:
        self._client.close()


class _LocalGroup:
    def __init__(self):
        self.rate: float | None = None
        self.ceiling: float | None = None
        self.cut = 0.0
        self.tokens: float | None = None
        self.ts = 0.0
        self.days: dict[str, int] = {}
        self.slots: dict[str, float] = {}


class LocalPacer(_Base):
    """The same rules in this process only (no Redis): one state per group, shared by
    the process's threads."""

    _lock = threading.Lock()
    _groups: dict[tuple, _LocalGroup] = {}

    def _group(self, group: str) -> _LocalGroup:
        return self._groups.setdefault((self.settings.database_url, self.settings.redis_key_prefix, group), _LocalGroup())

    def take(self, group: str, want: int, successes: int = 0, refund: int = 0) -> tuple[int, float]:
        cap, day, to_midnight = self.cap(group)
        cfg = self.limit(group).rate
        with self._lock:
            g, now = self._group(group), time.monotonic()
            if g.rate and successes:
                g.rate = aimd.increased(g.rate, successes, self.settings.pacing_increase, g.ceiling or cfg)
                g.ceiling = g.ceiling if g.rate else None
            if cap:
                used = max(0, g.days.get(day, 0) - refund)
                g.days = {day: used}
                if used >= cap:
                    return 0, to_midnight
                want = min(want, cap - used)
            rate, granted, wait = g.rate or cfg, want, 0.0
            if rate > 0:
                burst = max(1.0, rate * BURST_SECONDS)
                tokens = burst if g.tokens is None else g.tokens
                tokens = min(burst, tokens + refund + max(0.0, now - (g.ts or now)) * rate)
                granted = min(want, int(tokens))
                if granted < 1:
                    granted, wait = 0, (1 - tokens) / rate
                g.tokens, g.ts = tokens - granted, now
            if cap:
                g.days[day] += granted
            return granted, wait

    def throttled(self, group: str, observed: float) -> float:
        s, cfg = self.settings, self.limit(group).rate
        with self._lock:
            g, now = self._group(group), time.monotonic()
            if now - g.cut < aimd.COOLDOWN:
                return g.rate or cfg
            g.ceiling = aimd.ceiling_for(g.rate, g.ceiling, cfg, observed) or s.pacing_min_rate
            g.rate = aimd.decreased(g.rate, cfg, observed, s.pacing_decrease, s.pacing_min_rate)
            g.cut, g.tokens, g.ts = now, 0.0, now
            return g.rate

    def current_rate(self, group: str) -> float | None:
        with self._lock:
            return self._group(group).rate

    def used_today(self, group: str) -> int:
        day = self.cap(group)[1]
        with self._lock:
            return self._group(group).days.get(day, 0)

    def state(self, group: str) -> tuple[float | None, int] | None:
        return self.current_rate(group), self.used_today(group)

    def hold(self, group: str) -> bool:
        connections = self.limit(group).connections
        if not connections:
            return True
        with self._lock:
            slots, now = self._group(group).slots, time.monotonic()
            for holder in [h for h, until in slots.items() if until < now]:
                del slots[holder]
            if self.holder not in slots and len(slots) >= connections:
                return False
            slots[self.holder] = now + self.settings.send_lease_seconds
            return True

    def let_go(self, group: str) -> None:
        with self._lock:
            self._group(group).slots.pop(self.holder, None)

    def close(self) -> None:
        return None


def pacer(settings: Settings, clock: Callable[[], datetime] = utc_now) -> RedisPacer | LocalPacer:
    return RedisPacer(settings, clock) if settings.uses_redis_broker else LocalPacer(settings, clock)
