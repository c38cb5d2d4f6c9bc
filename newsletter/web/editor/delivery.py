"""Editors watch and steer a send: live counts, rate, each receiving-domain group's
pace (what waits, what its provider throttled, its rate now), last errors, the relays
(state, share of this issue; re-enable a disabled one); pause, resume, cancel.

The page polls a small JSON endpoint for the counts, so it stays cheap however
many subscribers there are. The buttons are CSRF-protected POSTs that call the
service, commit, and only then (for resume) hand the issue back to the workers.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for

from workers.delivery import dispatch_issue

from ...delivery import control, pacing
from ...delivery import report as reports
from ...delivery.control import DeliveryError
from ...mail.transport import relay_state
from ..context import get_session, settings
from ..jobs import after_commit
from .auth import current_editor, editor_required

bp = Blueprint("delivery", __name__, url_prefix="/editor/issues")


@bp.context_processor
def _context():
    return {"editor": current_editor()}


@bp.app_template_global("delivery_report")
def delivery_report(issue_id: int) -> reports.Report | None:
    """For the issue page (any blueprint) to show the live panel inline, with each
    receiving-domain group's pace as the workers share it."""
    pacer = pacing.pacer(settings())
    try:
        return reports.report(get_session(), issue_id, settings=settings(), pacer=pacer)
    finally:
        pacer.close()


@bp.app_template_global("delivery_relays")
def delivery_relays(issue_id: int) -> list[dict]:
    """Each relay's state and share of this issue, for the panel and its JSON."""
    views = []
    for view in relay_state.overview(settings(), tally=f"issue-{issue_id}"):
        row = view.as_dict()
        row["since"] = datetime.fromtimestamp(view.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if view.since else ""
        views.append(row)
    return views


def _report(issue_id: int) -> reports.Report:
    return delivery_report(issue_id) or abort(404)


@bp.get("/<int:issue_id>/delivery")
@editor_required
def status(issue_id: int):
    return render_template("web/delivery/status.html", report=_report(issue_id))


@bp.get("/<int:issue_id>/delivery.json")
@editor_required
def status_json(issue_id: int):
    response = jsonify({**_report(issue_id).as_dict(), "relays": delivery_relays(issue_id)})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:issue_id>/delivery/<any(pause, resume, cancel):action>")
@editor_required
def steer(issue_id: int, action: str):
    session = get_session()
    _report(issue_id)
    try:
        if action == "pause":
            changed = control.pause(session, issue_id, f"paused by {current_editor().email}")
        elif action == "resume":
            changed = control.resume(session, issue_id)
            if changed:
                after_commit(dispatch_issue, issue_id)  # the workers see `sending` once committed
        else:
            changed = control.cancel(session, issue_id) >= 0
    except DeliveryError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("delivery.status", issue_id=issue_id))
    session.commit()
    if not changed:
        flash(f"Nothing to {action}: the send is not in a state that allows it.", "error")
    else:
        flash({"pause": "Paused: no new batches start; messages in flight finish.",
               "resume": "Resumed: sending continues.",
               "cancel": "Cancelled: nothing more is sent."}[action], "ok")
    return redirect(url_for("delivery.status", issue_id=issue_id))


@bp.post("/<int:issue_id>/delivery/relays/<int:index>/enable")
@editor_required
def enable_relay(issue_id: int, index: int):
    """After its credentials were fixed at the relay's end (new ones in the settings
    re-enable it by themselves)."""
    _report(issue_id)
    relay = relay_state.enable(settings(), index) or abort(404)
    flash(f"Relay {relay.name} re-enabled: new connections may use it again.", "ok")
    return redirect(url_for("delivery.status", issue_id=issue_id))
