"""Each receiving-domain group's pace in the report and `newsletter status`: a copy
the provider throttled (4.7.x) shows up in its group, with the group's rate cut."""
from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from support.delivery import THROTTLED_ENV, make_sending_issue, throttled_send

from newsletter.cli.delivery import format_report
from newsletter.config import load_settings
from newsletter.db import utcnow
from newsletter.delivery import engine, ledger, pacing
from newsletter.delivery import report as reports
from newsletter.models import Delivery, Subscriber, SubscriberStatus


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
    assert (other.waiting, other.deferred, other.throttled, other.throttles) == (1, 1, 1, 1)
    assert other.configured_rate == 50 and other.slowed and 12 <= other.current_rate < 30  # halved, then regaining
    assert other.warmup_cap == 0
    assert report.as_dict()["groups"][0]["throttled"] == 1
    text = format_report(report)
    assert "by receiving-domain group:" in text
    assert "other: waiting 1 (deferred 1, held by a throttle 1); throttled 1 times in this send; " \
           "rate 50/s, slowed to" in text
    with db.session() as session:  # without a pacer: the counts alone, as before
        assert reports.report(session, issue_id).groups == []


def test_a_throttled_copy_sent_since_still_counts_as_throttled(app, db, smtp, env):
    issue_id = throttled_send(db, smtp, env)
    smtp.refuse.clear()  # the provider takes it now
    with db.session() as session:
        session.execute(update(Delivery).where(Delivery.issue_id == issue_id).values(next_attempt_at=utcnow()))
        session.commit()
    engine.run(db, load_settings(env), issue_id, budget_seconds=5)
    with db.session() as session:
        assert session.scalar(select(func.count()).where(Delivery.issue_id == issue_id,
                                                         Delivery.status != "sent")) == 0
        # the report still lists the group once the send is over
        other = reports.paces(session, load_settings(env), issue_id, pacing.pacer(load_settings(env)))[0]
    assert (other.group, other.waiting, other.throttled, other.throttles) == ("other", 0, 0, 1)


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
    assert "gmail: waiting 1 (deferred 0, held by a throttle 0); throttled 0 times in this send; " \
           "rate unlimited; warm-up 7 of" in format_report(
        reports.report(session, issue_id, settings=settings, pacer=pacing.pacer(settings)))
