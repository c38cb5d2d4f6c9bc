"""The editor area under /editor: login, the issue pages, the delivery pages, the
audience (`subscribers`: list, subscriber, actions, export; `imports`: upload and
progress), the welcome mail (`welcome`), the sender's health (`feedback`)."""
from __future__ import annotations

from flask import Flask

from . import auth, common, delivery, feedback, imports, issues, sending, subscribers, welcome  # noqa: F401 - they register views on `common.bp`


def init_app(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(common.bp)
    app.register_blueprint(delivery.bp)
    app.register_blueprint(feedback.bp)
