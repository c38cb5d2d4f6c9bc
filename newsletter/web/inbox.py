"""The built-in mail catcher's inbox, for `newsletter dev` only.

Registered only when MAIL_CATCHER_DIR is set, which `dev` does and production
never should: it shows every mail the service sent.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, render_template

from ..dev.catcher import find_message, read_maildir

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
# No scripts and no same-origin access; a click on a link may leave the frame.
SANDBOX = "allow-top-navigation-by-user-activation allow-popups allow-popups-to-escape-sandbox"


def init_app(app: Flask) -> None:
    if app.extensions["settings"].mail_catcher_dir:
        app.register_blueprint(bp)


def _directory() -> str:
    return current_app.extensions["settings"].mail_catcher_dir


@bp.get("/")
def index():
    messages = list(reversed(read_maildir(_directory())))
    return render_template("web/inbox.html", messages=messages)


@bp.get("/<key>")
def show(key: str):
    message = find_message(_directory(), key)
    if message is None:
        abort(404)
    return render_template("web/inbox_message.html", message=message, sandbox=SANDBOX)


@bp.get("/<key>/html")
def html(key: str):
    """The HTML part alone, shown in a sandboxed iframe: no script, no same-origin."""
    message = find_message(_directory(), key)
    if message is None:
        abort(404)
    # Links open in a new tab, as they do from a webmail client.
    body = '<base target="_blank">' + (message.html or "<p>(no HTML part)</p>")
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"sandbox {SANDBOX}; frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
