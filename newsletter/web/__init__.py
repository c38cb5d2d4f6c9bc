"""HTTP handlers: parse input, call a service, commit, then hand jobs to `jobs`.

Owns the request's session (`context`), the one door to the workers (`jobs`),
what every request passes through (`security`), and the pages: readers'
(`public`) and subscribers' own page (`manage`), the push API (`api`), the
providers' webhooks (`hooks`), the archive (`archive`), the counted comparison links (`clicks`), the dev inbox (`inbox`),
the editor area (`editor/`) and the error pages they share (`errors`).

May import every feature package and `workers` (tasks, to name a job). Nothing
imports `web`.
"""
from __future__ import annotations

from flask import Flask

from . import api, archive, clicks, context, editor, errors, hooks, inbox, jobs, manage, public, security


def init_app(app: Flask) -> None:
    security.init_app(app)
    context.init_app(app)
    jobs.init_app(app)
    public.init_app(app)
    manage.init_app(app)
    inbox.init_app(app)
    api.init_app(app)
    hooks.init_app(app)
    archive.init_app(app)
    clicks.init_app(app)
    editor.init_app(app)
    errors.init_app(app)
