"""Editor login, logout, and `editor_required` for every page under /editor.

Failed logins are limited twice, per account and per client address, with
Flask-Limiter on the same storage as the other limits (Redis in production), so
a limit holds across gunicorn workers and machines. Only failures count: a
successful login spends nothing.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField

from ...editors import accounts
from ...editors.models import Editor
from ..context import get_session
from ..security import limiter

bp = Blueprint("auth", __name__, url_prefix="/editor")

ACCOUNT_LIMIT = "5 per 15 minutes"
IP_LIMIT = "20 per 15 minutes"
SESSION_KEY = "editor_id"


class LoginForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")
    next = HiddenField()


def current_editor() -> Editor | None:
    """The logged-in editor, or None; a removed account is logged out at once."""
    if "editor" not in g:
        editor_id = session.get(SESSION_KEY)
        g.editor = get_session().get(Editor, editor_id) if editor_id else None
    return g.editor


def editor_required(view):
    """Send anyone not logged in to the login page, then back here."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_editor() is None:
            target = request.full_path if request.method == "GET" else request.path
            return redirect(url_for("auth.login", next=target.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path inside this app, else None.

    Browsers read `\\` as `/` and drop tabs and newlines, so `/\\evil` and
    `//evil` both leave the site; anything with a scheme or host does too.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _account_key() -> str:
    return "editor-login:" + accounts.normalise_email(request.form.get("email", ""))


def _failed(response) -> bool:
    return response.status_code != 302


@bp.errorhandler(429)
def _too_many(_error):
    """Said on the login form itself, rather than the site's generic 429 page."""
    form = LoginForm()
    message = "Too many failed logins. Wait 15 minutes and try again."
    return render_template("web/editor/login.html", form=form, error=message), 429


@bp.get("/login")
def login_form():
    form = LoginForm(next=safe_next(request.args.get("next")) or "")
    return render_template("web/editor/login.html", form=form, error=None)


@bp.post("/login")
@limiter.limit(IP_LIMIT, key_func=get_remote_address, deduct_when=_failed,
               scope="editor-login-ip")
@limiter.limit(ACCOUNT_LIMIT, key_func=_account_key, deduct_when=_failed,
               scope="editor-login-account")
def login():
    form = LoginForm()
    if not form.validate():
        return render_template("web/editor/login.html", form=form, error="The form expired. Please try again."), 400
    db_session = get_session()
    editor = accounts.authenticate(db_session, form.email.data or "", form.password.data or "")
    if editor is None:
        db_session.rollback()
        return render_template("web/editor/login.html", form=form, error="Wrong email or password."), 401
    editor_id = editor.id
    db_session.commit()
    # A new session at login: nothing set before it (by anyone) survives.
    session.clear()
    session[SESSION_KEY] = editor_id
    return redirect(safe_next(form.next.data) or url_for("editor.dashboard"))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login_form"))
