"""What every worker must agree on about the relays: which one is cooling down,
which one is disabled and why, and how many messages each accepted.

Kept in Redis when the broker is Redis, so a relay one worker found down gets no
connections from the others either, and the editors' page (another process)
sees it. Without Redis (the embedded `newsletter dev` setup) it is kept in the
process: each process knows only what it saw itself.

A relay's state is keyed by an HMAC of its connection settings (host, port,
user, password, TLS) under SECRET_KEY: changing any of them starts it afresh (a
relay disabled for its credentials is usable again once they change), and the
key reveals nothing about the password. Bookkeeping never stops mail: a Redis
error is logged and the relays are taken as usable.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections import Counter
from dataclasses import dataclass

from ...config import Relay, Settings

log = logging.getLogger(__name__)

SHARE_TTL_SECONDS = 90 * 86400  # an issue's per-relay counts are kept this long


@dataclass
class RelayStatus:
    cooling_until: float = 0.0  # epoch seconds; no new connection before, while another relay is usable
    cooling_reason: str = ""
    disabled_at: float = 0.0  # epoch seconds; 0 = enabled
    disabled_reason: str = ""
    accepted: int = 0  # messages this relay accepted, all mail together

    def state(self, now: float) -> str:
        if self.disabled_at:
            return "disabled"
        return "cooling" if self.cooling_until > now else "ready"

    @classmethod
    def from_fields(cls, raw: dict) -> RelayStatus:
        text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in raw.items()}
        return cls(float(text.get("cooling_until") or 0), text.get("cooling_reason", ""),
                   float(text.get("disabled_at") or 0), text.get("disabled_reason", ""), int(text.get("accepted") or 0))


def relay_key(settings: Settings, relay: Relay) -> str:
    identity = "\0".join((relay.host, str(relay.port), relay.username, relay.password, relay.security))
    return hmac.new(settings.secret_key.encode(), identity.encode(), hashlib.sha256).hexdigest()[:24]


class LocalStore:
    """The in-process fallback: one table per process, shared by its threads."""

    _lock = threading.Lock()
    _relays: dict[str, RelayStatus] = {}
    _shares: dict[str, Counter] = {}

    def __init__(self, prefix: str):
        self.prefix = prefix

    @classmethod
    def forget_all(cls) -> None:
        """Drop everything this process knows (tests start each case clean)."""
        with cls._lock:
            cls._relays.clear()
            cls._shares.clear()

    def _status(self, key: str) -> RelayStatus:
        return self._relays.setdefault(f"{self.prefix}:{key}", RelayStatus())

    def statuses(self, keys: list[str]) -> dict[str, RelayStatus]:
        with self._lock:
            return {key: RelayStatus(**vars(self._status(key))) for key in keys}

    def cool(self, key: str, until: float, reason: str) -> None:
        with self._lock:
            status = self._status(key)
            status.cooling_until, status.cooling_reason = until, reason

    def disable(self, key: str, when: float, reason: str) -> None:
        with self._lock:
            status = self._status(key)
            status.disabled_at = status.disabled_at or when
            status.disabled_reason = reason

    def enable(self, key: str) -> None:
        with self._lock:
            status = self._status(key)
            status.disabled_at, status.disabled_reason, status.cooling_until, status.cooling_reason = 0.0, "", 0.0, ""

    def count(self, counts: Counter, tally: str) -> None:
        with self._lock:
            for key, n in counts.items():
                self._status(key).accepted += n
            if tally:
                self._shares.setdefault(f"{self.prefix}:{tally}", Counter()).update(counts)

    def shares(self, tally: str) -> dict[str, int]:
        with self._lock:
            return dict(self._shares.get(f"{self.prefix}:{tally}", {}))


_clients: dict[str, object] = {}


class RedisStore:
    """One hash per relay and one per tally, under REDIS_KEY_PREFIX."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.errors = (redis.RedisError, OSError)
        if url not in _clients:  # one connection pool per process (redis-py renews it after a fork)
            _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.client = _clients[url]
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:relay:{key}"

    def _quietly(self, what: str, call, default=None):
        try:
            return call()
        except self.errors as exc:
            log.warning("relay state: %s failed (%s); carrying on without it", what, exc.__class__.__name__)
            return default

    def statuses(self, keys: list[str]) -> dict[str, RelayStatus]:
        def read():
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(self._key(key))
            return {key: RelayStatus.from_fields(raw) for key, raw in zip(keys, pipe.execute())}

        return self._quietly("reading", read) or {key: RelayStatus() for key in keys}

    def cool(self, key: str, until: float, reason: str) -> None:
        self._quietly("cooling", lambda: self.client.hset(
            self._key(key), mapping={"cooling_until": repr(until), "cooling_reason": reason}))

    def disable(self, key: str, when: float, reason: str) -> None:
        def write():
            pipe = self.client.pipeline()
            pipe.hsetnx(self._key(key), "disabled_at", repr(when))
            pipe.hset(self._key(key), "disabled_reason", reason)
            pipe.execute()

        self._quietly("disabling", write)

    def enable(self, key: str) -> None:
        self._quietly("enabling", lambda: self.client.hdel(
            self._key(key), "disabled_at", "disabled_reason", "cooling_until", "cooling_reason"))

    def count(self, counts: Counter, tally: str) -> None:
        def write():
            pipe = self.client.pipeline(transaction=False)
            share = f"{self.prefix}:relay-share:{tally}"
            for key, n in counts.items():
                pipe.hincrby(self._key(key), "accepted", n)
                if tally:
                    pipe.hincrby(share, key, n)
            if tally:
                pipe.expire(share, SHARE_TTL_SECONDS)
            pipe.execute()

        self._quietly("counting", write)

    def shares(self, tally: str) -> dict[str, int]:
        raw = self._quietly("reading shares", lambda: self.client.hgetall(f"{self.prefix}:relay-share:{tally}"), {})
        return {k.decode(): int(v) for k, v in raw.items()}


