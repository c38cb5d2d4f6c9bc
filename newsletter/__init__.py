"""Weekly AI Tool Verdicts: the newsletter service."""
from __future__ import annotations

from flask import Flask

from .config import PROJECT_ROOT, Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Load the settings, then let each part set itself up, in the order data flows."""
    from . import db, security
    from .web import api, archive, auth, delivery, editor, inbox, public
    from workers import celery_init_app

    settings = settings or load_settings()
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "newsletter" / "static"),
    )
    configure(app, settings)

    db.init_app(app)
    security.init_app(app)
    celery_init_app(app)
    public.init_app(app)
    inbox.init_app(app)
    api.init_app(app)
    auth.init_app(app)
    editor.init_app(app)
    archive.init_app(app)
    delivery.init_app(app)
    return app


def configure(app: Flask, settings: Settings) -> None:
    app.extensions["settings"] = settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.context_processor(lambda: {"newsletter_name": settings.newsletter_name})
