"""Receiving-domain groups: which family of mailbox providers an address belongs to.

Providers pace senders per family, not per domain (gmail.com and googlemail.com are
one Gmail; hotmail.*, live.* and outlook.com one Microsoft), so pacing keeps one
rate, one connection count and one AIMD state per family (PACING_GROUPS), and
everything no family names is `other`. The group is fixed on each delivery row at
the snapshot (`sql_group`, inside the snapshot's INSERT … SELECT) and the same rule
in Python (`group_of`) serves tests and tools. A config change during a send leaves
the rows' groups as they were; a group no longer configured paces as `other`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, literal

from ..config import Settings
from ..settings import OTHER_GROUP

OTHER = OTHER_GROUP


@dataclass(frozen=True)
class Limit:
    rate: float = 0.0  # messages/s, 0: no limit (until a throttle sets one)
    connections: int = 0  # batches (each on a connection) in flight at once, 0: no limit
    first_day_cap: int = 0  # warm-up: messages on day one, 0: no warm-up for this group


def names(settings: Settings) -> list[str]:
    """Every group, `other` last."""
    return [group for group, _ in settings.pacing_groups] + [OTHER]


def limit(settings: Settings, group: str) -> Limit:
    for name, rate, connections, cap in settings.pacing_limits:
        if name == group:
            return Limit(rate, connections, cap)
    if group != OTHER and group not in names(settings):
        return limit(settings, OTHER)
    return Limit()


def _matches(domain: str, pattern: str) -> bool:
    if pattern.endswith(".*"):  # hotmail.* is hotmail.com, hotmail.co.uk, …
        return domain.startswith(pattern[:-1]) and len(domain) > len(pattern) - 1
    return domain == pattern


def group_of(settings: Settings, address: str) -> str:
    domain = address.rpartition("@")[2].lower().rstrip(".")
    for group, patterns in settings.pacing_groups:
        if any(_matches(domain, p) for p in patterns):
            return group
    return OTHER


def sql_group(settings: Settings, email_column):
    """The same rule as `group_of`, as SQL over an address column (patterns are
    validated domain names: no LIKE wildcards of their own)."""
    if not settings.pacing_groups:
        return literal(OTHER)
    lowered = func.lower(email_column)
    whens = []
    for group, patterns in settings.pacing_groups:
        for pattern in patterns:
            like = f"%@{pattern[:-1]}%" if pattern.endswith(".*") else f"%@{pattern}"
            whens.append((lowered.like(like), group))
    return case(*whens, else_=OTHER)
