"""BOUNCE_IMAP_URL: read bounces from a hosted mailbox instead of receiving them.

For deployments that cannot take SMTP on port 25: the bounce domain's mail lands
in a hosted mailbox, and this polls it over IMAP with TLS (imaps:// only; the
password never crosses in clear). Unseen messages are read without marking them
(BODY.PEEK), stored in the feedback inbox with the VERP addresses found in
their envelope headers, committed, and only then flagged \\Seen: a crash in
between reads the mail again, and the same mail makes the same event key when a
worker applies it, so it counts once. Mail with no verified address of ours is
kept as unparsed, never acted on.
"""
from __future__ import annotations

import imaplib
import logging
import ssl
import threading
from urllib.parse import unquote, urlsplit

from ..config import Settings
from ..db import Database
from ..mail.verp import Verp
from . import inbound, inbox
from .models import Disposition, FeedbackSource

log = logging.getLogger(__name__)

POLL_SECONDS = 60
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
BATCH = 200


def _connect(settings: Settings) -> tuple[imaplib.IMAP4_SSL, str]:
    url = urlsplit(settings.bounce_imap_url)
    client = imaplib.IMAP4_SSL(url.hostname, url.port or 993, ssl_context=ssl.create_default_context(),
                               timeout=60)
    client.login(unquote(url.username or ""), unquote(url.password or ""))
    return client, unquote(url.path.lstrip("/")) or "INBOX"


def poll_once(db: Database, settings: Settings) -> int:
    """Process up to BATCH unseen messages; return how many were processed."""
    verp = Verp(settings.secret_key, settings.bounce_domain)
    client, mailbox = _connect(settings)
    done = 0
    try:
        client.select(f'"{mailbox}"')
        _, data = client.uid("SEARCH", None, "UNSEEN")
        for uid in (data[0] or b"").split()[:BATCH]:
            _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), b"")
            with db.session() as session:
                addresses = inbound.addresses_in_headers(verp, raw) if len(raw) <= MAX_MESSAGE_BYTES else []
                if addresses:
                    inbox.put_mails(session, [inbox.Mail(FeedbackSource.IMAP, raw, [a for a, _ in addresses])])
                else:
                    note = "too large" if len(raw) > MAX_MESSAGE_BYTES else "sent to no bounce address of ours"
                    inbound.keep(session, FeedbackSource.IMAP, Disposition.UNPARSED, raw[:inbound.KEEP_BYTES],
                                 "", note)
                session.commit()
            if client.uid("STORE", uid, "+FLAGS", "(\\Seen)")[0] != "OK":  # read again next time; counted once
                log.warning("could not flag message %s as seen in %s", uid.decode(), mailbox)
            done += 1
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return done


def start_polling(db: Database, settings: Settings) -> threading.Thread:
    """Poll every POLL_SECONDS in a daemon thread beside the SMTP receiver."""

    def loop() -> None:
        stop = threading.Event()
        while not stop.is_set():
            try:
                while poll_once(db, settings) == BATCH:
                    pass
            except Exception:  # noqa: BLE001 - a mailbox outage must not end the receiver
                log.exception("polling %s failed; trying again in %ss", urlsplit(settings.bounce_imap_url).hostname,
                              POLL_SECONDS)
            stop.wait(POLL_SECONDS)

    thread = threading.Thread(target=loop, name="bounces-imap", daemon=True)
    thread.start()
    return thread
