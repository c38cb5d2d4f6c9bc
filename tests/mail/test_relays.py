"""The relay pool against real SMTP servers of our own: draws by weight, a relay
that refuses or drops us cooling down while the mail goes on through another, an
AUTH failure disabling one relay, what the engine sees when none is usable, and
the shares. The state lives in Redis (or in the process on the embedded broker)."""
from __future__ import annotations

import logging
import random
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import free_port
from support.smtp_server import ScriptedSmtpServer

from newsletter.config import load_settings
from newsletter.mail.transport import Envelope, TransportError, Verdict, transport_for
from newsletter.mail.transport.relay_state import enable as enable_relay
from newsletter.mail.transport.relay_state import overview, relay_key, store_for
from newsletter.mail.transport.relays import RelayPool

SENDER = "newsletter@verdicts.test"
PASSWORD = "s3cret-Pa55,word"  # a comma, percent-encoded in the URL


@pytest.fixture
def servers():
    started = []

    def start(**kwargs) -> ScriptedSmtpServer:
        server = ScriptedSmtpServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class _DenyAll:
    def __init__(self):
        self.attempts = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.attempts += 1
        return AuthResult(success=False, handled=False)


@pytest.fixture
def auth_relay():
    """An aiosmtpd relay that refuses every login (535)."""
    deny = _DenyAll()
    controller = Controller(object(), hostname="127.0.0.1", port=free_port(), authenticator=deny,
                            auth_require_tls=False)
    controller.start()
    controller.deny = deny
    yield controller
    controller.stop()


def pool_settings(env, relays: str, **more):
    return load_settings({**env, "SMTP_RELAYS": relays, **more})


