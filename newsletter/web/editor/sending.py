"""Preview, test send, and scheduling of an issue (views on the editor blueprint)."""
from __future__ import annotations

from datetime import date, time

from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from markupsafe import escape

from workers.issues import send_test, start_due_issues

from ...audience import recipients
from ...db import utcnow
from ...issues import scheduling, slots
from ...issues.content import included_items, preheader_of
from ...issues.preview import as_seen_by, build_preview
from ...issues.slots import SchedulingError
from ...issues.testsend import BadTestAddresses, parse_test_addresses
from ...readers import categories, previews
from ...readers.categories import items_for
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
    """The whole issue, or with `?category=…` the variant of one category set as its
    readers get it (`readers.previews`)."""
    issue = get_issue(issue_id)
    variant = chosen_variant(issue)
    if variant is not None and variant.preview is None:
        return render_template("web/editor/preview_empty.html", issue=issue, variant=variant)
    result = build_preview(issue, settings()) if variant is None else variant.preview
    seen = as_seen_by(result.mail, settings(), current_editor().email, issue) if result.mail else None
    subject_items = items_for(included_items(issue), variant.key) if variant else None
    as_seen = f" as seen by a “{variant.label}” reader" if variant and variant.key else ""
    return render_template("web/editor/preview.html", issue=issue, preview=result, seen=seen, variant=variant,
                           as_seen=as_seen,
                           preheader=preheader_of(issue, subject_items), sandbox=SANDBOX,
                           frame_url=url_for("editor.preview_html", issue_id=issue.id,
                                             category=variant.categories if variant else []))


@bp.get("/issues/<int:issue_id>/preview/email.html")
@editor_required
def preview_html(issue_id: int):
    """The iframe's document: the real rendering, as the logged-in editor would get it."""
    issue = get_issue(issue_id)
    variant = chosen_variant(issue)
    result = build_preview(issue, settings()) if variant is None else variant.preview
    if result is None:
        body = "<p style='font-family:sans-serif'>Nothing in this issue is in these categories: no mail.</p>"
    elif result.mail is None:
        body = f"<p style='font-family:sans-serif'>The email cannot be rendered: {escape(result.error)}</p>"
    else:
        body = as_seen_by(result.mail, settings(), current_editor().email, issue).html
    response = Response('<base target="_blank">' + body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = f"sandbox {SANDBOX}; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


def chosen_variant(issue) -> previews.VariantPreview | None:
    """The category set `?category=A&category=B` names (None: no parameter, the whole
    issue). A category that does not exist is a 400, a set no reader of the issue
    has a 404, each with a page that says so."""
    picked = request.args.getlist("category")
    if not picked:
        return None
    session = get_session()
    try:
        return previews.find(session, issue, settings(), picked)
    except categories.CategoryError as exc:
        problem, status = f"{str(exc).rstrip('.')}.", 400
    except previews.UnknownSet as exc:
        problem = f"No reader of this issue has the categories “{previews.label(exc.args[0])}”."
        status = 404
    abort(make_response(render_template("web/editor/variant_missing.html", issue=issue, problem=problem), status))


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
                               failing=previews.preflight(session, issue, settings()))
    try:
        when = _requested_time(slots.get_schedule(session).timezone)
        scheduling.schedule(session, issue, when, settings(), override=bool(request.form.get("override")),
                            failing=previews.preflight(session, issue, settings()))
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
