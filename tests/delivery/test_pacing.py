"""Per-domain pacing: the groups, the AIMD rule, and the shared pacer (Redis, and the
in-process fallback) that every worker's engine asks before it claims a group's rows."""
from __future__ import annotations

import secrets
import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from support.delivery import make_sending_issue

from newsletter.config import ConfigError, load_settings
from newsletter.db import utcnow
from newsletter.delivery import aimd, groups, ledger, pacing
from newsletter.delivery.lanes import Lanes
from newsletter.models import Delivery, Subscriber, SubscriberStatus

ADDRESSES = {
    "a@gmail.com": "gmail", "b@googlemail.com": "gmail", "c@GMail.com": "gmail",
    "d@outlook.com": "microsoft", "e@hotmail.co.uk": "microsoft", "f@live.fr": "microsoft", "g@hotmail.com": "microsoft",
    "h@yahoo.co.jp": "yahoo", "i@yahoo.com": "yahoo", "j@aol.com": "yahoo",
    "k@example.com": "other", "l@gmail.com.example.org": "other", "m@notgmail.com": "other",
    "n@hotmailer.com": "other", "o@mail.live.com": "other", "p@100%_gmail.com": "other",
}


def test_default_families_group_addresses(settings):
    assert {a: groups.group_of(settings, a) for a in ADDRESSES} == ADDRESSES
    assert groups.names(settings) == ["gmail", "microsoft", "yahoo", "other"]


def test_no_groups_is_one_group(env):
    settings = load_settings({**env, "PACING_GROUPS": ""})
    assert groups.names(settings) == ["other"] and groups.group_of(settings, "a@gmail.com") == "other"


@pytest.mark.parametrize("name, value, words", [
    ("PACING_GROUPS", "other=example.com", "'other' is everything"),
    ("PACING_GROUPS", "a=gmail.com; b=gmail.com", "in both"),
    ("PACING_GROUPS", "a=gmail.com; a=aol.com", "twice"),
    ("PACING_GROUPS", "a=%.com", "is not a domain"),
    ("PACING_GROUPS", "gmail.com", "must look like"),
    ("PACING_LIMITS", "nope=1/1", "no group 'nope'"),
    ("PACING_LIMITS", "gmail=5", "rate/connections"),
    ("PACING_LIMITS", "gmail=-1/2", "gmail rate"),
    ("PACING_DECREASE", "1", "below 1"),
    ("PACING_WARMUP_START", "22/11/2026", "YYYY-MM-DD"),
])
def test_bad_pacing_settings_are_named(env, name, value, words):
    with pytest.raises(ConfigError) as raised:
        load_settings({**env, name: value})
    assert name in str(raised.value) and words in str(raised.value)


def test_the_snapshot_groups_rows_as_python_does(env, app, db, session):
    """The INSERT … SELECT's SQL CASE and `group_of` are one rule."""
    settings = load_settings(env)
    now = utcnow()
    for i, address in enumerate(ADDRESSES):
        session.add(Subscriber(email=address, email_key=address.lower(), status=SubscriberStatus.CONFIRMED,
                               confirmed_at=now, unsubscribe_token=f"u{i}", manage_token=f"m{i}"))
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id, settings=settings)
    rows = session.execute(select(Subscriber.email, Delivery.pacing_group)
                           .join(Delivery, Delivery.subscriber_id == Subscriber.id)).all()
    assert dict(rows) == ADDRESSES
    claim = ledger.claim(session, settings, issue_id, group="microsoft")
    assert sorted(r.email for r in claim.rows) == sorted(a for a, g in ADDRESSES.items() if g == "microsoft")
    other = ledger.claim(session, settings, issue_id, group="other", limit=2)
    assert len(other.rows) == 2 and {groups.group_of(settings, r.email) for r in other.rows} == {"other"}


