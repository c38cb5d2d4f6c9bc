"""What a request works with: its database session and the settings.

A request's session is opened on first use and closed at teardown; views commit
it themselves, after the service call, and hand jobs to `jobs.after_commit`.
"""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import Database


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)


def get_db() -> Database:
    return current_app.extensions["db"]


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


def settings() -> Settings:
    return current_app.extensions["settings"]


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
