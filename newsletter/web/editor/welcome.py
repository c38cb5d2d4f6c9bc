"""The welcome mail's settings (subject, intro, on or off, catch-up days, whether it
counts as already sent) and its preview, on the editor blueprint."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from markupsafe import escape

from ...issues.preview import as_seen_by
from ...mail.rendering import RenderError
from ...readers import welcome, welcome_mail
from ...readers.categories import ALL
from ...readers.models import WelcomeStatus
from ..context import get_session, settings
from .auth import current_editor, editor_required
from .common import bp
from .sending import SANDBOX


def _preview():
    """The welcome as a reader of every category confirming now would get it (None:
    nothing to carry, so no mail), or the render error."""
    session = get_session()
    row = welcome_mail.get_settings(session)
    content = welcome_mail.content_for(session, row, ALL)
    if not content.comparisons:
        return None, content, ""
    try:
        mail = welcome_mail.render_welcome(settings(), row, content, ALL)
    except RenderError as exc:
        return None, content, str(exc)
    return as_seen_by(mail, settings(), current_editor().email), content, ""


@bp.route("/welcome", methods=["GET", "POST"])
@editor_required
def welcome_page():
    session = get_session()
    if request.method == "POST":
        try:
            welcome_mail.update_settings(
                session, enabled=bool(request.form.get("enabled")), subject=request.form.get("subject", ""),
                intro=request.form.get("intro", ""), catchup_days=request.form.get("catchup_days", ""),
                counts_as_sent=bool(request.form.get("counts_as_sent")))
        except welcome_mail.WelcomeSettingsError as exc:
            session.rollback()
            flash(f"Not saved: {exc}", "error")
            return redirect(url_for("editor.welcome_page"))
        session.commit()
        flash("The welcome mail is saved.", "ok")
        return redirect(url_for("editor.welcome_page"))
    mail, content, error = _preview()
    return render_template("web/editor/welcome.html", row=welcome_mail.get_settings(session), mail=mail,
                           content=content, error=error, counts=welcome.counts(session), states=list(WelcomeStatus),
                           default_subject=welcome_mail.subject_of(welcome_mail.get_settings(session), settings()),
                           sandbox=SANDBOX, max_days=welcome_mail.MAX_CATCHUP_DAYS)


@bp.get("/welcome/preview.html")
@editor_required
def welcome_preview_html():
    """The iframe's document, sandboxed like the issue preview's."""
    mail, _, error = _preview()
    if mail is None:
        body = f"<p style='font-family:sans-serif'>No welcome would go out now. {escape(error)}</p>"
    else:
        body = mail.html
    response = Response('<base target="_blank">' + body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = f"sandbox {SANDBOX}; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response
