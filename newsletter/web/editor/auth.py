"""Editor login, logout, and `editor_required` for every page under /editor.

Failed logins are limited per (account, client) and per client (`login_limits`).
A session is bound to the editor's `session_generation`: logout and a password
change move it on, so a cookie copied before then opens nothing afterwards.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField

from ...editors import accounts
from ...editors.models import Editor
from ..context import get_session, settings
from . import login_limits

bp = Blueprint("auth", __name__, url_prefix="/editor")

SESSION_KEY = "editor_id"
GENERATION_KEY = "editor_generation"


class LoginForm(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")
    next = HiddenField()


def current_editor() -> Editor | None:
    """The logged-in editor, or None; a removed account, a logout elsewhere or a new
    password ends the session at once."""
    if "editor" not in g:
        editor_id = session.get(SESSION_KEY)
        editor = get_session().get(Editor, editor_id) if editor_id else None
        if editor is not None and editor.session_generation != session.get(GENERATION_KEY):
            editor = None
        g.editor = editor
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


@bp.get("/login")
def login_form():
    form = LoginForm(next=safe_next(request.args.get("next")) or "")
    return render_template("web/editor/login.html", form=form, error=None)


@bp.post("/login")
def login():
    form = LoginForm()
    if not form.validate():
        return render_template("web/editor/login.html", form=form, error="The form expired. Please try again."), 400
    attempt = login_limits.take(settings().redis_key_prefix, accounts.normalise_email(form.email.data or ""),
                                request.remote_addr or "")
    if not attempt.allowed:
        message = "Too many failed logins from here. Wait 15 minutes and try again."
        return render_template("web/editor/login.html", form=form, error=message), 429
    db_session = get_session()
    editor = accounts.authenticate(db_session, form.email.data or "", form.password.data or "")
    if editor is None:
        db_session.rollback()
        return render_template("web/editor/login.html", form=form, error="Wrong email or password."), 401
    login_limits.give_back(attempt)  # only failures count
    editor_id, generation = editor.id, editor.session_generation
    db_session.commit()
    # A new session at login: nothing set before it (by anyone) survives.
    session.clear()
    session[SESSION_KEY] = editor_id
    session[GENERATION_KEY] = generation
    return redirect(safe_next(form.next.data) or url_for("editor.dashboard"))


@bp.post("/logout")
def logout():
    """Ends this editor's sessions everywhere, copies of the cookie included."""
    editor = current_editor()
    if editor is not None:
        accounts.end_sessions(get_session(), editor)
        get_session().commit()
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("auth.login_form"))
