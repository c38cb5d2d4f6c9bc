"""Preview, test send, and scheduling of an issue (views on the editor blueprint)."""
from __future__ import annotations

from datetime import date, time

from flask import Response, flash, redirect, render_template, request, url_for
from markupsafe import escape

from workers.issues import send_test, start_due_issues

from ...audience import recipients
from ...db import utcnow
from ...issues import scheduling, slots
from ...issues.content import preheader_of
from ...issues.preview import as_seen_by, build_preview
from ...issues.slots import SchedulingError
from ...issues.testsend import BadTestAddresses, parse_test_addresses
from ..context import get_session, settings
from ..jobs import after_commit
from .auth import current_editor, editor_required
from .common import bp, get_issue

# The email is shown as a mail program would: no scripts, no same-origin access;
# a click on a link may open a new window.
SANDBOX = "allow-popups allow-popups-to-escape-sandbox"


@bp.get("/issues/<int:issue_id>/preview")
@editor_required
def preview(issue_id: int):
    issue = get_issue(issue_id)
    result = build_preview(issue, settings())
    seen = as_seen_by(result.mail, settings(), current_editor().email, issue) if result.mail else None
    return render_template("web/editor/preview.html", issue=issue, preview=result, seen=seen,
                           preheader=preheader_of(issue), sandbox=SANDBOX)


@bp.get("/issues/<int:issue_id>/preview/email.html")
@editor_required
def preview_html(issue_id: int):
    """The iframe's document: the real rendering, as the logged-in editor would get it."""
    issue = get_issue(issue_id)
    result = build_preview(issue, settings())
    if result.mail is None:
        body = f"<p style='font-family:sans-serif'>The email cannot be rendered: {escape(result.error)}</p>"
    else:
        body = as_seen_by(result.mail, settings(), current_editor().email, issue).html
    response = Response('<base target="_blank">' + body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = f"sandbox {SANDBOX}; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/issues/<int:issue_id>/test")
@editor_required
def test_send(issue_id: int):
    """Checked here, sent by a worker on the `mail` queue: no request waits on a relay."""
    issue = get_issue(issue_id)
    try:
        addresses = parse_test_addresses(request.form.get("addresses", ""))
    except BadTestAddresses as exc:
        flash(f"No test sent: {str(exc).rstrip('.')}.", "error")
        return redirect(url_for("editor.preview", issue_id=issue_id))
    rendering = build_preview(issue, settings())
    if rendering.mail is None:
        flash(f"No test sent: the email cannot be rendered: {rendering.error}", "error")
        return redirect(url_for("editor.preview", issue_id=issue_id))
    after_commit(send_test, issue_id, addresses)
    get_session().commit()
    flash(f"Test on its way to {', '.join(addresses)}.", "ok")
    return redirect(url_for("editor.preview", issue_id=issue_id))


def _requested_time(tz_name: str):
    if request.form.get("when") == "now":
        return utcnow()
    try:
        day = date.fromisoformat(request.form.get("date", ""))
        at = time.fromisoformat(request.form.get("time", ""))
    except ValueError:
        raise SchedulingError("give a date and a time, or choose send now") from None
    return slots.local_to_utc(day, at, tz_name)


@bp.post("/issues/<int:issue_id>/schedule")
@editor_required
def schedule(issue_id: int):
    session = get_session()
    issue = get_issue(issue_id)
    target = redirect(url_for("editor.issue_page", issue_id=issue_id))
    send_now = request.form.get("when") == "now"
    if send_now and not request.form.get("confirmed"):
        # Sending cannot be taken back: say to how many, and ask once more.
        return render_template("web/editor/send_now.html", issue=issue, override=request.form.get("override"),
                               audience=recipients.receiving_count(session),
                               failing=build_preview(issue, settings()).failing)
    try:
        when = _requested_time(slots.get_schedule(session).timezone)
        scheduling.schedule(session, issue, when, settings(), override=bool(request.form.get("override")))
    except SchedulingError as exc:
        session.rollback()
        flash(f"Not scheduled: {exc}", "error")
        return target
    if send_now:
        after_commit(start_due_issues)  # a hint: the per-minute due-scan starts it anyway
    session.commit()
    flash("Sending starts within a minute." if send_now else "Scheduled.", "ok")
    return target


@bp.post("/issues/<int:issue_id>/cancel")
@editor_required
def cancel(issue_id: int):
    session = get_session()
    issue = get_issue(issue_id)
    try:
        scheduling.cancel(session, issue)
    except SchedulingError as exc:
        session.rollback()
        flash(f"Not cancelled: {exc}", "error")
    else:
        session.commit()
        flash("Schedule cancelled; the issue is a draft again.", "ok")
    return redirect(url_for("editor.issue_page", issue_id=issue_id))
