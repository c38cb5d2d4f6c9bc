"""Editors watch and steer a send: live counts, rate, last errors; pause, resume, cancel.

The page polls a small JSON endpoint for the counts, so it stays cheap however
many subscribers there are. The buttons are CSRF-protected POSTs that call the
service, commit, and only then (for resume) hand the issue back to the workers.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for

from workers.delivery import dispatch_issue

from ...delivery import control
from ...delivery import report as reports
from ...delivery.control import DeliveryError
from ..context import get_session
from ..jobs import after_commit
from .auth import current_editor, editor_required

bp = Blueprint("delivery", __name__, url_prefix="/editor/issues")


@bp.context_processor
def _context():
    return {"editor": current_editor()}


@bp.app_template_global("delivery_report")
def delivery_report(issue_id: int) -> reports.Report | None:
    """For the issue page (any blueprint) to show the live panel inline."""
    return reports.report(get_session(), issue_id)


def _report(issue_id: int) -> reports.Report:
    return delivery_report(issue_id) or abort(404)


@bp.get("/<int:issue_id>/delivery")
@editor_required
def status(issue_id: int):
    return render_template("web/delivery/status.html", report=_report(issue_id))


@bp.get("/<int:issue_id>/delivery.json")
@editor_required
def status_json(issue_id: int):
    response = jsonify(_report(issue_id).as_dict())
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
