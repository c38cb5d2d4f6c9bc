"""Every move of an issue between states, in one table, through one helper.

Each move is ONE conditional UPDATE: `WHERE id = … AND status IN (sources)`. Two
schedulers, an editor and a worker can all try at once; the one whose UPDATE
matched the row acted, and everyone else learns it from `move()` returning False.
Nothing else in the code writes `issues.status`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from .models import Issue
from .models import IssueStatus as S


@dataclass(frozen=True)
class Transition:
    sources: tuple[S, ...]
    target: S
    why: str


TRANSITIONS: dict[str, Transition] = {
    "schedule": Transition((S.DRAFT, S.SCHEDULED), S.SCHEDULED, "an editor schedules (or reschedules) it"),
    "unschedule": Transition((S.SCHEDULED,), S.DRAFT, "an editor cancels the schedule before it starts"),
    "skip": Transition((S.DRAFT, S.SCHEDULED), S.SKIPPED, "nothing to send when its time came"),
    "start": Transition((S.SCHEDULED,), S.SENDING, "the due-scan starts it, freezing its content"),
    "pause": Transition((S.SENDING,), S.PAUSED, "an editor, or the relay refusing us"),
    "resume": Transition((S.PAUSED,), S.SENDING, "an editor resumes it"),
    "cancel": Transition((S.SENDING, S.PAUSED), S.CANCELLED, "an editor stops it for good"),
    "finish": Transition((S.SENDING,), S.SENT, "no recipient is left to try"),
    "fail": Transition((S.SENDING,), S.FAILED, "no recipient is left and none was delivered"),
}


def move(session: Session, issue_id: int, name: str, *, where=(), **values) -> bool:
    """Make the move `name` if the issue is in one of its sources (and `where` holds);
    write `values` in the same statement. True if this call made the move."""
    transition = TRANSITIONS[name]
    result = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(transition.sources), *where)
        .values(status=transition.target, **values)
        .execution_options(synchronize_session=False)
    )
    moved = result.rowcount == 1
    if moved:
        loaded = session.identity_map.get(identity_key(Issue, issue_id))
        if loaded is not None:
            session.expire(loaded)  # the next read sees the row as this UPDATE left it
    return moved
