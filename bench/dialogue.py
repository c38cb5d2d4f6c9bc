"""How much the SMTP dialogue itself costs: two round trips a message against one, into
the same quiet `smtp-sink` that `bench/send.py` uses, with no engine and no template.

    python bench/dialogue.py [--messages 50000] [--connections 2] [--rounds 2]

"two" is the engine's dialogue today (MAIL, RCPT and DATA in one write, their replies,
then the body and its reply). "one" writes each body together with the next message's
MAIL, RCPT and DATA (RFC 2920 pipelining across messages), so a message waits for
one round trip instead of two. This bounds what that change could give the engine
before anyone builds it: the catch is that a pipelined DATA answered 354 commits the
connection to sending that message (see the README). The rounds alternate the two
kinds; the sink's own count must match. The last line is

    RESULT two_rtt_msgs_per_s=… one_rtt_msgs_per_s=… gain=… rounds=… delivered=…
"""
from __future__ import annotations

import argparse
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send import start_sink, stop_sink  # noqa: E402
from send_raw import _read_reply as _reply  # noqa: E402

# A 47 KB body, the size of the demo issue's HTML part.
BODY = b"Subject: dialogue bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * 600


def _envelope(n: int) -> bytes:
    return f"MAIL FROM:<bounce@bench.example.com>\r\nRCPT TO:<reader{n}@bench.example.com>\r\nDATA\r\n".encode()


def _expect(reader, codes: tuple[int, ...]) -> None:
    got = tuple(_reply(reader) for _ in codes)
    if got != codes:
        raise RuntimeError(f"the sink answered {got}, not {codes}")


def _share(port: int, first: int, count: int, kind: str) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    reader = sock.makefile("rb")
    _reply(reader)
    sock.sendall(b"EHLO dialogue.bench.example.com\r\n")
    _reply(reader)
    if kind == "two":
        for n in range(first, first + count):
            sock.sendall(_envelope(n))
            _expect(reader, (250, 250, 354))
            sock.sendall(BODY + b".\r\n")
            _expect(reader, (250,))
    else:
        sock.sendall(_envelope(first))
        for n in range(first, first + count):
            _expect(reader, (250, 250, 354))
            sock.sendall(BODY + b".\r\n" + (_envelope(n + 1) if n + 1 < first + count else b""))
            _expect(reader, (250,))
    sock.sendall(b"QUIT\r\n")
    _reply(reader)
    sock.close()


def one_run(kind: str, messages: int, connections: int, work: Path) -> tuple[float, int]:
    """(messages/s, the sink's count) for one kind of dialogue."""
    log = work / f"sink-{kind}-{time.monotonic_ns()}.log"
    sink, port = start_sink(log)
    each = messages // connections
    procs = [multiprocessing.Process(target=_share, args=(port, i * each, each, kind)) for i in range(connections)]
    started = time.monotonic()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    seconds = time.monotonic() - started
    counted = stop_sink(sink, log)
    if any(proc.exitcode for proc in procs):
        raise SystemExit(f"a '{kind}' client failed")
    return each * connections / seconds, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"two": [], "one": []}
    delivered = 0
    with tempfile.TemporaryDirectory(prefix="bench-dialogue-") as folder:
        for r in range(args.rounds):
            for kind in (("two", "one") if r % 2 == 0 else ("one", "two")):
                rate, counted = one_run(kind, args.messages, args.connections, Path(folder))
                expected = args.messages // args.connections * args.connections
                if counted != expected:
                    raise SystemExit(f"the sink counted {counted} messages of {expected}")
                delivered += counted
                rates[kind].append(rate)
                print(f"round {r + 1}: {kind} round trip(s) a message: {rate:.0f} messages/s", flush=True)
    two, one = (sum(rates[k]) / len(rates[k]) for k in ("two", "one"))
    print(f"RESULT two_rtt_msgs_per_s={two:.0f} one_rtt_msgs_per_s={one:.0f} gain={one / two:.2f} "
          f"rounds={args.rounds} delivered={delivered}")


if __name__ == "__main__":
    main()