def url(port: int, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"smtp://127.0.0.1:{port}" + (f"?{query}" if query else "")


def states(settings) -> dict[str, str]:
    return {view.name: view.state for view in overview(settings)}


def send(connection, to: str = "reader@example.com"):
    return connection.send(SENDER, to, b"Subject: hi\r\n\r\nhello\r\n")


def test_connections_follow_the_weights_and_backups_wait(env, servers):
    a, b, backup = servers(), servers(), servers()
    settings = pool_settings(env, ",".join([url(a.port, weight=3, name="a"), url(b.port, weight=1, name="b"),
                                            url(backup.port, weight=0, name="backup")]))
    pool = RelayPool(settings, rng=random.Random(7))
    chosen = Counter()
    for _ in range(400):
        connection = pool.connect()
        chosen[connection.relay.name] += 1
        connection.connection.close()
    assert chosen["backup"] == 0
    assert 260 <= chosen["a"] <= 340 and chosen["a"] + chosen["b"] == 400, chosen


def test_a_refusing_relay_cools_down_and_the_mail_goes_through_another(env, servers):
    live = servers()
    dead_port = free_port()  # nothing listens: connection refused
    settings = pool_settings(env, f"{url(dead_port, weight=1000, name='dead')},{url(live.port, name='live')}",
                             SMTP_RELAY_COOLDOWN_SECONDS="60")
    now = [1_000_000.0]
    pool = RelayPool(settings, rng=random.Random(1), clock=lambda: now[0])
    connection = pool.connect()
    assert connection.relay.name == "live" and send(connection).verdict == Verdict.ACCEPTED
    connection.close()
    started = now[0]
    [view] = [v for v in overview(settings, now=now[0]) if v.name == "dead"]
    assert view.state == "cooling" and view.since == started + 60 and "Connection" in view.reason
    now[0] += 10  # still cooling: not tried (trying would move its cool-down to +70), however heavy its weight
    assert pool.open()[0].relay.name == "live"
    assert overview(settings, now=now[0])[0].since == started + 60
    now[0] += 51  # cooled down: tried first again, refused again
    assert overview(settings, now=now[0])[0].state == "ready"
    assert pool.open()[0].relay.name == "live"
    assert overview(settings, now=now[0])[0].since == now[0] + 60


def test_a_relay_dying_mid_send_hands_the_message_to_the_next(env, servers, settings):
    first, second = servers(), servers()
    relays = pool_settings(env, f"{url(first.port, name='first')},{url(second.port, weight=0, name='second')}")
    connection = transport_for(relays, tally="t-mid-send").connect()
    assert connection.relay.name == "first"
    assert send(connection, "one@example.com").verdict == Verdict.ACCEPTED
    first.kill()
    outcome = send(connection, "two@example.com")
    assert outcome.verdict == Verdict.ACCEPTED and connection.relay.name == "second"
    connection.close()
    assert [m.recipients for m in first.messages] == [["one@example.com"]]
    assert [m.recipients for m in second.messages] == [["two@example.com"]]
    views = {v.name: v for v in overview(relays, tally="t-mid-send")}
    assert views["first"].state == "cooling" and views["second"].state == "ready"
    assert (views["first"].share, views["second"].share) == (1, 1) and views["first"].share_percent == 50.0


def test_a_copy_announced_on_a_relay_that_died_goes_whole_through_the_next(env, servers):
    """The next envelope was written behind a body on the relay that then died: the
    copy is sent afresh (envelope and body) on the next relay, and goes on announcing."""
    first, second = servers(), servers()
    relays = pool_settings(env, f"{url(first.port, name='first')},{url(second.port, weight=0, name='second')}")
    connection = transport_for(relays, tally="t-announced").connect()

    def copy(to: str, then: str = ""):
        payload = f"Subject: hi\r\nTo: {to}\r\n\r\nhello\r\n".encode()
        return connection.send(SENDER, to, payload, Envelope(SENDER, then) if then else None)

    assert copy("one@example.com", then="two@example.com").verdict == Verdict.ACCEPTED
    first.kill()
    assert copy("two@example.com", then="three@example.com").verdict == Verdict.ACCEPTED
    assert copy("three@example.com").verdict == Verdict.ACCEPTED
    connection.close()
    assert connection.relay.name == "second"
    assert [m.recipients for m in first.messages] == [["one@example.com"]]
    assert [m.recipients for m in second.messages] == [["two@example.com"], ["three@example.com"]]


def test_every_relay_down_is_a_retry_for_the_engine(env):
    settings = pool_settings(env, f"{url(free_port(), name='a')},{url(free_port(), name='b')}")
    with pytest.raises(TransportError) as caught:
        transport_for(settings).connect()
    assert caught.value.outcome.verdict == Verdict.RETRY
    assert "a: " in caught.value.outcome.reply and "b: " in caught.value.outcome.reply
    assert set(states(settings).values()) == {"cooling"}
    with pytest.raises(TransportError):  # still down: both tried again as the last resort
        transport_for(settings).connect()


def test_auth_failure_disables_that_relay_only_and_tells_why(env, servers, auth_relay, caplog):
    live = servers()
    bad = f"smtp://newsletter:{PASSWORD.replace(',', '%2C')}@127.0.0.1:{auth_relay.port}?weight=1000&name=bad"
    settings = pool_settings(env, f"{bad},{url(live.port, name='live')}")
    caplog.set_level(logging.INFO)
    tried = []
    for _ in range(3):
        connection = transport_for(settings).connect()
        assert connection.relay.name == "live" and send(connection).verdict == Verdict.ACCEPTED
        connection.close()
        tried.append(auth_relay.deny.attempts)
    assert tried[0] > 0 and tried[0] == tried[-1], "a disabled relay is left alone while another works"
    [view] = [v for v in overview(settings) if v.name == "bad"]
    assert view.state == "disabled" and "535" in view.reason
    assert "relay bad disabled" in caplog.text
    assert PASSWORD not in caplog.text and PASSWORD not in repr(settings) and PASSWORD not in str(view.as_dict())
    assert enable_relay(settings, 0).name == "bad" and states(settings)["bad"] == "ready"


def test_auth_failure_on_the_only_relay_is_a_stop_and_it_is_tried_again(env, auth_relay):
    settings = pool_settings(env, f"smtp://newsletter:wrong@127.0.0.1:{auth_relay.port}")
    tried = []
    for _ in (1, 2):  # once disabled, it is still tried: nothing else is left (a resumed issue)
        with pytest.raises(TransportError) as caught:
            transport_for(settings).connect()
        assert caught.value.outcome.verdict == Verdict.STOP and "535" in caught.value.outcome.reply
        tried.append(auth_relay.deny.attempts)
    assert 0 < tried[0] < tried[1]
    assert states(settings) == {f"127.0.0.1:{auth_relay.port}": "disabled"}


def test_a_disabled_relay_that_works_again_is_re_enabled(env, servers):
    server = servers()
    settings = pool_settings(env, url(server.port, name="back"))
    store = store_for(settings)
    store.disable(relay_key(settings, settings.relays[0]), 1.0, "535 bad credentials")
    connection = transport_for(settings).connect()
    assert send(connection).verdict == Verdict.ACCEPTED
    connection.close()
    assert states(settings) == {"back": "ready"}


def test_changed_credentials_start_the_relay_afresh(env, auth_relay):
    old = pool_settings(env, f"smtp://newsletter:wrong@127.0.0.1:{auth_relay.port}")
    with pytest.raises(TransportError):
        transport_for(old).connect()
    new = pool_settings(env, f"smtp://newsletter:fixed@127.0.0.1:{auth_relay.port}")
    assert relay_key(new, new.relays[0]) != relay_key(old, old.relays[0])
    assert states(new) == {f"127.0.0.1:{auth_relay.port}": "ready"}


def test_the_single_smtp_relay_is_a_pool_of_one_with_its_own_words(env):
    settings = load_settings({**env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port())})
    assert [r.name for r in settings.relays] == [f"127.0.0.1:{settings.smtp_port}"]
    with pytest.raises(TransportError) as caught:
        transport_for(settings).connect()
    assert caught.value.outcome.reply.startswith(f"127.0.0.1:{settings.smtp_port}: ConnectionRefusedError")
