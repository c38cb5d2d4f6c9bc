"""The push API: /api/comparisons, with the real database behind it."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select
from support.comparisons import JSON_SLUGS, comparison_json

from newsletter import create_app
from newsletter.config import load_settings
from newsletter.models import Comparison, Review, Tool

AUTH = {"Authorization": "Bearer test-api-token"}
SLUG = JSON_SLUGS[0]


def post(client, body, headers=AUTH, **kwargs):
    return client.post("/api/comparisons", json=body, headers=headers, **kwargs)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def stored(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Comparison, Tool, Review))


def test_create_update_and_idempotent_repeat(client, session):
    created = post(client, comparison_json())
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert created.headers["Location"].endswith(f"/api/comparisons/{SLUG}")
    assert body["slug"] == SLUG and body["title"] == "Kestrel Chat vs Wren Assist"
    assert body["url"] == f"https://verdicts.test/comparisons/{SLUG}"
    assert body["published_at"] == "2026-11-18T09:00:00Z"
    assert [r["verdict"] for r in body["tools"][0]["reviews"]] == ["ship", "skip", "ship", "ship"]
    assert stored(session) == (1, 2, 8)

    repeat = post(client, comparison_json())
    assert repeat.status_code == 200
    assert repeat.headers["X-Comparison-Status"] == "unchanged"
    assert repeat.get_json() == body

    changed = comparison_json()
    changed["tools"][1]["entry_price"] = "Free trial"
    updated = post(client, changed)
    assert updated.status_code == 200
    assert updated.headers["X-Comparison-Status"] == "updated"
    assert updated.get_json()["tools"][1]["entry_price"] == "Free trial"
    assert _time(updated.get_json()["updated_at"]) > _time(body["updated_at"])
    assert updated.get_json()["created_at"] == body["created_at"]
    assert stored(session) == (1, 2, 8)

    fetched = client.get(f"/api/comparisons/{SLUG}", headers=AUTH)
    assert fetched.status_code == 200 and fetched.get_json() == updated.get_json()
    # What a GET returns can be sent back as is.
    assert post(client, fetched.get_json()).headers["X-Comparison-Status"] == "unchanged"


def test_html_stays_literal_text(client, session):
    data = comparison_json()
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    data["tools"][0]["name"] = payload
    data["title"] = f"{payload} vs Wren Assist"
    data["tools"][0]["reviews"][0]["quote"] = f"“{payload}” &amp;"
    response = post(client, data)
    assert response.status_code == 201, response.get_json()
    assert response.mimetype == "application/json"
    assert response.get_json()["tools"][0]["name"] == payload
    assert response.get_json()["tools"][0]["reviews"][0]["quote"] == f"“{payload}” &amp;"
    assert "&lt;script" not in response.get_data(as_text=True)
    comparison = session.scalar(select(Comparison))
    assert comparison.title == f"{payload} vs Wren Assist"
    assert comparison.tools[0].reviews[0].quote == f"“{payload}” &amp;"


def test_invalid_fields_are_each_named_and_nothing_stored(client, session):
    data = comparison_json()
    data["tools"][1]["ship_share"] = 101
    data["tools"][0]["name"] = ""
    data["tools"][0]["reviews"][1]["reviewer"] = "builder"
    del data["standfirst"]
    response = post(client, data)
    assert response.status_code == 400
    assert response.get_json()["fields"] == {
        "tools[1].ship_share": "must be a whole number from 0 to 100, got 101",
        "tools[0].name": "is empty",
        "tools[0].reviews[1].reviewer": "builder has already reviewed this tool",
        "standfirst": "is required",
    }
    assert stored(session) == (0, 0, 0)


def test_numbers_and_times_out_of_any_range_are_400_naming_the_field(client, session):
    """A 5,000-digit integer made json.loads raise ValueError, and a time that in UTC
    falls before year 1 raised OverflowError: both answered 500."""
    data = comparison_json()
    data["published_at"] = "0001-01-01T00:00+14:00"
    body = json.dumps(data).replace('"ship_share": %d' % data["tools"][0]["ship_share"], '"ship_share": ' + "9" * 5000)
    response = client.post("/api/comparisons", data=body, content_type="application/json", headers=AUTH)
    assert response.status_code == 400
    fields = response.get_json()["fields"]
    assert fields["tools[0].ship_share"] == "must be a whole number from 0 to 100, got a number of 5000 digits"
    assert fields["published_at"].startswith("is out of range")
    assert stored(session) == (0, 0, 0)


def test_failed_update_leaves_the_stored_comparison(client, session):
    assert post(client, comparison_json()).status_code == 201
    before = client.get(f"/api/comparisons/{SLUG}", headers=AUTH).get_json()
    data = comparison_json()
    data["standfirst"] = "A new standfirst"
    data["tools"][1]["community_vote"] = -1
    response = post(client, data)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {"tools[1].community_vote"}
    assert client.get(f"/api/comparisons/{SLUG}", headers=AUTH).get_json() == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dGVzdC1hcGktdG9rZW4="},
        {"Authorization": "test-api-token"},
    ],
    ids=["missing", "wrong", "empty", "basic", "no-scheme"],
)
def test_missing_or_wrong_token(client, session, headers):
    response = post(client, comparison_json(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.get_json()
    assert client.get("/api/comparisons", headers=headers).status_code == 401
    assert stored(session) == (0, 0, 0)


def test_empty_api_token_disables_the_api(env, session):
    app = create_app(load_settings({**env, "API_TOKEN": ""}))
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer test-api-token"}):
        response = post(client, comparison_json(), headers=headers)
        assert response.status_code == 401
        assert "disabled" in response.get_json()["error"]
    assert stored(session) == (0, 0, 0)
    app.extensions["db"].dispose()


def test_body_too_large(client, session):
    data = comparison_json()
    data["tools"][0]["description"] = "x" * (300 * 1024)
    response = post(client, data)
    assert response.status_code == 413
    assert response.mimetype == "application/json" and "error" in response.get_json()
    assert stored(session) == (0, 0, 0)
    # Under the cap, a long description is fine.
    data["tools"][0]["description"] = "x" * (200 * 1024)
    assert post(client, data).status_code == 201


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        ("{not json", "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        ("[" * 100000 + "]" * 100000, "application/json", 400),
        ('["a list"]', "application/json", 400),
        ("title=x", "application/x-www-form-urlencoded", 415),
        ("{}", "text/plain", 415),
    ],
    ids=["syntax", "not-utf8", "too-deep", "not-an-object", "form", "text"],
)
def test_bodies_that_are_not_a_json_object(client, session, data, content_type, status):
    response = client.post("/api/comparisons", data=data, content_type=content_type, headers=AUTH)
    assert response.status_code == status
    assert response.mimetype == "application/json" and response.get_json()["error"]
    assert stored(session) == (0, 0, 0)


def test_json_errors_for_unknown_paths_and_methods(client):
    missing = client.get("/api/comparisons/no-such-slug", headers=AUTH)
    assert missing.status_code == 404 and "no-such-slug" in missing.get_json()["error"]
    unknown = client.get("/api/nothing-here", headers=AUTH)
    assert unknown.status_code == 404 and unknown.mimetype == "application/json"
    wrong_method = client.delete(f"/api/comparisons/{SLUG}", headers=AUTH)
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "application/json"
    # The rest of the site keeps its HTML pages.
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_list_is_newest_first_and_paginated(client):
    for day, name in enumerate(["Alpha", "Beta", "Gamma"], start=10):
        data = comparison_json()
        data.update(slug=None, published_at=f"2026-11-{day}T08:00:00Z")
        data["tools"][0]["name"] = name
        data["title"] = f"{name} vs Wren Assist"
        assert post(client, {k: v for k, v in data.items() if v is not None}).status_code == 201
    first = client.get("/api/comparisons?per_page=2", headers=AUTH).get_json()
    assert [item["tools"][0]["name"] for item in first["items"]] == ["Gamma", "Beta"]
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 3)
    assert first["next"].endswith("/api/comparisons?page=2&per_page=2")
    second = client.get(first["next"], headers=AUTH).get_json()
    assert [item["slug"] for item in second["items"]] == ["alpha-vs-wren-assist"]
    assert second["next"] is None
    default = client.get("/api/comparisons", headers=AUTH).get_json()
    assert default["per_page"] == 20 and len(default["items"]) == 3


@pytest.mark.parametrize("query, field", [("per_page=101", "per_page"), ("per_page=0", "per_page"),
                                          ("page=0", "page"), ("page=two", "page"), ("page=-1", "page")])
def test_bad_pagination(client, query, field):
    response = client.get(f"/api/comparisons?{query}", headers=AUTH)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {field}


def test_api_needs_no_csrf_token_and_accepts_utf8(client, session):
    data = comparison_json()
    data["standfirst"] = "Naïve “quotes” — and 通义"
    raw = json.dumps(data, ensure_ascii=False).encode("utf-8")
    response = client.post("/api/comparisons", data=raw, content_type="application/json; charset=utf-8",
                           headers=AUTH)
    assert response.status_code == 201
    assert session.scalar(select(Comparison.standfirst)) == "Naïve “quotes” — and 通义"
