"""The SMTP transport against a server of our own: PIPELINING on and off, every
reply at every stage turned into the verdict the engine acts on."""
from __future__ import annotations

import socket
import time

import pytest
from support.smtp_server import ScriptedSmtpServer

from newsletter.config import load_settings
from newsletter.mail.compose import Composer, Recipient
from newsletter.mail.rendering import RenderedMail
from newsletter.mail.transport import Envelope, TransportError, Verdict, send_one
from newsletter.mail.transport.smtp import SmtpTransport

SENDER = "newsletter@verdicts.test"


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def server(request):
    server = ScriptedSmtpServer(pipelining=request.param).start()
    yield server
    server.stop()


def transport_for(env, port: int) -> SmtpTransport:
    return SmtpTransport(load_settings({**env, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}))


def copy_for(transport: SmtpTransport, settings, email: str) -> bytes:
    mail = RenderedMail("Subject", "<p>Hi</p>\n.a line that starts with a dot\n", "Hi\n.dot\n..two dots\n")
    template = transport.prepare(Composer(settings).compose(mail))
    return template.fill(Recipient(email, "m.1", "http://newsletter.test/u/1/t"))


def test_pipelining_batches_the_envelope_and_the_body_arrives_intact(env, settings, server):
    transport = transport_for(env, server.port)
    connection = transport.connect()
    try:
        payload = copy_for(transport, settings, "reader@example.com")
        outcome = connection.send(SENDER, "reader@example.com", payload)
    finally:
        connection.close()
    assert outcome.verdict == Verdict.ACCEPTED and outcome.reply.startswith("250")
    [received] = server.messages
    assert received.envelope_from == SENDER and received.recipients == ["reader@example.com"]
    assert received.data.replace(b"\r\n..", b"\r\n.") == payload.replace(b"\r\n..", b"\r\n.")
    assert b"\r\n..a line that starts with a dot" in received.data  # stuffed on the wire
    together = [c for c in server.chunks if b"MAIL FROM" in c and b"RCPT TO" in c and b"DATA\r\n" in c]
    assert bool(together) == server.pipelining


@pytest.mark.parametrize("stage, reply, verdict", [
    ("mail", "550 5.7.1 sender not allowed", Verdict.STOP),
    ("mail", "451 4.3.0 try later", Verdict.RETRY),
    ("rcpt", "550 5.1.1 no such user", Verdict.BOUNCE),
    ("rcpt", "452 4.2.2 mailbox full", Verdict.RETRY),
    ("data", "554 5.7.1 message refused as spam", Verdict.REJECT),
    ("data", "451 4.7.1 greylisted", Verdict.THROTTLED),
    ("rcpt", "450 4.7.28 rate limited", Verdict.THROTTLED),
])
def test_each_reply_becomes_its_verdict_and_the_connection_goes_on(env, settings, server, stage, reply, verdict):
    server.replies[(stage, SENDER if stage == "mail" else "refused@example.com")] = reply
    transport = transport_for(env, server.port)
    connection = transport.connect()
    try:
        outcome = connection.send(SENDER, "refused@example.com", copy_for(transport, settings, "refused@example.com"))
        assert outcome.verdict == verdict and outcome.reply == reply
        if stage != "mail":  # the same connection still delivers the next one
            after = connection.send(SENDER, "next@example.com", copy_for(transport, settings, "next@example.com"))
            assert after.verdict == Verdict.ACCEPTED
    finally:
        connection.close()
    assert [m.recipients for m in server.messages] == ([] if stage == "mail" else [["next@example.com"]])


def test_a_421_ends_the_connection_as_throttled(env, settings, server):
    server.replies[("rcpt", "a@example.com")] = "421 4.7.0 too many connections, closing"
    transport = transport_for(env, server.port)
    connection = transport.connect()
    with pytest.raises(TransportError) as raised:
        connection.send(SENDER, "a@example.com", copy_for(transport, settings, "a@example.com"))
    connection.close()
    assert raised.value.outcome.verdict == Verdict.THROTTLED and "421" in raised.value.outcome.reply


