"""What every request passes through: CSRF, rate limits, proxies, security headers."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)

# Pages that the comparison site may show in an iframe; every other page refuses framing.
FRAMEABLE_ENDPOINTS = {"public.embed", "public.embed_subscribe"}
EMBED_TICKET_MAX_AGE = 12 * 3600


def subscribe_limit() -> str:
    return current_app.extensions["settings"].subscribe_rate_limit


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    if settings.proxy_fix_x_for:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_fix_x_for, x_proto=1)
    app.config.update(
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_KEY_PREFIX=f"{settings.redis_key_prefix}:limits",
        # Rate-limit headers would cost extra Redis round trips on every request.
        RATELIMIT_HEADERS_ENABLED=False,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(_security_headers)


def _embed_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["settings"].secret_key, salt="embed-subscribe-form")


def embed_ticket() -> str:
    return _embed_signer().dumps("embed")


def embed_post_is_ours(ticket: str | None) -> bool:
    """The embedded form's stand-in for CSRF: a ticket we signed in the last hours,
    posted from a page of our own origin (the iframe's), when the browser says."""
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return False
    try:
        _embed_signer().loads(ticket or "", max_age=EMBED_TICKET_MAX_AGE)
    except BadData:
        return False
    return True


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint in FRAMEABLE_ENDPOINTS:
        site = current_app.extensions["settings"].comparison_site_url
        origin = "/".join(site.split("/")[:3])
        response.headers.setdefault("Content-Security-Policy", f"frame-ancestors 'self' {origin}")
    else:
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response
