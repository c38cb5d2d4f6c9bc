"""The yardstick `bench/send.py` holds the engine against: a raw pipelined SMTP client.

It sends the same render-once template the engine sends (the composer's prepared
template, each copy spliced with `MessageTemplate.fill` and the same personal parts),
over one connection per process and as many processes as the engine has workers,
with no database, no leases, no pacing, in the dialogue the engine's SMTP transport
has: MAIL, RCPT and DATA in one write, and each body written together with the next
copy's MAIL, RCPT and DATA (RFC 2920), so a message waits for one round trip. What
is left between the two rates is the engine's own cost.
"""
from __future__ import annotations

import multiprocessing
import socket
import time


def _read_reply(reader) -> int:
    while True:
        line = reader.readline()
        if not line:
            raise ConnectionError("the sink closed the connection")
        if line[3:4] != b"-":
            return int(line[:3])


def _send_share(host: str, port: int, template, composer, base_url: str, issue_id: int,
                first: int, count: int, started, ready) -> int:
    from newsletter.audience.tokens import manage_url, unsubscribe_url
    from newsletter.mail import verp
    from newsletter.mail.compose import Recipient

    sock = socket.create_connection((host, port))
    reader = sock.makefile("rb")
    _read_reply(reader)
    sock.sendall(b"EHLO raw.bench.example.com\r\n")
    _read_reply(reader)

    def copy(n: int) -> tuple[bytes, bytes]:
        """(MAIL, RCPT and DATA; the body) of copy n, as the engine makes them."""
        email = f"reader{n:07d}@bench.example.com"
        token = f"raw-token-{n:07d}-unsubscribe"
        payload = template.fill(Recipient(email, f"issue-{issue_id}.sub-{n + 1}",
                                          unsubscribe_url(base_url, n + 1, token),
                                          manage_url=manage_url(base_url, n + 1, token)))
        sender = composer.envelope_from(verp.ISSUE, n + 1)
        return f"MAIL FROM:<{sender}>\r\nRCPT TO:<{email}>\r\nDATA\r\n".encode(), payload

    ready.wait()
    started.wait()
    accepted, last = 0, first + count - 1
    envelope, payload = copy(first)
    sock.sendall(envelope)
    for n in range(first, first + count):
        following = copy(n + 1) if n < last else (b"", b"")
        codes = (_read_reply(reader), _read_reply(reader), _read_reply(reader))
        if codes != (250, 250, 354):
            raise RuntimeError(f"the sink answered {codes}")
        sock.sendall(payload + b".\r\n" + following[0])  # the body, and the next envelope behind it
        accepted += _read_reply(reader) == 250
        payload = following[1]
    sock.sendall(b"QUIT\r\n")
    _read_reply(reader)
    sock.close()
    return accepted


def _worker(args, results) -> None:
    import resource

    accepted = _send_share(*args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((accepted, usage.ru_utime + usage.ru_stime))


def send(settings, mail, issue_id: int, host: str, port: int, messages: int,
         processes: int) -> tuple[int, float, float]:
    """Send `messages` copies of `mail` (a RenderedMail) over `processes` connections;
    return (accepted, seconds from the moment every connection was open, CPU seconds
    of the processes, start-up included)."""
    from newsletter.mail.compose import Composer
    from newsletter.mail.transport import transport_for

    composer = Composer(settings)
    template = transport_for(settings).prepare(composer.compose(mail))
    ctx = multiprocessing.get_context("spawn")  # the caller may have threads (a Celery app): no fork
    ready, started, results = ctx.Barrier(processes + 1), ctx.Event(), ctx.Queue()
    shares = [messages // processes + (n < messages % processes) for n in range(processes)]
    procs, first = [], 0
    for share in shares:
        args = (host, port, template, composer, settings.base_url, issue_id, first, share, started, ready)
        procs.append(ctx.Process(target=_worker, args=(args, results)))
        first += share
    for proc in procs:
        proc.start()
    ready.wait()  # every connection open and greeted
    t0 = time.monotonic()
    started.set()
    done = [results.get() for _ in procs]
    accepted, cpu = sum(a for a, _ in done), sum(c for _, c in done)
    seconds = time.monotonic() - t0
    for proc in procs:
        proc.join()
    return accepted, seconds, cpu
