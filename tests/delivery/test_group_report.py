"""Each receiving-domain group's pace in the report and `newsletter status`: a copy
the provider throttled (4.7.x) shows up in its group, with the group's rate cut."""
from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from support.delivery import THROTTLED_ENV, make_sending_issue, throttled_send

from newsletter.cli.delivery import format_report
from newsletter.config import load_settings
from newsletter.delivery import ledger, pacing
from newsletter.delivery import report as reports
from newsletter.models import Subscriber, SubscriberStatus


@pytest.fixture
def env(env):
    """Its own pacing state (a fresh key prefix), a rate for `other`, a warm-up for gmail."""
    return {**env, **THROTTLED_ENV, "REDIS_KEY_PREFIX": f"{env['REDIS_KEY_PREFIX']}-gr-{secrets.token_hex(3)}",
            "PACING_WARMUP_START": str(pacing.utc_now().date() - timedelta(days=2)), "PACING_WARMUP_DAYS": "14"}


def group_report(db, env, issue_id) -> reports.Report:
    settings = load_settings(env)
    pacer = pacing.pacer(settings)
    try:
        with db.session() as session:
            return reports.report(session, issue_id, settings=settings, pacer=pacer)
    finally:
        pacer.close()


def test_a_throttled_copy_shows_in_its_group_with_the_cut_rate(app, db, smtp, env):
    issue_id = throttled_send(db, smtp, env)
    report = group_report(db, env, issue_id)
    assert [g.group for g in report.groups] == ["other"]
    other = report.groups[0]
    assert (other.waiting, other.deferred, other.throttled) == (1, 1, 1)
    assert other.configured_rate == 50 and other.slowed and 12 <= other.current_rate < 30  # halved, then regaining
    assert other.warmup_cap == 0
    assert report.as_dict()["groups"][0]["throttled"] == 1
    text = format_report(report)
    assert "by receiving-domain group:" in text
    assert "other: waiting 1 (deferred 1, throttled 1); rate 50/s, slowed to" in text
    with db.session() as session:  # without a pacer: the counts alone, as before
        assert reports.report(session, issue_id).groups == []


def test_a_group_in_warm_up_shows_todays_cap_and_use(app, db, session, env):
    settings = load_settings(env)
    session.add(Subscriber(email="a@gmail.com", email_key="a@gmail.com", status=SubscriberStatus.CONFIRMED,
                           unsubscribe_token="u-gr", manage_token="m-gr"))
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id, settings=settings)
    session.commit()
    pacer = pacing.pacer(settings)
    try:
        assert pacer.take("gmail", 7) == (7, 0.0)
        day = pacer.cap("gmail")[0]
        gmail = reports.report(session, issue_id, settings=settings, pacer=pacer).groups[0]
    finally:
        pacer.close()
    assert (gmail.group, gmail.waiting, gmail.throttled, gmail.slowed) == ("gmail", 1, 0, False)
    assert gmail.warmup_cap == day == 2000 and gmail.warmup_used == 7
    assert "gmail: waiting 1 (deferred 0, throttled 0); rate unlimited; warm-up 7 of" in format_report(
        reports.report(session, issue_id, settings=settings, pacer=pacing.pacer(settings)))
