"""Failed-login budgets, taken before a password is checked and given back on success.

Counted per (account, client) and per client, never per account alone: anyone who
knows an editor's address could otherwise lock them out. Each guess takes its slot
with one atomic increment *before* the password is checked, so forty guesses at
once check at most five passwords; a right password gives its slots back, so only
failures count. The counters live in the rate-limit storage (Redis in production,
memory in `newsletter dev`), shared by every web worker.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .. import security

WINDOW_SECONDS = 15 * 60
PER_ACCOUNT_AND_CLIENT = 5
PER_CLIENT = 20


@dataclass(frozen=True)
class Attempt:
    keys: tuple[str, ...]
    allowed: bool


def take(prefix: str, account: str, client: str) -> Attempt:
    """Spend one guess from both budgets; `allowed` is False when either is used up
    (and then the slot is returned at once: a refused guess checks nothing).

    The pair budget is taken first and the client's only by a guess the pair allowed,
    so guesses refused for one account never crowd the client's counter while they
    give their slot back: forty guesses at once check exactly five passwords."""
    storage = security.limiter.storage
    hashed = hashlib.sha256(account.encode("utf-8")).hexdigest()[:24]  # no address kept in the store
    pair_key, client_key = f"{prefix}:login:pair:{client}:{hashed}", f"{prefix}:login:client:{client}"
    if storage.incr(pair_key, WINDOW_SECONDS) > PER_ACCOUNT_AND_CLIENT:
        give_back(Attempt((pair_key,), False))
        return Attempt((), False)
    attempt = Attempt((pair_key, client_key), storage.incr(client_key, WINDOW_SECONDS) <= PER_CLIENT)
    if not attempt.allowed:
        give_back(attempt)
    return attempt


def give_back(attempt: Attempt) -> None:
    storage = security.limiter.storage
    for key in attempt.keys:
        storage.incr(key, WINDOW_SECONDS, amount=-1)
