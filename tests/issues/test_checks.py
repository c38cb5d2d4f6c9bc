"""Pre-flight checks: size, no comparisons, links, subject."""
from __future__ import annotations

from datetime import timedelta

from support.issues import FIXED, make_comparison

from newsletter.issues import drafts
from newsletter.issues.checks import GMAIL_CLIP_BYTES, failing, links_in, run_checks
from newsletter.issues.content import included_items
from newsletter.issues.preview import preview_of
from newsletter.issues.rendering import render_issue
from newsletter.mail.rendering import RenderError


def checks_for(issue, settings) -> dict[str, bool]:
    return {c.key: c.ok for c in run_checks(issue, render_issue(issue, settings), settings.base_url)}


def test_a_normal_issue_passes(session, settings):
    make_comparison(session)
    issue = drafts.refresh_draft(session, FIXED).issue
    assert checks_for(issue, settings) == {"subject": True, "comparisons": True, "size": True, "links": True}


def test_no_comparisons_and_no_subject_fail(session, settings):
    issue = drafts.refresh_draft(session, FIXED).issue
    result = run_checks(issue, render_issue(issue, settings), settings.base_url)
    assert {c.key: c.ok for c in result} == {"subject": False, "comparisons": False, "size": True, "links": True}
    assert any("no comparisons" in line for line in failing(result))
    drafts.update_content(issue, subject="A subject", preheader="", intro="", intro_format="text")
    assert checks_for(issue, settings)["subject"]


def test_html_over_102_kb_fails(session, settings):
    make_comparison(session)
    issue = drafts.refresh_draft(session, FIXED).issue
    drafts.update_content(issue, subject="", preheader="", intro="word " * (GMAIL_CLIP_BYTES // 5), intro_format="text")
    result = run_checks(issue, render_issue(issue, settings), settings.base_url)
    size = next(c for c in result if c.key == "size")
    assert not size.ok and "clip" in size.detail


def test_links_that_are_not_absolute_http_fail(session, settings):
    make_comparison(session, url="/comparisons/relative")
    issue = drafts.refresh_draft(session, FIXED).issue
    assert checks_for(issue, settings)["links"] is False
    drafts.update_content(issue, subject="", preheader="", intro="[see](mailto:x@example.com)", intro_format="markdown")
    result = run_checks(issue, render_issue(issue, settings), settings.base_url)
    detail = next(c for c in result if c.key == "links").detail
    assert "about:invalid" in detail and "mailto:x@example.com" in detail


def test_links_in_finds_hrefs_and_srcs():
    assert links_in('<a href="https://a">x</a><img src="/b"><a name="n">') == ["https://a", "/b"]


def test_a_variant_is_judged_by_its_own_subject_and_comparisons(session, settings):
    """A category variant holds some of the comparisons: its count and subject are its own."""
    make_comparison(session, "Lead", "One", published_at=FIXED - timedelta(hours=1))
    make_comparison(session, "Second", "Two", published_at=FIXED - timedelta(hours=2))
    issue = drafts.refresh_draft(session, FIXED).issue
    part = [item for item in issue.items if item.comparison.title == "Second vs Two"]
    result = {c.key: c for c in run_checks(issue, render_issue(issue, settings, items=part), settings.base_url, part)}
    assert result["comparisons"].detail == "1 comparison."
    assert all(c.ok for c in result.values())
    assert run_checks(issue, render_issue(issue, settings, items=[]), settings.base_url, [])[1].ok is False


def test_a_render_error_in_any_rendering_is_the_previews_answer(session, settings):
    make_comparison(session)
    issue = drafts.refresh_draft(session, FIXED).issue

    def broken():
        raise RenderError("issue.mjml: unexpected tag")

    result = preview_of(issue, settings, broken, included_items(issue))
    assert result.mail is None and result.failing == ["The email cannot be rendered: issue.mjml: unexpected tag"]
