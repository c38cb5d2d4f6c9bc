"""The error pages every part of the site shares: 404, 413 and 429.

Each answers JSON under /api/, keeps the editor's navigation in the editor area,
stays inside the iframe for the embedded form, and always offers a way back.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, render_template, request, url_for

from . import api
from .editor.auth import current_editor
from .security import FRAMEABLE_ENDPOINTS


def init_app(app: Flask) -> None:
    app.register_error_handler(404, not_found)
    app.register_error_handler(413, too_large)
    app.register_error_handler(429, too_many_requests)


def _in_editor_area() -> bool:
    return request.path == "/editor" or request.path.startswith("/editor/")


def not_found(error):
    if api.is_api_request():
        return api.http_error(error)
    if _in_editor_area():
        return render_template("web/editor/404.html", editor=current_editor()), 404
    return render_template("web/404.html"), 404


def too_large(error):
    if api.is_api_request():
        return api.http_error(error)
    return render_template("web/error.html", message="That request was too large."), 413


def too_many_requests(error):
    if api.is_api_request():
        return api.http_error(error)
    embed = request.endpoint in FRAMEABLE_ENDPOINTS
    return render_template("web/429.html", retry=getattr(error, "description", ""), embed=embed,
                           back=_way_back(embed)), 429


def _way_back(embed: bool) -> str:
    """The page the form was on when the browser tells us (same origin only), else
    the start of the area the request was in."""
    referrer = request.referrer or ""
    if referrer and urlsplit(referrer).netloc == request.host and urlsplit(referrer).path != request.path:
        return referrer
    if embed:
        return url_for("public.embed")
    if _in_editor_area():
        return url_for("editor.dashboard")
    return url_for("public.subscribe_form")
