"""The push API the comparison site uses: `/api/comparisons`.

A machine client, so every answer is JSON, errors included, and nothing here uses
cookies or CSRF tokens: the bearer token (`API_TOKEN`) is the only authority, and
an empty token turns the API off rather than leaving it open. Bodies are capped
well below the app-wide limit, since one comparison is a few kilobytes.
"""
from __future__ import annotations

import hmac
import json

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from ..comparisons import store as comparisons
from ..comparisons.json_format import InvalidComparison, comparison_from_json, loads
from .context import get_session
from .security import csrf

MAX_BODY_BYTES = 256 * 1024
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
PREFIX = "/api/"

bp = Blueprint("api", __name__, url_prefix="/api")


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
    # Routing errors (unknown path, wrong method) never reach the blueprint's handlers.
    app.register_error_handler(405, _routing_error)


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


def error_response(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def http_error(error: HTTPException):
    """An HTTP error as JSON; the app-wide HTML error handlers hand /api/ paths here."""
    response = error_response(error.code or 500, error.description or error.name)
    if error.code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _routing_error(error: HTTPException):
    return http_error(error) if is_api_request() else error


bp.register_error_handler(HTTPException, http_error)


@bp.before_request
def _authenticate():
    request.max_content_length = MAX_BODY_BYTES
    token = current_app.extensions["settings"].api_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token:
        return error_response(401, "the API is disabled: API_TOKEN is not set")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return error_response(401, "a valid bearer token is required")
    return None


@bp.post("/comparisons")
def push_comparison():
    if request.mimetype != "application/json":
        return error_response(415, "the body must be JSON (Content-Type: application/json)")
    try:
        data = loads(request.get_data(cache=False).decode("utf-8"))
    except UnicodeDecodeError:
        return error_response(400, "the body is not UTF-8", fields={"(body)": "is not UTF-8"})
    except json.JSONDecodeError as exc:
        return error_response(400, "the body is not valid JSON",
                              fields={"(body)": f"{exc.msg} at line {exc.lineno} column {exc.colno}"})
    except RecursionError:
        return error_response(400, "the body is not valid JSON", fields={"(body)": "nested too deeply"})
    try:
        parsed = comparison_from_json(data)
    except InvalidComparison as exc:
        return error_response(400, "invalid comparison", fields=exc.errors)
    session = get_session()
    try:
        result = comparisons.upsert(session, parsed, current_app.extensions["settings"])
        body = comparisons.to_json(result.comparison)
        session.commit()
    except InvalidComparison as exc:
        session.rollback()
        return error_response(409, "the slug is taken", fields=exc.errors)
    except Exception:
        session.rollback()
        raise
    response = jsonify(body)
    if result.status == comparisons.CREATED:
        response.status_code = 201
        response.headers["Location"] = url_for("api.get_comparison", slug=body["slug"])
    response.headers["X-Comparison-Status"] = result.status
    return response


@bp.get("/comparisons")
def list_comparisons():
    page_number, page_problem = _positive_int("page", 1, MAX_PAGE)
    size, size_problem = _positive_int("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    problems = {name: problem for name, problem in (("page", page_problem), ("per_page", size_problem)) if problem}
    if problems:
        return error_response(400, "invalid query", fields=problems)
    items, total = comparisons.newest(get_session(), page_number, size)
    has_next = page_number * size < total
    return jsonify({
        "items": [comparisons.to_json(item) for item in items],
        "page": page_number,
        "per_page": size,
        "total": total,
        "next": url_for("api.list_comparisons", page=page_number + 1, per_page=size) if has_next else None,
    })


@bp.get("/comparisons/<slug>")
def get_comparison(slug: str):
    comparison = comparisons.get(get_session(), slug)
    if comparison is None:
        return error_response(404, f"no comparison with the slug {slug!r}")
    return jsonify(comparisons.to_json(comparison))


def _positive_int(name: str, default: int, highest: int) -> tuple[int, str | None]:
    """(value, None), or (default, why the query parameter is wrong)."""
    raw = request.args.get(name)
    if raw is None:
        return default, None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and 1 <= int(raw) <= highest):
        return default, f"must be a whole number from 1 to {highest}"
    return int(raw), None
