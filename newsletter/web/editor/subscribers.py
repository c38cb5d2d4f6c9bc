"""The audience in the editor area: the list, one subscriber, their actions, export.

The list pages by keyset (`?before=<id>`), so every page costs the same however
far in. Each action (unsubscribe, resend the confirmation, erase) is a page that
says what it will do and a CSRF-protected POST from that page; the POST also
needs the page's `confirmed` field, so a stray form elsewhere cannot trigger it.
"""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for

from workers.audience import send_confirmation

from ...audience import exporting, listing, subscriptions
from ...audience.models import Subscriber, SubscriberImport, SubscriberStatus
from ...db import utcnow
from ...delivery import recipient
from ..context import get_db, get_session, settings
from ..jobs import after_commit
from .auth import editor_required
from .common import bp

ACTIONS = {
    "unsubscribe": ("Unsubscribe", "They get no more issues. They can subscribe again themselves."),
    "resend": ("Resend the confirmation mail", "A new confirmation link goes out; the old one stops working."),
    "erase": ("Erase", "The subscriber and everything personal about them is deleted for good: address, name, "
                       "IP addresses, user agents. Their delivery rows stay, anonymised, so issue counts stay right. "
                       "A later import of the same address is refused."),
}


def _subscriber(subscriber_id: int) -> Subscriber:
    return get_session().get(Subscriber, subscriber_id) or abort(404)


@bp.get("/subscribers")
@editor_required
def subscribers():
    session = get_session()
    query = request.args.get("q", "")
    status = request.args.get("status") or None
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
        result = listing.page(session, query=query, status=status, before=before)
    except (listing.BadListQuery, ValueError) as exc:
        flash(f"Cannot list that: {exc}", "error")
        return redirect(url_for("editor.subscribers"))
    return render_template("web/editor/subscribers.html", page=result, query=query, status=status,
                           counts=listing.counts(session), statuses=[s.value for s in SubscriberStatus])


@bp.get("/subscribers/export.csv")
@editor_required
def export_subscribers():
    status = request.args.get("status") or None
    try:
        exporting.check_status(status)
    except ValueError as exc:
        abort(400, str(exc))
    db = get_db()

    def generate():
        # Its own session: the rows keep flowing after the view has returned.
        with db.session() as session:
            yield from exporting.export_lines(session, status)

    name = f"subscribers-{status or 'all'}-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.get("/subscribers/<int:subscriber_id>")
@editor_required
def subscriber_page(subscriber_id: int):
    session = get_session()
    subscriber = _subscriber(subscriber_id)
    source = session.get(SubscriberImport, subscriber.import_id) if subscriber.import_id else None
    return render_template("web/editor/subscriber.html", subscriber=subscriber, source=source,
                           received=recipient.history(session, subscriber.id), actions=_actions_for(subscriber))


def _actions_for(subscriber: Subscriber) -> list[str]:
    actions = []
    if subscriber.status in SubscriberStatus.RECEIVING or subscriber.status == SubscriberStatus.PENDING:
        actions.append("unsubscribe")
    if subscriber.status == SubscriberStatus.PENDING:
        actions.append("resend")
    return actions + ["erase"]


@bp.get("/subscribers/<int:subscriber_id>/<any(unsubscribe, resend, erase):action>")
@editor_required
def confirm_action(subscriber_id: int, action: str):
    subscriber = _subscriber(subscriber_id)
    if action not in _actions_for(subscriber):
        flash(f"{ACTIONS[action][0]}: not possible for a subscriber who is {subscriber.status}.", "error")
        return redirect(url_for("editor.subscriber_page", subscriber_id=subscriber_id))
    title, explanation = ACTIONS[action]
    return render_template("web/editor/subscriber_action.html", subscriber=subscriber, action=action, title=title,
                           explanation=explanation)


@bp.post("/subscribers/<int:subscriber_id>/<any(unsubscribe, resend, erase):action>")
@editor_required
def run_action(subscriber_id: int, action: str):
    session = get_session()
    subscriber = _subscriber(subscriber_id)
    back = redirect(url_for("editor.subscriber_page", subscriber_id=subscriber_id))
    if request.form.get("confirmed") != action:
        flash("Nothing done: confirm the action on its page.", "error")
        return redirect(url_for("editor.confirm_action", subscriber_id=subscriber_id, action=action))
    if action not in _actions_for(subscriber):
        flash(f"{ACTIONS[action][0]}: not possible for a subscriber who is {subscriber.status}.", "error")
        return back
    if action == "unsubscribe":
        subscriptions.unsubscribe(session, subscriber)
        message = "Unsubscribed: they get no more issues."
    elif action == "resend":
        subscriptions.resend_confirmation(session, subscriber)
        after_commit(send_confirmation, subscriber.id)
        message = "A new confirmation mail is on its way."
    else:
        recipient.erase_person(session, settings().secret_key, subscriber.id, "editor")
        session.commit()
        flash(f"Subscriber #{subscriber_id} is erased. Nothing personal about them is left.", "ok")
        return redirect(url_for("editor.subscribers"))
    session.commit()
    flash(message, "ok")
    return back

