"""A run's turns over the receiving-domain groups: round robin from a random start,
so each group gets its turn and no group's backlog (a throttled group's retries
included) starves another's fresh rows. A group with nothing due sits out the rest
of the run; one the pacer holds back sits out until its wait is over.

Per group it also keeps what the pacer is told at the group's next turn (messages
accepted, grants unused) and what this worker saw the group send at, which a
throttle of a group with no configured rate starts from.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict, deque


class Lanes:
    def __init__(self, names: list[str]):
        start = random.randrange(len(names))
        self.order = names[start:] + names[:start]
        self.turn = 0
        self.empty: set[str] = set()
        self.until: dict[str, float] = {}
        self.accepted: dict[str, int] = defaultdict(int)
        self.unused: dict[str, int] = defaultdict(int)
        self._sends: dict[str, deque] = defaultdict(lambda: deque(maxlen=200))

    def next(self, now: float | None = None) -> str | None:
        """The next group that may claim now, or None."""
        now = time.monotonic() if now is None else now
        for _ in range(len(self.order)):
            group = self.order[self.turn % len(self.order)]
            self.turn += 1
            if group not in self.empty and self.until.get(group, 0.0) <= now:
                return group
        return None

    def wait(self, now: float | None = None) -> float | None:
        """Seconds until a held-back group may claim again; None when no group has rows."""
        now = time.monotonic() if now is None else now
        waits = [self.until.get(g, 0.0) - now for g in self.order if g not in self.empty]
        return max(0.0, min(waits)) if waits else None

    def hold(self, group: str, seconds: float) -> None:
        self.until[group] = time.monotonic() + seconds

    def done(self, group: str) -> None:
        self.empty.add(group)

    def alone(self, group: str) -> bool:
        """No other group has rows left in this run: every next turn is `group`'s."""
        return all(other in self.empty for other in self.order if other != group)

    def owed(self) -> list[tuple[str, int, int]]:
        """(group, accepted, unused) not yet told to the pacer, and forget them."""
        owed = [(g, self.accepted.pop(g, 0), self.unused.pop(g, 0))
                for g in sorted(set(self.accepted) | set(self.unused))]
        return [o for o in owed if o[1] or o[2]]

    def sent(self, group: str, count: int, started: float) -> None:
        """`count` messages of the group went out since `started` (monotonic)."""
        if count:
            self._sends[group].append((started, time.monotonic(), count))

    def observed(self, group: str) -> float:
        """Messages/s this worker sent the group at, over its recent batches."""
        spans = self._sends[group]
        if not spans:
            return 0.0
        seconds = spans[-1][1] - spans[0][0]
        return sum(n for _, _, n in spans) / seconds if seconds > 0 else 0.0