def test_the_aimd_rule():
    assert aimd.decreased(None, 40.0, 0.0, 0.5, 1.0) == 20.0  # from the configured rate
    assert aimd.decreased(20.0, 40.0, 0.0, 0.5, 1.0) == 10.0  # from where it is
    assert aimd.decreased(None, 0.0, 300.0, 0.5, 1.0) == 150.0  # no rate: from what it was seen sending at
    assert aimd.decreased(1.5, 40.0, 0.0, 0.5, 1.0) == 1.0  # never below the floor
    assert aimd.ceiling_for(None, None, 40.0, 300.0) == 40.0 and aimd.ceiling_for(None, None, 0.0, 300.0) == 300.0
    # +step per second of steady success: `rate` successes at `rate` per second
    assert aimd.increased(10.0, 10, 1.0, 40.0) == pytest.approx(11.0)
    assert aimd.increased(39.5, 40, 1.0, 40.0) is None  # back at the ceiling: paced by the configured rate


def test_warm_up_doubles_daily_then_ends():
    start = "2026-11-01"
    assert aimd.daily_cap(500, start, 14, date(2026, 11, 1)) == 500
    assert aimd.daily_cap(500, start, 14, date(2026, 11, 4)) == 4000
    assert aimd.daily_cap(500, start, 14, date(2026, 11, 15)) == 0  # day 15: no cap
    assert aimd.daily_cap(0, start, 14, date(2026, 11, 4)) == 0 and aimd.daily_cap(500, "", 14, date.today()) == 0


def test_lanes_take_turns_and_skip_empty_and_held_groups():
    lanes = Lanes(["a", "b", "c"])
    first = [lanes.next(0.0) for _ in range(6)]
    assert sorted(first[:3]) == ["a", "b", "c"] and first[3:] == first[:3]
    lanes.done("a")
    lanes.hold("b", 60)
    assert {lanes.next() for _ in range(4)} == {"c"}
    lanes.done("c")
    assert lanes.next() is None and 59 < lanes.wait() <= 60
    lanes.done("b")
    assert lanes.wait() is None


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis_only)])
def make_pacer(request, env):
    """Pacers over one fresh shared state (two of them are two workers)."""
    prefix = f"{env['REDIS_KEY_PREFIX']}-pace-{secrets.token_hex(3)}"
    made = []

    def make(clock=pacing.utc_now, **overrides):
        settings = load_settings({**env, "REDIS_KEY_PREFIX": prefix, **overrides})
        kind = pacing.RedisPacer if request.param == "redis" else pacing.LocalPacer
        made.append(kind(settings, clock))
        return made[-1]

    yield make
    if request.param == "redis":
        keys = list(made[0]._client.scan_iter(f"{prefix}:*"))
        if keys:
            made[0]._client.delete(*keys)
    for pacer in made:
        pacer.close()


def test_a_rate_grants_a_seconds_worth_then_a_wait(make_pacer):
    pacer = make_pacer(PACING_LIMITS="gmail=10/0")
    assert pacer.take("gmail", 100) == (10, 0.0)
    granted, wait = pacer.take("gmail", 100)
    assert granted == 0 and 0 < wait <= 0.1
    assert pacer.take("yahoo", 500) == (500, 0.0)  # another group keeps its own pace (none)


def test_a_throttle_halves_the_group_once_per_burst_and_success_climbs_back(make_pacer):
    first = make_pacer(PACING_LIMITS="gmail=40/0", PACING_INCREASE="2")
    second = make_pacer(PACING_LIMITS="gmail=40/0", PACING_INCREASE="2")
    assert first.current_rate("gmail") is None
    assert first.throttled("gmail", 0.0) == 20.0
    assert second.throttled("gmail", 0.0) == 20.0  # the same burst seen by another worker: one cut
    if isinstance(first, pacing.RedisPacer):
        assert second.current_rate("gmail") == 20.0  # shared by every worker
    assert first.take("gmail", 10)[0] == 0  # the bucket was emptied: a rest first
    assert first.current_rate("yahoo") is None  # other groups keep their pace
    first.take("gmail", 1, successes=20)  # a second's worth at 20/s: +2/s
    assert first.current_rate("gmail") == pytest.approx(22.0)
    first.take("gmail", 1, successes=1000)
    assert first.current_rate("gmail") is None  # back at its configured 40/s


