"""The pacing rules of one receiving-domain group, as plain arithmetic.

AIMD, as TCP does it for a window: a throttle (421, 4.7.x) multiplies the group's
rate by PACING_DECREASE (at most once per COOLDOWN, since one burst draws many
refusals from workers at once); each accepted message adds PACING_INCREASE/rate,
so steady success regains PACING_INCREASE messages/s every second, up to the
group's configured rate. A group without a configured rate starts from what it
was sending at when first throttled, and is unpaced again once it climbs back
there. Warm-up: a group's daily cap doubles each day for PACING_WARMUP_DAYS.

`pacing` runs these rules in Redis (Lua, the same arithmetic) for every worker,
or in-process when there is no Redis.
"""
from __future__ import annotations

from datetime import date

COOLDOWN = 1.0  # seconds: refusals closer together than this are one throttle


def decreased(current: float | None, configured: float, observed: float, factor: float, floor: float) -> float:
    """The group's rate after a throttle. `current` is its AIMD rate (None: not
    paced), `observed` what this worker saw it send at (for a group with no rate)."""
    base = current or configured or observed or floor
    return max(floor, base * factor)


def ceiling_for(current: float | None, ceiling: float | None, configured: float, observed: float) -> float:
    """Where the climb back ends: the configured rate, or the rate the group ran at
    when it was first throttled."""
    if configured:
        return configured
    return ceiling or current or observed


def increased(current: float, successes: int, step: float, ceiling: float) -> float | None:
    """The rate after `successes` accepted messages; None once back at the ceiling
    (the group is paced by its configured rate alone again)."""
    rate = current + step * successes / current
    return None if ceiling and rate >= ceiling else rate


def daily_cap(first_day_cap: int, start: str, days: int, today: date) -> int:
    """Today's cap for a group in warm-up (0: no cap): day one's, doubled each day."""
    if not first_day_cap or not start:
        return 0
    day = (today - date.fromisoformat(start)).days
    if day >= days:
        return 0
    return first_day_cap * 2 ** max(day, 0)