def store_for(settings: Settings) -> LocalStore | RedisStore:
    if settings.uses_redis_broker:
        return RedisStore(settings.celery_broker_url, settings.redis_key_prefix)
    return LocalStore(settings.redis_key_prefix)


@dataclass
class RelayView:
    """One relay as editors see it: never its user or password."""

    index: int
    name: str
    where: str
    security: str
    weight: int
    state: str  # ready, cooling, disabled
    since: float  # disabled at, or cooling until (epoch seconds)
    reason: str
    accepted: int  # all mail since its settings last changed
    share: int  # messages of the tally (an issue) it accepted
    share_percent: float

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items()}


def overview(settings: Settings, tally: str = "", now: float | None = None) -> list[RelayView]:
    import time

    now = time.time() if now is None else now
    store = store_for(settings)
    keys = [relay_key(settings, relay) for relay in settings.relays]
    statuses = store.statuses(keys)
    shares = store.shares(tally) if tally else {}
    total = sum(shares.get(key, 0) for key in keys)
    views = []
    for index, (relay, key) in enumerate(zip(settings.relays, keys)):
        status, share = statuses[key], shares.get(key, 0)
        state = status.state(now)
        views.append(RelayView(
            index, relay.name, relay.where, relay.security, relay.weight, state,
            status.disabled_at if state == "disabled" else status.cooling_until if state == "cooling" else 0.0,
            status.disabled_reason if state == "disabled" else status.cooling_reason if state == "cooling" else "",
            status.accepted, share, round(share * 100 / total, 1) if total else 0.0,
        ))
    return views


def enable(settings: Settings, index: int) -> Relay | None:
    """An editor re-enables a relay (after fixing its credentials at the relay's end)."""
    if not 0 <= index < len(settings.relays):
        return None
    relay = settings.relays[index]
    store_for(settings).enable(relay_key(settings, relay))
    log.warning("relay %s re-enabled by an editor", relay.name)
    return relay
