"""What every request passes through: CSRF, rate limits, proxies, security headers."""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from itsdangerous import BadData, URLSafeTimedSerializer
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()


class Counters:
    """Where the per-client limits count (`RATELIMIT_STORAGE_URI`: Redis, or memory
    for `newsletter dev`): the subscribe form's windows here, the editor login's in
    `editor.login_limits`. Only the storage of the `limits` library, without
    Flask-Limiter's request hooks: no route has a decorated limit, and those hooks
    looked for one on every request."""

    storage: Storage

    def init_app(self, app: Flask) -> None:
        self.storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])


limiter = Counters()

# Pages that the comparison site may show in an iframe; every other page refuses framing.
FRAMEABLE_ENDPOINTS = {"public.embed", "public.embed_subscribe"}
EMBED_TICKET_MAX_AGE = 12 * 3600


# Every window of the limit in one round trip: each key counts a fixed window that
# starts at its first hit (as the `limits` library's fixed-window strategy does).
_WINDOWS_LUA = """
local allowed = 0
for i, key in ipairs(KEYS) do
  local hits = redis.call('INCR', key)
  if hits == 1 then redis.call('EXPIRE', key, ARGV[2 * i - 1]) end
  if allowed == 0 and hits > tonumber(ARGV[2 * i]) then allowed = i end
end
return allowed
"""


@lru_cache(maxsize=8)
def _windows(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec))


def take_subscribe_limit() -> None:
    """Count this request in every window of SUBSCRIBE_RATE_LIMIT for its client
    address; a 429 when one is used up. With Redis that is one script call (one
    round trip) for all the windows, not one per window."""
    windows = _windows(current_app.extensions["settings"].subscribe_rate_limit)
    prefix = f"{current_app.config['RATELIMIT_KEY_PREFIX']}:subscribe:{request.remote_addr or '127.0.0.1'}"
    keys = [f"{prefix}:{item.amount}/{item.get_expiry()}" for item in windows]
    storage = limiter.storage
    if hasattr(storage, "get_connection"):
        script = current_app.extensions.get("subscribe_windows_script")
        if script is None:
            script = current_app.extensions["subscribe_windows_script"] = \
                storage.get_connection().register_script(_WINDOWS_LUA)
        args = [value for item in windows for value in (item.get_expiry(), item.amount)]
        over = int(script(keys=keys, args=args))
    else:  # the in-process store of `newsletter dev` and the SQLite tests: no round trips
        hits = [storage.incr(key, item.get_expiry()) for key, item in zip(keys, windows)]
        over = next((i + 1 for i, (n, item) in enumerate(zip(hits, windows)) if n > item.amount), 0)
    if over:
        abort(429, description=str(windows[over - 1]))


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    if settings.proxy_fix_x_for:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_fix_x_for, x_proto=1)
    app.config.update(
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_KEY_PREFIX=f"{settings.redis_key_prefix}:limits",
    )
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(_security_headers)
    app.session_interface = _CookieSessions()


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, but a request that sends no cookie at all (a
    webhook, an API client, a first visit) starts an empty session without building
    the signing serializer or parsing cookies: a tenth of a webhook request's time.
    The session is still saved, signed as before, if the request writes to it."""

    def open_session(self, app, request):
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)


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
