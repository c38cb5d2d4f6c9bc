"""The editor area under /editor: login, the issue pages, the delivery pages."""
from __future__ import annotations

from flask import Flask

from . import auth, common, delivery, issues, sending  # noqa: F401 - issues and sending register views on `common.bp`


def init_app(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(common.bp)
    app.register_blueprint(delivery.bp)
