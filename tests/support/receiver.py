"""`newsletter bounces` as a real process, and a client that hands it mail over SMTP."""
from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

from newsletter.config import PROJECT_ROOT

from . import processes


@contextmanager
def bounce_receiver(env: dict, log_path, *args: str):
    """Start `newsletter bounces [args]` on env's BOUNCE_LISTEN; yield (host, port); stop it."""
    host, _, port = env["BOUNCE_LISTEN"].rpartition(":")
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "newsletter.cli", "bounces", *args], env={**os.environ, **env},
                            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"`newsletter bounces` did not start:\n{open(log_path).read()}")
                time.sleep(0.1)
        yield host, int(port)
    finally:
        processes.stop(proc)
        log.close()


def deliver(where: tuple[str, int], to: str, raw: bytes, sender: str = "") -> tuple[int, str]:
    """Hand `raw` to the receiver as a bounce (MAIL FROM:<>); the final reply, or the
    refusal at RCPT/MAIL/DATA, as (code, text)."""
    with smtplib.SMTP(*where, timeout=30) as client:
        try:
            client.sendmail(sender, [to], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[to]
            return code, text.decode()
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return exc.smtp_code, exc.smtp_error.decode()
    return 250, "OK"
