"""The issue's state machine: each move only from its sources, and only once."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from newsletter.issues import lifecycle
from newsletter.issues.lifecycle import TRANSITIONS
from newsletter.issues.models import Issue, IssueStatus


def issue_in(session, status: str) -> Issue:
    issue = Issue(number=(session.query(Issue).count() + 1), status=status)
    session.add(issue)
    session.flush()
    return issue


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_a_move_happens_from_its_sources_only(session, name):
    transition = TRANSITIONS[name]
    for status in IssueStatus:
        issue = issue_in(session, status)
        moved = lifecycle.move(session, issue.id, name)
        assert moved == (status in transition.sources), (name, status)
        assert issue.status == (transition.target if moved else status)  # the loaded object sees it
        session.execute(update(Issue).where(Issue.id == issue.id).values(status=IssueStatus.CANCELLED))
        session.flush()


def test_the_second_of_two_identical_moves_does_nothing(session):
    issue = issue_in(session, IssueStatus.SENDING)
    assert lifecycle.move(session, issue.id, "pause", pause_reason="first")
    assert not lifecycle.move(session, issue.id, "pause", pause_reason="second")
    assert issue.pause_reason == "first"


def test_a_guard_can_refuse_the_move(session):
    issue = issue_in(session, IssueStatus.SCHEDULED)
    assert not lifecycle.move(session, issue.id, "start", where=(Issue.number == -1,))
    assert issue.status == IssueStatus.SCHEDULED


def test_only_the_last_states_have_no_way_out():
    """Written down so that a new state has to say where it leads."""
    leaving = set().union(*(t.sources for t in TRANSITIONS.values()))
    assert set(IssueStatus) - leaving == {IssueStatus.SENT, IssueStatus.SKIPPED, IssueStatus.CANCELLED,
                                          IssueStatus.FAILED}
    assert {t.target for t in TRANSITIONS.values()} == set(IssueStatus)
