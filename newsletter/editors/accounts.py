"""Editor accounts: created from the CLI, checked at the login form.

Passwords are hashed with argon2id (argon2-cffi's defaults follow RFC 9106).
A wrong password and an unknown address cost the same hash, so the login form's
timing does not tell who has an account.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Editor

_hasher = PasswordHasher()
# Verified against when the address is unknown, so both paths take as long.
_DUMMY_HASH = _hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 10


class EditorError(ValueError):
    """A bad address or password for an account; the message says which."""


def normalise_email(raw: str) -> str:
    """One editor is one row, whatever the case they type their address in."""
    return (raw or "").strip().lower()


def create_editor(session: Session, email: str, password: str) -> Editor:
    try:
        email = validate_email(normalise_email(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise EditorError(f"not a valid address: {exc}") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise EditorError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if find_editor(session, email) is not None:
        raise EditorError(f"{email} is already an editor")
    editor = Editor(email=email, password_hash=_hasher.hash(password))
    session.add(editor)
    session.flush()
    return editor


def end_sessions(session: Session, editor: Editor) -> None:
    """Every login session of this editor ends (they were bound to the old value)."""
    editor.session_generation += 1
    session.flush()


def set_password(session: Session, email: str, password: str) -> Editor:
    """A new password, and every session started with the old one ends."""
    editor = find_editor(session, email)
    if editor is None:
        raise EditorError(f"no editor {normalise_email(email)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise EditorError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    editor.password_hash = _hasher.hash(password)
    end_sessions(session, editor)
    return editor


def find_editor(session: Session, email: str) -> Editor | None:
    return session.scalar(select(Editor).where(Editor.email == normalise_email(email)))


def list_editors(session: Session) -> list[Editor]:
    return list(session.scalars(select(Editor).order_by(Editor.email)))


def remove_editor(session: Session, email: str) -> bool:
    editor = find_editor(session, email)
    if editor is None:
        return False
    session.delete(editor)
    session.flush()
    return True


def authenticate(session: Session, email: str, password: str) -> Editor | None:
    """The editor if the password is right, else None (same work either way)."""
    editor = find_editor(session, email)
    try:
        _hasher.verify(editor.password_hash if editor else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if editor is None:
        return None
    if _hasher.check_needs_rehash(editor.password_hash):
        editor.password_hash = _hasher.hash(password)
    editor.last_login_at = utcnow()
    return editor
