"""Editors read the sender's health: bounce and complaint rates over 30 days against the
thresholds, the latest events with the remote server's own words, and the mail
no parser could read (shown as text, escaped, never rendered)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from ...feedback import stats
from ...feedback.models import Disposition, InboundMessage
from ..context import get_session
from .auth import current_editor, editor_required

bp = Blueprint("feedback", __name__, url_prefix="/editor/feedback")


@bp.context_processor
def _context():
    return {"editor": current_editor()}


@bp.app_template_global("issue_feedback")
def issue_feedback(issue_id: int) -> stats.IssueFeedback:
    """For the delivery panel (any blueprint): the issue's bounces and complaints."""
    return stats.for_issue(get_session(), issue_id)


@bp.get("/")
@editor_required
def health():
    settings = current_app.extensions["settings"]
    return render_template("web/feedback/health.html", health=stats.sender_health(get_session(), settings),
                           limits={"ses": stats.COMPLAINT_LIMIT_SES, "gmail": stats.COMPLAINT_LIMIT_GMAIL},
                           days=stats.HEALTH_DAYS)


@bp.get("/messages/<int:message_id>")
@editor_required
def message(message_id: int):
    kept = get_session().get(InboundMessage, message_id)
    if kept is None or kept.disposition != Disposition.UNPARSED:
        abort(404)
    return render_template("web/feedback/message.html", message=kept,
                           text=kept.raw.decode("utf-8", "replace"))
