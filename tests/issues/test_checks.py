"""Pre-flight checks: size, no comparisons, links, subject."""
from __future__ import annotations

from support.issues import FIXED, make_comparison

from newsletter.issues import drafts
from newsletter.issues.checks import GMAIL_CLIP_BYTES, failing, links_in, run_checks
from newsletter.issues.rendering import render_issue


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
