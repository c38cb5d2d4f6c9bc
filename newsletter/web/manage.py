"""The subscriber's own page, from the "Manage your subscription" link in every mail.

The link carries a personal token that never expires (like unsubscribe); holding
it is the authority, as the mail reached only its owner. From here a subscriber
changes their name and categories, downloads everything held about them (JSON), unsubscribes,
or erases themselves: a POST from a page that says what erasing does. Every form
carries a CSRF token.
"""
from __future__ import annotations

import json

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, url_for

from ..audience import exporting, subscriptions
from ..audience.addresses import InvalidSubscription
from ..audience.models import Subscriber, SubscriberImport, SubscriberStatus
from ..delivery import recipient
from ..readers import welcome
from ..readers.categories import CategoryError
from .context import get_session, settings
from .public import chosen_categories

bp = Blueprint("manage", __name__, url_prefix="/manage/<int:subscriber_id>/<token>")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _subscriber(subscriber_id: int, token: str) -> Subscriber:
    return subscriptions.find_for_manage(get_session(), subscriber_id, token) or abort(404)


def _here(subscriber_id: int, token: str):
    return redirect(url_for("manage.page", subscriber_id=subscriber_id, token=token))


@bp.get("")
def page(subscriber_id: int, token: str):
    subscriber = _subscriber(subscriber_id, token)
    can_unsubscribe = subscriber.status in (*SubscriberStatus.RECEIVING, SubscriberStatus.PENDING)
    return render_template("web/manage.html", subscriber=subscriber, token=token, can_unsubscribe=can_unsubscribe,
                           error="")


def _refused(subscriber, token: str, exc: Exception):
    """Nothing of a refused change is kept; the page says why, in the reader's own form."""
    get_session().rollback()
    return render_template("web/manage.html", subscriber=subscriber, token=token, error=str(exc),
                           can_unsubscribe=False), 400


@bp.post("")
def rename(subscriber_id: int, token: str):
    session = get_session()
    subscriber = _subscriber(subscriber_id, token)
    try:
        subscriptions.rename(session, subscriber, request.form.get("name", ""))
    except InvalidSubscription as exc:
        return _refused(subscriber, token, exc)
    session.commit()
    flash("Your name is saved.", "ok")
    return _here(subscriber_id, token)


@bp.post("/categories")
def choose_categories(subscriber_id: int, token: str):
    session = get_session()
    subscriber = _subscriber(subscriber_id, token)
    try:
        subscriber.categories = chosen_categories(session)
    except CategoryError as exc:
        return _refused(subscriber, token, exc)
    session.commit()
    flash("Your categories are saved.", "ok")
    return _here(subscriber_id, token)


@bp.post("/unsubscribe")
def unsubscribe(subscriber_id: int, token: str):
    session = get_session()
    subscriptions.unsubscribe(session, _subscriber(subscriber_id, token))
    session.commit()
    flash("You are unsubscribed: no more issues will come.", "ok")
    return _here(subscriber_id, token)


@bp.get("/data.json")
def download(subscriber_id: int, token: str):
    """Everything held about them: the audience's record, the import that brought
    them, their copy of each issue, and their welcome mail."""
    session = get_session()
    subscriber = _subscriber(subscriber_id, token)
    source = session.get(SubscriberImport, subscriber.import_id) if subscriber.import_id else None
    data = {
        "subscriber": exporting.personal_record(subscriber),
        "import": {"id": source.id, "filename": source.filename, "at": source.created_at.isoformat(),
                   "stated_consent": source.consent_source} if source else None,
        "issues_received": [{"issue": r.number, "subject": r.subject, "status": r.status, "attempts": r.attempts,
                             "sent_at": r.sent_at.isoformat() if r.sent_at else None, "server_reply": r.reply}
                            for r in recipient.history(session, subscriber.id)],
        "welcome": welcome.record_of(session, subscriber.id),
    }
    return Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-subscription-data.json"', "Cache-Control": "no-store"})


@bp.get("/erase")
def confirm_erase(subscriber_id: int, token: str):
    return render_template("web/manage_erase.html", subscriber=_subscriber(subscriber_id, token), token=token)


@bp.post("/erase")
def erase(subscriber_id: int, token: str):
    session = get_session()
    subscriber = _subscriber(subscriber_id, token)
    if request.form.get("confirmed") != "erase":
        return _here(subscriber_id, token)
    recipient.erase_person(session, settings().secret_key, subscriber.id, "subscriber")
    session.commit()
    return render_template("web/manage_erased.html")
