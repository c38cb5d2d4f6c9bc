"""The comparison service against the real database: create, update, unchanged, races."""
from __future__ import annotations

import dataclasses
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from support.comparisons import JSON_LIST, PAGE, PAGE_SLUG, comparison_json

from newsletter.comparisons import store
from newsletter.comparisons.json_format import InvalidComparison, comparison_from_json, comparisons_from_json
from newsletter.comparisons.pages import parse_page
from newsletter.db import utcnow
from newsletter.dev import demo
from newsletter.models import Comparison, Review, Tool


def _page():
    return parse_page(PAGE.read_bytes(), PAGE.name)


def _count(session, model=Comparison) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_create_then_unchanged(session, settings):
    before = utcnow()
    result = store.upsert(session, _page(), settings)
    session.commit()
    assert result.status == "created"
    stored = result.comparison
    assert stored.slug == PAGE_SLUG
    assert stored.url == "https://verdicts.test/comparisons/" + PAGE_SLUG
    assert stored.published_at >= before and stored.updated_at >= before
    assert len(stored.content_hash) == 64
    assert [t.name for t in stored.tools] == ["Orbit Notes", "Lumen Docs"]
    assert [r.verdict for r in stored.tools[1].reviews] == ["skip", "ship", "ship", "skip"]
    assert (_count(session, Tool), _count(session, Review)) == (2, 8)

    again = store.upsert(session, _page(), settings)
    session.commit()
    assert again.status == "unchanged"
    assert again.comparison.id == stored.id
    assert again.comparison.updated_at == stored.updated_at
    assert (_count(session), _count(session, Tool), _count(session, Review)) == (1, 2, 8)


def test_edit_updates_in_place_and_moves_updated_at(session, settings):
    first = store.upsert(session, _page(), settings).comparison
    session.commit()
    first_updated, published = first.updated_at, first.published_at
    tool_ids = [t.id for t in first.tools]
    page = _page()
    edited_tool = dataclasses.replace(page.tools[1], ship_share=75, description="Now with incremental builds.")
    result = store.upsert(session, dataclasses.replace(page, tools=(page.tools[0], edited_tool)), settings)
    session.commit()
    assert result.status == "updated"
    session.expire_all()
    stored = session.scalar(select(Comparison))
    assert stored.updated_at > first_updated
    assert stored.published_at == published  # a page states no date; the first one stays
    assert stored.tools[1].ship_share == 75 and stored.tools[1].description == "Now with incremental builds."
    assert [t.id for t in stored.tools] == tool_ids
    assert (_count(session), _count(session, Tool), _count(session, Review)) == (1, 2, 8)


def test_given_slug_url_and_date(session, settings):
    kestrel, heron = comparisons_from_json(json.loads(JSON_LIST.read_text()))
    one = store.upsert(session, kestrel, settings).comparison
    two = store.upsert(session, heron, settings).comparison
    session.commit()
    assert one.slug == "kestrel-chat-vs-wren-assist"
    assert one.published_at == datetime(2026, 11, 18, 9, tzinfo=timezone.utc)
    assert two.slug == "heron-ocr-vs-plover-scan"
    assert two.url == "https://example.org/elsewhere/heron-vs-plover"
    assert [r.verdict for r in two.tools[1].reviews] == ["ship", "skip", "skip", "skip"]


def _titled(first_tool: str, slug: str | None = None):
    data = comparison_json()
    data.pop("slug", None)
    data.pop("url", None)
    if slug:
        data["slug"] = slug
    data["tools"][0]["name"] = first_tool
    data["title"] = f"{first_tool} vs {data['tools'][1]['name']}"
    return comparison_from_json(data)


def test_titles_that_derive_one_slug_stay_two_comparisons(session, settings):
    """"Llama 4 (8B)" and "Llama 4 (70B)" both derive `llama-4-vs-…`: the second
    used to replace the first silently."""
    small = store.upsert(session, _titled("Llama 4 (8B)"), settings)
    large = store.upsert(session, _titled("Llama 4 (70B)"), settings)
    session.commit()
    assert small.status == large.status == "created"
    assert small.comparison.slug == "llama-4-vs-wren-assist"
    assert large.comparison.slug.startswith("llama-4-vs-wren-assist-") and len(large.comparison.slug) <= 80
    assert large.comparison.url.endswith("/" + large.comparison.slug)
    assert sorted(c.title for c in session.scalars(select(Comparison))) == [
        "Llama 4 (70B) vs Wren Assist", "Llama 4 (8B) vs Wren Assist"]
    # Re-imports land where they landed, in either order; retyping a title is an update.
    assert store.upsert(session, _titled("Llama 4 (70B)"), settings).comparison.id == large.comparison.id
    assert store.upsert(session, _titled("Llama 4 (8B)"), settings).status == "unchanged"
    assert store.upsert(session, _titled("LLAMA 4 (8b)"), settings).comparison.id == small.comparison.id
    assert _count(session) == 2


def test_an_explicit_slug_names_the_comparison(session, settings):
    store.upsert(session, _titled("Llama 4 (8B)"), settings)
    renamed = store.upsert(session, _titled("Llama 4 (70B)", slug="llama-4-vs-wren-assist"), settings)
    assert renamed.status == "updated" and renamed.comparison.title == "Llama 4 (70B) vs Wren Assist"
    assert _count(session) == 1


