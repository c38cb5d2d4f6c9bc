"""The shared send rate limit: one token bucket in Redis for every worker."""
from __future__ import annotations

import pytest

from newsletter.config import load_settings
from newsletter.delivery import rate


@pytest.fixture(autouse=True)
def empty_buckets(env):
    """No tokens left over from another test."""
    yield
    if env["CELERY_BROKER_URL"].startswith("redis"):
        import redis

        client = redis.Redis.from_url(env["CELERY_BROKER_URL"])
        keys = list(client.scan_iter(f"{env['REDIS_KEY_PREFIX']}*send-rate"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis_only
def test_workers_share_one_bucket(env):
    settings = load_settings({**env, "SEND_RATE_LIMIT": "10"})
    first, second = rate.limiter(settings), rate.limiter(settings)
    try:
        assert isinstance(first, rate.SendRateLimiter) and first.burst == 2
        assert first.ask(2) == 0  # the whole burst, at once
        wait = second.ask(2)  # another worker finds the bucket empty
        assert 0 < wait <= 2 / 10
        assert first.ask(2) > 0
    finally:
        first.close()
        second.close()


@pytest.mark.redis_only
def test_a_deployment_has_its_own_bucket(env):
    ours = rate.limiter(load_settings({**env, "SEND_RATE_LIMIT": "10"}))
    theirs = rate.limiter(load_settings({**env, "SEND_RATE_LIMIT": "10", "REDIS_KEY_PREFIX": env["REDIS_KEY_PREFIX"] + "-b"}))
    try:
        assert ours.ask(2) == 0 and theirs.ask(2) == 0
    finally:
        ours.close()
        theirs.close()


def test_no_limit_without_a_rate_or_without_redis(env):
    assert isinstance(rate.limiter(load_settings(env)), rate.NoLimit)
    embedded = load_settings({**env, "SEND_RATE_LIMIT": "10", "CELERY_BROKER_URL": "sqla+sqlite:///broker.sqlite"})
    assert isinstance(rate.limiter(embedded), rate.NoLimit)
