"""Preview, test send, and scheduling of an issue (views on the editor blueprint)."""
from __future__ import annotations

import logging
from datetime import date, time

from flask import Response, flash, redirect, render_template, request, url_for

from markupsafe import escape

from .. import digest, mailer, scheduling
from ..db import get_session, utcnow
from ..previews import BadTestAddresses, as_seen_by, build_preview, parse_test_addresses, send_test
from ..rendering import RenderError
from ..scheduling import SchedulingError
from .auth import current_editor, editor_required
from .editor import bp, get_issue, settings

log = logging.getLogger(__name__)
# The email is shown as a mail program would: no scripts, no same-origin access;
# a click on a link may open a new window.
SANDBOX = "allow-popups allow-popups-to-escape-sandbox"


@bp.get("/issues/<int:issue_id>/preview")
@editor_required
def preview(issue_id: int):
    issue = get_issue(issue_id)
    return render_template("web/editor/preview.html", issue=issue, preview=build_preview(issue, settings()),
                           preheader=digest.preheader_of(issue), sandbox=SANDBOX)


@bp.get("/issues/<int:issue_id>/preview/email.html")
@editor_required
def preview_html(issue_id: int):
    """The iframe's document: the real rendering, as the logged-in editor would get it."""
    issue = get_issue(issue_id)
    result = build_preview(issue, settings())
    if result.mail is None:
        body = f"<p style='font-family:sans-serif'>The email cannot be rendered: {escape(result.error)}</p>"
    else:
        body = as_seen_by(result.mail, settings(), current_editor().email).html
    response = Response('<base target="_blank">' + body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = f"sandbox {SANDBOX}; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/issues/<int:issue_id>/test")
@editor_required
def test_send(issue_id: int):
    issue = get_issue(issue_id)
    try:
        addresses = parse_test_addresses(request.form.get("addresses", ""))
        send_test(issue, settings(), addresses)
    except BadTestAddresses as exc:
        flash(f"No test sent: {exc}.", "error")
    except RenderError as exc:
        flash(f"No test sent: the email cannot be rendered: {exc}", "error")
    except mailer.MailError as exc:
        flash(f"No test sent: the mail server said: {exc}", "error")
    else:
        flash(f"Test sent to {', '.join(addresses)}.", "ok")
    return redirect(url_for("editor.preview", issue_id=issue_id))


def _requested_time(tz_name: str):
    if request.form.get("when") == "now":
        return utcnow()
    try:
        day = date.fromisoformat(request.form.get("date", ""))
        at = time.fromisoformat(request.form.get("time", ""))
    except ValueError:
        raise SchedulingError("give a date and a time, or choose send now") from None
    return scheduling.local_to_utc(day, at, tz_name)


@bp.post("/issues/<int:issue_id>/schedule")
@editor_required
def schedule(issue_id: int):
    from workers.issue_tasks import delivery_available, start_due_issues

    session = get_session()
    issue = get_issue(issue_id)
    target = redirect(url_for("editor.issue_page", issue_id=issue_id))
    if not delivery_available():
        flash("Delivery engine not installed: this issue cannot be sent yet.", "error")
        return target
    result = build_preview(issue, settings())
    try:
        when = _requested_time(scheduling.get_schedule(session).timezone)
        scheduling.schedule(session, issue, when, failing_checks=result.failing,
                            override=bool(request.form.get("override")))
    except SchedulingError as exc:
        session.rollback()
        flash(f"Not scheduled: {exc}", "error")
        return target
    send_now = request.form.get("when") == "now"
    session.commit()
    if send_now:
        try:
            start_due_issues.delay()
        except Exception:  # noqa: BLE001 - only a hint: the per-minute scan starts it anyway
            log.exception("could not enqueue the due-scan; the scheduler will run it")
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
