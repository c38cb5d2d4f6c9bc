"""POST /hooks/<provider>: bounces and complaints from the relay's provider.

The handler is the same for every provider: 404 while the provider's setting is
empty (an unconfigured hook is not there at all); the provider's module verifies
the signature on the raw body before it parses it (401/403), then parses (400);
then the verified events go into the feedback inbox in one INSERT outside a
transaction (its own commit), and the request answers. A worker applies them
through the policy, which records each once per provider event id, so a provider
that retries (or replays) changes nothing twice. Machine clients: JSON answers, no
cookies, no CSRF token (the signature is the authority).
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, jsonify, request

from ..db import utcnow
from ..feedback import inbox
from ..feedback.hooks import HookMalformed, HookRefused, mailgun, postmark, sendgrid, ses
from ..feedback.parsers import clean
from .security import csrf

log = logging.getLogger(__name__)

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
PROVIDERS = {
    "ses": (ses, lambda s: bool(s.ses_sns_topic_arns)),
    "mailgun": (mailgun, lambda s: bool(s.mailgun_webhook_signing_key)),
    "postmark": (postmark, lambda s: bool(s.postmark_webhook_user)),
    "sendgrid": (sendgrid, lambda s: bool(s.sendgrid_webhook_public_key)),
}


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)


def _answer(status: int, **body):
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="hooks"'
    return response


@bp.post("/<provider>")
def receive(provider: str):
    module, enabled = PROVIDERS.get(provider, (None, None))
    settings = current_app.extensions["settings"]
    if module is None or not enabled(settings):
        abort(404)
    body = request.get_data(cache=False)
    try:
        received = module.receive(settings, request.headers, body, utcnow())
    except HookRefused as exc:
        log.warning("refused a %s webhook from %s: %s", provider, request.remote_addr, exc)
        return _answer(exc.status, error=str(exc))
    except HookMalformed as exc:
        return _answer(400, error=clean(str(exc), 300))
    if received.subscribe_url:
        try:
            ses.confirm_subscription(received.subscribe_url)
        except OSError as exc:
            log.warning("could not confirm the SNS subscription: %s", exc)
            return _answer(502, error="could not confirm the subscription; SNS will send it again")
        log.info("confirmed an SNS subscription")
        return _answer(200, confirmed=True)
    # One INSERT, atomic by itself: outside a transaction it needs no BEGIN and no COMMIT
    # round trip, so the provider's answer waits for one statement, still durable.
    with current_app.extensions["db"].autocommit() as connection:
        inbox.put_events(connection, received.events)
    return _answer(200, accepted=len(received.events), ignored=received.ignored)
