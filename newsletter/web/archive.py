"""The public archive: sent issues, each one's web version, and an Atom feed.

The web version is the rendering frozen when sending started with no personal
parts, so a page here never shows anyone's address or unsubscribe link.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, render_template
from sqlalchemy import select

from ..issues.content import preheader_of, whole
from ..issues.models import Issue, IssueStatus
from ..issues.rendering import issue_context
from .context import get_session

bp = Blueprint("archive", __name__, url_prefix="/archive")
# The web version is our own rendering, but it is shown without running anything.
WEB_VERSION_CSP = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; frame-ancestors 'none'"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _sent_issues(limit: int = 200, *options) -> list[Issue]:
    return list(get_session().scalars(
        select(Issue).where(Issue.status.in_(IssueStatus.PUBLIC)).order_by(Issue.number.desc()).limit(limit)
        .options(*options)
    ))


@bp.get("/")
def index():
    return render_template("web/archive/index.html", issues=_sent_issues())


@bp.get("/<int:number>")
def show(number: int):
    issue = get_session().scalar(select(Issue).where(Issue.number == number, Issue.status.in_(IssueStatus.PUBLIC)))
    if issue is None or not issue.web_html:
        abort(404)
    response = Response(issue.web_html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = WEB_VERSION_CSP
    return response


@bp.get("/feed.xml")
def feed():
    settings = current_app.extensions["settings"]
    issues = _sent_issues(50, whole())
    # A feed reader shows an entry inside its own page: the article, not the email
    # document around it (doctype, head, Outlook conditionals, layout tables).
    entries = [dict(issue=issue, summary=preheader_of(issue),
                    article=render_template("web/archive/_article.html",
                                            **issue_context(issue, settings, personal=False)))
               for issue in issues]
    body = render_template("web/archive/feed.xml", entries=entries, base_url=settings.base_url,
                           updated=issues[0].sending_started_at if issues else None)
    return Response(body, mimetype="application/atom+xml")
