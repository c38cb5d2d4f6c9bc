"""The category sets editors see before sending: which occur in the audience and how
many readers each, each set's own rendering (the send's) and pre-flight checks, named
by set, and the sets whose readers get nothing."""
from __future__ import annotations

import pytest
from support.audience import make_subscriber
from support.issues import FIXED, break_variant, make_comparison

from newsletter.audience.models import Subscriber, SubscriberStatus
from newsletter.issues import drafts
from newsletter.issues.checks import GMAIL_CLIP_BYTES
from newsletter.issues.content import included_items
from newsletter.readers import previews, variants
from newsletter.readers.categories import ALL, CategoryError

# One comparison per category, newest first: Dev, Image, Writing.
CATEGORIES = ("Developer Tools", "Image", "Writing")


@pytest.fixture
def issue(session):
    for hours, category in enumerate(CATEGORIES):
        comparison = make_comparison(session, f"{category} A", f"{category} B",
                                     published_at=FIXED.replace(hour=8 - hours))
        for tool in comparison.tools:
            tool.category = category
    return drafts.refresh_draft(session, FIXED).issue


def readers(session, **by_key):
    """by_key: key -> how many confirmed readers (plus one unsubscribed reader each, never counted)."""
    n = session.query(Subscriber).count()
    for key, count in by_key.items():
        for status in [SubscriberStatus.CONFIRMED] * count + [SubscriberStatus.UNSUBSCRIBED]:
            n += 1
            make_subscriber(session, f"r{n}@example.com", status=status, categories=key, unsubscribe_token=f"t{n}")


def test_sets_in_the_audience_most_readers_first(session, issue, settings):
    readers(session, **{"": 2, "Image": 3, "Image\nWriting": 1, "Video": 2})
    assert previews.audience_sets(session) == [("Image", 3), ("", 2), ("Video", 2), ("Image\nWriting", 1)]
    shown = {v.key: v for v in previews.all_variants(session, issue, settings)}
    assert shown["Video"].preview is None and shown["Video"].readers == 2  # they get nothing
    image = shown["Image"].preview
    assert image.mail.subject == "Image A vs Image B"  # its own lead comparison
    assert "Developer Tools A" not in image.mail.html and "Writing A" not in image.mail.text
    assert shown["Image"].label == "Image" and shown["Image\nWriting"].label == "Image + Writing"
    assert shown[""].label == "All categories" and "Developer Tools A" in shown[""].preview.mail.html


def test_the_preview_is_the_send_rendering(session, issue, settings):
    """What the editor sees for a set is byte for byte what `freeze` stores for it."""
    readers(session, **{"Image\nWriting": 1})
    [variant] = previews.all_variants(session, issue, settings)
    variants.freeze(session, settings, issue.id, {"Image\nWriting"})
    assert variant.preview.mail == variants.frozen(session, issue.id, "Image\nWriting")


def test_a_variant_failing_is_named_and_gates(session, issue, settings, monkeypatch):
    readers(session, **{"": 1, "Image": 1, "Writing": 1})
    assert previews.preflight(session, issue, settings) == []
    break_variant(monkeypatch, ["Writing A vs Writing B"], "issue.mjml: unexpected tag")
    assert previews.preflight(session, issue, settings) == [
        "As seen by a “Writing” reader: The email cannot be rendered: issue.mjml: unexpected tag"]


def test_size_and_links_are_checked_per_variant(session, issue, settings):
    readers(session, **{"Image": 1, "Developer Tools": 1})
    image = next(i for i in included_items(issue) if i.comparison.title.startswith("Image"))
    image.comparison.url = "ftp://verdicts.test/image"
    failing = previews.preflight(session, issue, settings)
    assert any(line.startswith("Links are absolute") for line in failing)  # the whole issue's own
    assert [line for line in failing if "Image" in line.split(":")[0]] == [
        "As seen by a “Image” reader: Links are absolute http(s): Not an absolute http(s) link: about:invalid."]
    assert not any("“Developer Tools”" in line for line in failing)
    drafts.update_content(issue, subject="", preheader="", intro="word " * (GMAIL_CLIP_BYTES // 5), intro_format="text")
    failing = previews.preflight(session, issue, settings)
    assert any(line.startswith("As seen by a “Developer Tools” reader: Size under Gmail") for line in failing)


def test_sets_with_the_same_comparisons_share_one_rendering(session, issue, settings, monkeypatch):
    readers(session, **{"Image": 1, "Image\nVideo": 1, "Image\nAudio": 1})
    calls, real = [], variants.render
    monkeypatch.setattr(variants, "render", lambda *args: calls.append(args[2]) or real(*args))
    shown = previews.all_variants(session, issue, settings)
    assert len(shown) == 3 and len(calls) == 1
    assert len({id(v.preview) for v in shown}) == 1


def test_a_preview_link_names_a_set_of_this_issue(session, issue, settings):
    readers(session, **{"Image": 1})
    assert previews.key_from(session, ["Writing", "Image"]) == "Image\nWriting"
    assert previews.key_from(session, list(CATEGORIES)) == ALL
    for bad in (["Nope"], [""], ["<script>"]):
        with pytest.raises(CategoryError):
            previews.key_from(session, bad)
    assert previews.find(session, issue, settings, ["Image"]).readers == 1
    with pytest.raises(previews.UnknownSet):
        previews.find(session, issue, settings, ["Writing"])  # exists, but no reader has it
    with pytest.raises(CategoryError):
        previews.find(session, issue, settings, ["Image", "Nope"])
    readers(session, **{"Image\nRetired": 2})  # a choice of a category that no longer exists
    assert previews.find(session, issue, settings, ["Retired", "Image"]).readers == 2
