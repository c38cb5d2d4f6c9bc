"""An SMTP sink in a process of its own, for the relay failover test: it accepts
everything, appends each accepted recipient to a log file, and with
`--freeze-after N` hangs its whole event loop at the first MAIL after N accepted
messages, writing its pid to `--marker`, so that the test kills it there.

Why freeze before the kill: a relay killed at a random instant may have stored a
message whose 250 never left it; no client can tell that copy was taken, so it
goes out again elsewhere. Frozen, every message it logged has had its 250
written (logging and replying happen with no await between them), and every
other one is refused by its death: the test can demand exactly one copy each.

    python tests/support/sink_process.py --port 2526 --log sink.log [--freeze-after 100 --marker frozen]
"""
from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from newsletter.dev.catcher import offer_pipelining


class Sink:
    def __init__(self, log: Path, freeze_after: int, marker: Path | None):
        self.log, self.freeze_after, self.marker = log, freeze_after, marker
        self.accepted = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        return offer_pipelining(session, hostname, responses)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.freeze_after and self.accepted >= self.freeze_after:
            self.marker.write_text(str(os.getpid()))
            time.sleep(3600)  # blocks the loop: every connection of this relay hangs until the kill
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.log.open("a") as handle:
            handle.write("".join(f"{rcpt}\n" for rcpt in envelope.rcpt_tos))
        self.accepted += 1
        return "250 2.0.0 accepted"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--freeze-after", type=int, default=0)
    parser.add_argument("--marker", type=Path)
    args = parser.parse_args()
    controller = Controller(Sink(args.log, args.freeze_after, args.marker), hostname="127.0.0.1", port=args.port)
    controller.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
