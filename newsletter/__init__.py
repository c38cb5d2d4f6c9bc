"""Weekly AI Tool Verdicts: the newsletter service.

The features, in the order the data flows: `audience` → `comparisons` →
`issues` → `mail` → `delivery`, plus `editors` (accounts), `web` (handlers),
`cli` (the `newsletter` command) and `dev` (the embedded defaults). Each
package's `__init__` says what it owns and what it may import.
"""
from __future__ import annotations

from flask import Flask

from .config import PROJECT_ROOT, Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Load the settings, then let each part set itself up."""
    from workers import celery_init_app

    from . import db, web

    settings = settings or load_settings()
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "newsletter" / "static"),
    )
    configure(app, settings)
    db.init_app(app)  # the database, for views and tasks alike
    celery_init_app(app)  # the Celery app the workers run and the jobs door sends to
    web.init_app(app)  # security, the request's session, the jobs door, every page
    return app


def configure(app: Flask, settings: Settings) -> None:
    app.extensions["settings"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.context_processor(lambda: {"newsletter_name": settings.newsletter_name})
