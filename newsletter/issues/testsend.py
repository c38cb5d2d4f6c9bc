"""Test sends: the real rendering, marked [TEST], to up to five typed addresses.

The editor's request only checks the addresses; the mail goes out from a worker on
the `mail` queue (`workers.issues.send_test`), so no web request waits on a relay.
A test send reads no subscriber and writes no delivery row.
"""
from __future__ import annotations

import logging

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from ..config import Settings
from ..mail import verp
from ..mail.compose import Composer, Recipient, new_message_id
from ..mail.rendering import RenderedMail
from ..mail.transport import Outcome, send_one, transport_for
from .content import load_issue
from .preview import as_seen_by, inactive_link
from .rendering import current_mail

log = logging.getLogger(__name__)
MAX_TEST_RECIPIENTS = 5


class BadTestAddresses(ValueError):
    """The addresses typed for a test send are not usable; the message says why."""


def parse_test_addresses(raw: str) -> list[str]:
    parts = [p.strip() for p in raw.replace(";", ",").replace("\n", ",").split(",") if p.strip()]
    if not parts:
        raise BadTestAddresses("type at least one address")
    if len(parts) > MAX_TEST_RECIPIENTS:
        raise BadTestAddresses(f"at most {MAX_TEST_RECIPIENTS} addresses per test send")
    addresses = []
    for part in parts:
        try:
            addresses.append(validate_email(part, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise BadTestAddresses(f"{part!r} is not a valid address: {exc}") from None
    return list(dict.fromkeys(addresses))


def send_test(session: Session, settings: Settings, issue_id: int, addresses: list[str]) -> dict[str, Outcome]:
    """Send the issue as readers would get it to each address; the outcome for each."""
    issue = load_issue(session, issue_id)
    if issue is None:
        return {}
    mail = current_mail(issue, settings)
    composer, transport = Composer(settings), transport_for(settings)
    outcomes = {}
    for address in addresses:
        personal = as_seen_by(mail, settings, address, issue)
        template = composer.compose(RenderedMail(f"[TEST] {mail.subject}", personal.html, personal.text),
                                    list_unsubscribe=False)
        message_id = new_message_id("test")
        recipient = Recipient(address, message_id, inactive_link(settings, "unsubscribe"))
        envelope_from = composer.envelope_from(verp.TEST, message_id.rpartition(".")[2])
        outcomes[address] = outcome = send_one(transport, envelope_from, template, recipient)
        if not outcome.accepted:
            log.warning("test send of issue %s to %s: %s", issue_id, address, outcome.reply)
    return outcomes