def test_json_round_trip_is_unchanged(session, settings):
    stored = store.upsert(session, _page(), settings).comparison
    session.commit()
    body = store.to_json(store.get(session, PAGE_SLUG))
    assert body["tools"][0]["reviews"][3]["verdict"] == "skip"
    assert store.upsert(session, comparison_from_json(body), settings).status == "unchanged"
    # The same content under another time zone is the same moment.
    body["published_at"] = stored.published_at.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert store.upsert(session, comparison_from_json(body), settings).status == "unchanged"


def test_text_is_stored_as_given(session, settings):
    data = comparison_json()
    data["tools"][0]["name"] = "<script>alert('x')</script> & Co"
    data["title"] = "<script>alert('x')</script> & Co vs Wren Assist"
    data["tools"][1]["reviews"][0]["quote"] = "<b>bold</b> &amp; “quoted”"
    store.upsert(session, comparison_from_json(data), settings)
    session.commit()
    session.expire_all()
    stored = session.scalar(select(Comparison))
    assert stored.title == "<script>alert('x')</script> & Co vs Wren Assist"
    assert stored.tools[0].name == "<script>alert('x')</script> & Co"
    assert stored.tools[1].reviews[0].quote == "<b>bold</b> &amp; “quoted”"


def test_slugify():
    assert store.slugify("Code Llama 4 vs Mistral Code") == "code-llama-4-vs-mistral-code"
    assert store.slugify("Code Llama 4 (70B & 400B) vs Mistral-Next 22B") == "code-llama-4-vs-mistral-next-22b"
    assert store.slugify("Café Über vs Naïve 2.0") == "cafe-uber-vs-naive-2-0"
    assert store.slugify("(Only) (asides)") == "only-asides"
    # Letters with no Latin form, or a cut, would make titles collide: a digest keeps them apart.
    assert store.slugify("通义 vs 文心").startswith("vs-")
    assert store.slugify("通义 vs 文心") == store.slugify("通义 vs 文心") != store.slugify("千问 vs 文心")
    long_a, long_b = store.slugify("word " * 100), store.slugify("word " * 101)
    assert len(long_a) <= 200 and long_a.startswith("word-word-") and long_a != long_b


def test_json_validation_names_each_field():
    data = comparison_json()
    data["title"] = 7
    data["slug"] = "Not A Slug"
    data["tools"][1]["ship_share"] = 150
    data["tools"][0]["community_vote"] = "55%"
    data["tools"][0]["name"] = ""
    data["tools"][0]["reviews"][2]["reviewer"] = "critic"
    data["tools"][1]["reviews"][0]["verdict"] = "maybe"
    data["tools"][1]["colour"] = "blue"
    with pytest.raises(InvalidComparison) as caught:
        comparison_from_json(data)
    assert set(caught.value.errors) == {
        "title", "slug", "tools[1].ship_share", "tools[0].community_vote", "tools[0].name",
        "tools[0].reviews[2].reviewer", "tools[1].reviews[0].verdict", "tools[1].colour",
    }


def test_json_validation_of_lists_and_consistency():
    data = comparison_json()
    data["tools"][0]["reviews"] = [{"reviewer": r, "quote": "q", "verdict": "ship"}
                                   for r in ("builder", "skeptic", "futurist", "buyer")]
    second = comparison_json()
    second["tools"] = second["tools"][:1]
    with pytest.raises(InvalidComparison) as caught:
        comparisons_from_json([data, second])
    assert set(caught.value.errors) == {"[0].tools[0].reviews", "[1].tools"}
    with pytest.raises(InvalidComparison, match="title"):
        comparison_from_json({**comparison_json(), "title": "Kestrel Chat vs Someone Else"})


def test_concurrent_imports_make_one_comparison(db, settings, session):
    """A second import of a new slug starts while the first is still uncommitted:
    it waits for the first, then finds the comparison instead of inserting another."""
    outcome: list = []
    with db.session() as first:
        assert store.upsert(first, _page(), settings).status == "created"

        def second():
            try:
                with db.session() as other:
                    outcome.append(store.upsert(other, _page(), settings).status)
                    other.commit()
            except BaseException as exc:  # noqa: BLE001 - asserted below
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), f"the second import did not wait for the first: {outcome}"
        first.commit()
        thread.join(timeout=30)
    assert outcome == ["unchanged"]
    assert (_count(session), _count(session, Tool), _count(session, Review)) == (1, 2, 8)


def test_demo_data_loads_once_and_is_recent(session, settings):
    message = demo.load(session, settings)
    session.commit()
    assert "demo comparisons: created 6, updated 0, unchanged 0" in message
    stored = list(session.scalars(select(Comparison)))
    assert len(stored) == 6
    week_ago = utcnow() - timedelta(days=7)
    assert all(week_ago < c.published_at <= utcnow() for c in stored)
    assert all(len(c.tools) == 2 and all(len(t.reviews) == 4 for t in c.tools) for c in stored)
    again = demo.load_comparisons(session, settings)
    session.commit()
    assert again.line() == "created 0, updated 0, unchanged 6, rejected 0"
    assert _count(session) == 6
