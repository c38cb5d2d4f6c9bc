"""The editor area: the upcoming issue, its content and comparisons, the weekly slot.

Views parse the form, call a service, commit, and redirect (post/redirect/get),
so a reload never posts twice. The preview, test send and scheduling views are
in `sending`, on the same blueprint.
"""
from __future__ import annotations

from datetime import time

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...audience import listing, recipients
from ...delivery import categories as sent_variants
from ...issues import drafts, slots
from ...issues.content import default_subject, included_items
from ...issues.drafts import DigestError
from ...issues.models import Issue, IssueStatus
from ...issues.preview import build_preview
from ...issues.slots import WEEKDAYS, SchedulingError
from ...readers import previews
from ..context import get_session, settings
from .auth import editor_required
from .common import bp, get_issue


@bp.get("/")
@editor_required
def dashboard():
    session = get_session()
    issues = list(session.scalars(select(Issue).order_by(Issue.number.desc()).limit(30)))
    return render_template(
        "web/editor/dashboard.html", upcoming=drafts.upcoming_issue(session), issues=issues,
        schedule=slots.get_schedule(session), weekdays=WEEKDAYS, to_local=slots.to_local,
        audience=listing.counts(session), weekly=listing.confirmed_per_week(session),
    )


@bp.post("/draft")
@editor_required
def draft_now():
    """The draft step, at once: for a first visit, or a scheduler that is not running."""
    session = get_session()
    try:
        issue = drafts.refresh_draft(session).issue
        issue_id = issue.id
        session.commit()
    except IntegrityError:  # the scheduler drafted the same number at the same moment
        session.rollback()
        issue_id = drafts.upcoming_issue(session).id
    return redirect(url_for("editor.issue_page", issue_id=issue_id))


@bp.get("/issues/<int:issue_id>")
@editor_required
def issue_page(issue_id: int):
    session = get_session()
    issue = get_issue(issue_id)
    editable = issue.status in IssueStatus.UPCOMING
    schedule = slots.get_schedule(session)
    preview = build_preview(issue, settings()) if editable else None
    variants = previews.all_variants(session, issue, settings(), preview)
    if not editable:  # who got each frozen variant: the delivery rows say
        sent_to = sent_variants.readers_by_variant(session, issue.id)
        for variant in variants:
            variant.readers = sent_to.get(variant.key, 0)
    return render_template(
        "web/editor/issue.html", issue=issue, preview=preview, variants=variants,
        failing=previews.failing(preview, variants) if editable else [],
        schedule=schedule, addable=drafts.addable_comparisons(session, issue) if editable else [],
        default_subject=default_subject(issue), to_local=slots.to_local,
        scheduled_local=slots.to_local(issue.scheduled_at, schedule.timezone),
        audience=recipients.receiving_count(session) if editable else None,
    )


def _arrangement(issue: Issue) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """The kept comparisons in the typed order (ties keep the current order).

    A comparison that joined the draft after the page was loaded is not in the
    form; it is kept, at the top, rather than dropped unseen.
    """
    kept = []
    for index, item in enumerate(included_items(issue)):
        cid = item.comparison_id
        if f"order-{cid}" not in request.form:
            kept.append((float("-inf"), index, cid))
            continue
        if not request.form.get(f"keep-{cid}"):
            continue
        try:
            order = float(request.form.get(f"order-{cid}", index + 1))
        except ValueError:
            raise DigestError("the order of each comparison is a number") from None
        kept.append((order, index, cid))
    featured = {
        item.comparison_id: (
            request.form.get(f"featured_a-{item.comparison_id}", item.featured_reviewer_a),
            request.form.get(f"featured_b-{item.comparison_id}", item.featured_reviewer_b),
        )
        for item in included_items(issue)
    }
    return [cid for _, _, cid in sorted(kept)], featured


@bp.post("/issues/<int:issue_id>")
@editor_required
def save_issue(issue_id: int):
    session = get_session()
    issue = get_issue(issue_id)
    try:
        drafts.update_content(
            issue, subject=request.form.get("subject", ""), preheader=request.form.get("preheader", ""),
            intro=request.form.get("intro", ""), intro_format=request.form.get("intro_format", "text"),
        )
        order, featured = _arrangement(issue)
        drafts.arrange(issue, order, featured)
    except DigestError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("editor.issue_page", issue_id=issue_id))
    session.commit()
    flash("Saved.", "ok")
    return redirect(url_for("editor.issue_page", issue_id=issue_id))


@bp.post("/issues/<int:issue_id>/add")
@editor_required
def add_comparison(issue_id: int):
    session = get_session()
    issue = get_issue(issue_id)
    try:
        drafts.add_comparison(session, issue, int(request.form.get("comparison_id", "0") or 0))
    except (DigestError, ValueError) as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash("Comparison added at the end.", "ok")
    return redirect(url_for("editor.issue_page", issue_id=issue_id))


@bp.route("/schedule", methods=["GET", "POST"])
@editor_required
def weekly_slot():
    session = get_session()
    schedule = slots.get_schedule(session)
    if request.method == "POST":
        try:
            hours, _, minutes = request.form.get("send_time", "").partition(":")
            at = time(int(hours), int(minutes))
            slots.update_schedule(session, int(request.form.get("weekday", "-1")), at,
                                  request.form.get("timezone", "").strip())
        except (SchedulingError, ValueError) as exc:
            session.rollback()
            flash(f"Not saved: {exc}", "error")
            return redirect(url_for("editor.weekly_slot"))
        session.commit()
        flash("The weekly slot is saved.", "ok")
        return redirect(url_for("editor.dashboard"))
    return render_template("web/editor/schedule.html", schedule=schedule, weekdays=WEEKDAYS)