def test_an_address_needing_smtputf8_is_not_offered_to_a_relay_without_it(env, settings):
    server = ScriptedSmtpServer(smtputf8=False).start()
    try:
        transport = transport_for(env, server.port)
        outcome = send_one(transport, SENDER, Composer(settings).compose(RenderedMail("S", "<p>x</p>", "x")),
                           Recipient("jörg@example.com", "m.2", "http://newsletter.test/u"))
    finally:
        server.stop()
    assert outcome.verdict == Verdict.BOUNCE and "SMTPUTF8" in outcome.reply and server.messages == []


def test_nobody_listening_is_retry_and_a_refusing_greeting_is_stop(env, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(TransportError) as raised:
        transport_for(env, closed_port).connect()
    assert raised.value.outcome.verdict == Verdict.RETRY
    server = ScriptedSmtpServer(greeting="554 5.7.1 you are not welcome here").start()
    try:
        with pytest.raises(TransportError) as raised:
            transport_for(env, server.port).connect()
    finally:
        server.stop()
    assert raised.value.outcome.verdict == Verdict.STOP and "554" in raised.value.outcome.reply


def test_an_announced_copy_goes_out_behind_the_previous_body(env, settings, server):
    """RFC 2920: the next envelope rides with the body before it, so each copy waits for
    one round trip; a relay without PIPELINING gets the same copies one step at a time."""
    transport = transport_for(env, server.port)
    connection = transport.connect()
    try:
        first = connection.send(SENDER, "a@example.com", copy_for(transport, settings, "a@example.com"),
                                announce=Envelope(SENDER, "b@example.com"))
        second = connection.send(SENDER, "b@example.com", copy_for(transport, settings, "b@example.com"))
    finally:
        connection.close()
    assert first.verdict == second.verdict == Verdict.ACCEPTED
    assert [m.recipients for m in server.messages] == [["a@example.com"], ["b@example.com"]]
    assert b"To: a@example.com" in server.messages[0].data and b"To: b@example.com" in server.messages[1].data
    behind = [c for c in server.chunks if b"\r\n.\r\nMAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<b@" in c]
    assert bool(behind) == server.pipelining


def test_an_announced_copy_never_sent_is_not_delivered(env, settings, server):
    """Closing instead of sending the announced copy leaves the relay without its body's
    final dot, so it delivers nothing; no QUIT is written where a body is awaited."""
    transport = transport_for(env, server.port)
    connection = transport.connect()
    outcome = connection.send(SENDER, "a@example.com", copy_for(transport, settings, "a@example.com"),
                              announce=Envelope(SENDER, "b@example.com"))
    assert connection.alive() == (not server.pipelining)  # a NOOP would be read as the announced body
    connection.close()
    assert outcome.verdict == Verdict.ACCEPTED
    time.sleep(0.3)  # let the server's session see the connection end
    assert [m.recipients for m in server.messages] == [["a@example.com"]]
    if server.pipelining:
        assert not any(b"QUIT" in c for c in server.chunks)


def test_an_announced_recipient_refused_gets_its_verdict_and_the_connection_goes_on(env, settings, server):
    server.replies[("rcpt", "b@example.com")] = "550 5.1.1 no such user"
    transport = transport_for(env, server.port)
    connection = transport.connect()
    try:
        outcomes = [connection.send(SENDER, f"{name}@example.com", copy_for(transport, settings, f"{name}@example.com"),
                                    announce=Envelope(SENDER, f"{after}@example.com") if after else None)
                    for name, after in (("a", "b"), ("b", "c"), ("c", ""))]
    finally:
        connection.close()
    assert [o.verdict for o in outcomes] == [Verdict.ACCEPTED, Verdict.BOUNCE, Verdict.ACCEPTED]
    assert [m.recipients for m in server.messages] == [["a@example.com"], ["c@example.com"]]


def test_only_the_announced_copy_may_follow(env, settings):
    server = ScriptedSmtpServer().start()
    transport = transport_for(env, server.port)
    connection = transport.connect()
    try:
        connection.send(SENDER, "a@example.com", copy_for(transport, settings, "a@example.com"),
                        announce=Envelope(SENDER, "b@example.com"))
        with pytest.raises(RuntimeError):
            connection.send(SENDER, "c@example.com", copy_for(transport, settings, "c@example.com"))
    finally:
        connection.close()
        server.stop()
    assert [m.recipients for m in server.messages] == [["a@example.com"]]
