"""Several relays under faults: a relay killed mid-send while real workers send
through it, and a relay whose login fails while another one works.

The killed relay is a sink in a process of its own (`support/sink_process.py`)
that freezes after 100 messages; the test then SIGKILLs it, so its open
connections are reset mid-send and new ones are refused. The workers must carry
the issue on through the other relay, and every reader gets exactly one copy.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import BROKER, free_port
from support.delivery import (
    FAST_RETRIES,
    address,
    drive,
    issue_status,
    sending_issue_to,
    status_counts,
)

from newsletter.delivery import engine, ledger
from newsletter.mail.transport.relay_state import overview
from workers.delivery import dispatch_issue

pytestmark = pytest.mark.worker

COUNT = 300
FREEZE_AFTER = 100


class SinkProcess:
    def __init__(self, folder: Path, name: str, freeze_after: int = 0):
        self.port = free_port()
        self.log, self.marker = folder / f"{name}.log", folder / f"{name}.frozen"
        self.log.touch()
        command = [sys.executable, str(Path(__file__).parent.parent / "support" / "sink_process.py"),
                   "--port", str(self.port), "--log", str(self.log)]
        if freeze_after:
            command += ["--freeze-after", str(freeze_after), "--marker", str(self.marker)]
        self.proc = subprocess.Popen(command)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"sink {name} did not start")

    def recipients(self) -> list[str]:
        return self.log.read_text().split()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def sinks(tmp_path):
    """Start sinks by name; each is killed at the end if the test left it running."""
    with ExitStack() as stack:
        yield lambda name, freeze_after=0: stack.enter_context(SinkProcess(tmp_path, name, freeze_after))


def test_a_relay_killed_mid_send_fails_over_and_everyone_gets_one_copy(app, db, session, env, sinks,
                                                                        worker_process, tmp_path):
    first, backup = sinks("first", freeze_after=FREEZE_AFTER), sinks("backup")
    relays = {**env, **FAST_RETRIES, "SEND_BATCH_SIZE": "25", "SEND_PARALLEL_BATCHES": "4",
              "SEND_LEASE_SECONDS": "4", "SMTP_RELAY_COOLDOWN_SECONDS": "300",
              "SMTP_RELAYS": f"smtp://127.0.0.1:{first.port}?name=first,"
                             f"smtp://127.0.0.1:{backup.port}?weight=0&name=backup"}
    issue_id = sending_issue_to(session, COUNT)
    worker_process("--concurrency", "2", env=relays)
    worker_process("--concurrency", "2", env=relays)
    dispatch_issue.delay(issue_id)
    deadline = time.monotonic() + 60
    while not first.marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.marker.exists(), f"the first relay never took {FREEZE_AFTER} messages"
    os.kill(first.proc.pid, signal.SIGKILL)  # mid-send: its connections hang on a MAIL reply
    first.proc.wait()
    assert backup.recipients() == [], "the backup is idle while the weighted relay works"

    assert drive(db, issue_id, timeout=90) == "sent"
    got = Counter(first.recipients() + backup.recipients())
    assert set(got) == {address(i) for i in range(COUNT)}
    assert set(got.values()) == {1}, f"sent twice: {[a for a, n in got.items() if n > 1]}"
    took = len(first.recipients())  # a connection past its MAIL when the relay froze still finished its message
    assert FREEZE_AFTER <= took <= FREEZE_AFTER + 4 and len(backup.recipients()) == COUNT - took
    assert status_counts(db, issue_id) == {"sent": COUNT}
    logs = "".join(log.read_text() for log in tmp_path.glob("worker-*.log"))
    assert "moved to relay backup" in logs, "the copy in hand when the relay died went on through the backup"
    if BROKER != "sqla":  # shared state: the workers' view reaches this process through Redis
        from newsletter.config import load_settings

        deadline, views = time.monotonic() + 15, {}
        while time.monotonic() < deadline:  # a worker writes its counts when its run closes the connection
            views = {v.name: v for v in overview(load_settings(relays), tally=f"issue-{issue_id}")}
            if sum(v.share for v in views.values()) == COUNT:
                break
            time.sleep(0.2)
        assert views["first"].state == "cooling" and views["backup"].state == "ready"
        assert (views["first"].share, views["backup"].share) == (took, COUNT - took)


def _deny(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


def test_a_failed_login_disables_one_relay_and_the_issue_goes_on(app, db, session, env, sinks):
    from newsletter.config import load_settings

    working = sinks("working")
    refusing = Controller(object(), hostname="127.0.0.1", port=free_port(), authenticator=_deny,
                          auth_require_tls=False)
    refusing.start()
    try:
        settings = load_settings({**env, "SMTP_RELAYS": (
            # The working relay is a backup, so the refusing one is always tried first (not 1000 to 1).
            f"smtp://newsletter:wrong-password@127.0.0.1:{refusing.port}?name=refusing,"
            f"smtp://127.0.0.1:{working.port}?weight=0&name=working")})
        issue_id = sending_issue_to(session, 30)
        ledger.start(session, issue_id)
        session.commit()
        result = engine.run(db, settings, issue_id)
    finally:
        refusing.stop()
    assert result.stopped == "" and result.sent == 30
    assert issue_status(db, issue_id) == "sending"  # not paused: it finishes at the next sweep
    assert sorted(working.recipients()) == [address(i) for i in range(30)]
    views = {v.name: v for v in overview(settings, tally=f"issue-{issue_id}")}
    assert views["refusing"].state == "disabled" and "535" in views["refusing"].reason
    assert "wrong-password" not in views["refusing"].reason
    assert (views["refusing"].share, views["working"].share) == (0, 30)
