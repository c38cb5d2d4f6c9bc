"""`/r/<issue>/<link>`: a comparison link in an issue's mail, counted, then followed.

A forged or unknown link is a 404 that counts nothing; the target comes from the
database. HEAD is answered without counting (link checkers use it).
"""
from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, request

from ..issues import links
from ..readers import clicks
from .context import get_session, settings

bp = Blueprint("clicks", __name__)
PURPOSE_HEADERS = ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(issue_clicks)
    app.add_template_global(clicks_per_issue)


def issue_clicks(issue) -> list[tuple[str, int]]:
    """For the editor's issue page: each comparison of the issue, in its order, and its clicks."""
    counts = clicks.per_comparison(get_session(), issue.id)
    return [(item.comparison.title, counts.get(item.comparison_id, 0)) for item in issue.items if not item.dropped]


def clicks_per_issue(issues) -> dict[int, int]:
    return clicks.per_issue(get_session(), [issue.id for issue in issues])


@bp.get("/r/<int:issue_id>/<link>")
def follow(issue_id: int, link: str):
    secret = settings().secret_key
    comparison_id = links.verify(secret, issue_id, link)
    if comparison_id is None:
        abort(404)
    session = get_session()
    if request.method == "HEAD":
        found = clicks.target(session, issue_id, comparison_id)
        url = found[0] if found else None
    else:
        seen = clicks.Request(address=request.remote_addr or "", user_agent=request.headers.get("User-Agent", ""),
                              purpose=" ".join(request.headers.get(name, "") for name in PURPOSE_HEADERS))
        url = clicks.record(session, secret, issue_id, comparison_id, seen)
        session.commit()
    if url is None:
        abort(404)
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"  # every request is one click, so none may be cached
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