def test_a_group_without_a_rate_is_cut_from_what_it_was_seen_sending(make_pacer):
    pacer = make_pacer()
    assert pacer.take("other", 500) == (500, 0.0)
    assert pacer.throttled("other", 300.0) == 150.0
    assert pacer.take("other", 500)[0] == 0
    pacer.take("other", 1, successes=100_000)
    assert pacer.current_rate("other") is None and pacer.take("other", 500) == (500, 0.0)


def test_connections_are_slots_shared_by_workers(make_pacer):
    workers = [make_pacer(PACING_LIMITS="yahoo=0/2") for _ in range(3)]
    assert [w.hold("yahoo") for w in workers] == [True, True, False]
    assert workers[0].hold("yahoo")  # renewing one's own slot
    workers[1].let_go("yahoo")
    assert workers[2].hold("yahoo") and not workers[1].hold("yahoo")
    assert workers[1].hold("gmail")  # no connection limit there


def test_warm_up_caps_the_day(make_pacer):
    pacer = make_pacer(PACING_LIMITS="gmail=0/0/5", PACING_WARMUP_START=date.today().isoformat())
    assert pacer.take("gmail", 3) == (3, 0.0)
    assert pacer.take("gmail", 10, refund=1) == (3, 0.0)  # one of the first grant was never used
    granted, wait = pacer.take("gmail", 10)
    assert granted == 0 and 0 < wait <= 86400
    assert pacer.take("other", 10) == (10, 0.0)


def test_warm_up_crosses_midnight_utc(make_pacer):
    """Day two's cap is day one's doubled, counted from nought; a grant of day one that
    was never used and is given back after midnight buys nothing on day two."""
    clock = [datetime(2026, 11, 1, 23, 59, 58, tzinfo=UTC)]
    pacer = make_pacer(clock=lambda: clock[0], PACING_LIMITS="gmail=0/0/5", PACING_WARMUP_START="2026-11-01",
                       PACING_WARMUP_DAYS="3")
    assert pacer.take("gmail", 4) == (4, 0.0)
    granted, wait = pacer.take("gmail", 10)
    assert granted == 1
    granted, wait = pacer.take("gmail", 10)
    assert granted == 0 and wait == pytest.approx(2.0)  # until midnight UTC, not a day
    clock[0] += timedelta(seconds=2, microseconds=1)  # 00:00:00 on day two
    assert pacer.cap("gmail")[0] == 10
    assert pacer.take("gmail", 100, refund=3) == (10, 0.0)  # three of day one's grant went unused
    granted, wait = pacer.take("gmail", 100)
    assert granted == 0 and wait == pytest.approx(86400.0, abs=1)
    assert pacer.take("gmail", 1, refund=2) == (1, 0.0)  # today's own unused grant comes back
    clock[0] += timedelta(days=1)  # day three: 20
    assert pacer.take("gmail", 100) == (20, 0.0)
    clock[0] += timedelta(days=1)  # the warm-up is over
    assert pacer.cap("gmail")[0] == 0 and pacer.take("gmail", 100) == (100, 0.0)


def test_a_redis_that_hangs_is_out_of_reach_not_a_stall(env, monkeypatch):
    """A server that accepts and never answers: the page's state() gives up, as with a
    refused connection, instead of waiting forever."""
    monkeypatch.setattr(pacing, "REDIS_TIMEOUT_SECONDS", 0.3)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        pacer = pacing.RedisPacer(load_settings({**env, "CELERY_BROKER_URL": url}))
        try:
            assert pacer.state("gmail") is None
        finally:
            pacer.close()
