"""Counting clicks on an issue's comparison links: once per request, not for HEAD,
prefetchers or a scanner's burst; a forged link is a 404; the target is the database's."""
from __future__ import annotations

import re
from datetime import timedelta

from support.issues import FIXED, make_comparison, send_draft

from newsletter.issues import drafts, links
from newsletter.issues.content import load_issue
from newsletter.issues.rendering import render_issue
from newsletter.models import Click
from newsletter.readers import clicks

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126 Safari/537.36"}


def sent_issue(db, settings, count=2):
    """An issue that went out, with `count` comparisons; its id and its comparison ids in order."""
    with db.session() as session:
        for n in range(count):
            make_comparison(session, f"Click{n}", f"Tool{n}", published_at=FIXED - timedelta(hours=n + 1))
        issue = send_draft(session, settings)
        return issue.id, [item.comparison_id for item in issue.items]


def link(settings, issue_id, comparison_id):
    return links.tracked_url("", settings.secret_key, issue_id, comparison_id)


def counted(db, issue_id):
    with db.session() as session:
        return clicks.per_comparison(session, issue_id)


def test_mail_links_go_through_the_counter_and_the_web_version_does_not(db, settings):
    issue_id, (first, second) = sent_issue(db, settings)
    with db.session() as session:
        issue = load_issue(session, issue_id)
        mail, web = render_issue(issue, settings), render_issue(issue, settings, personal=False)
        url = next(item.comparison.url for item in issue.items if item.comparison_id == first)
    assert settings.base_url + link(settings, issue_id, first) in mail.html
    assert settings.base_url + link(settings, issue_id, first) in mail.text
    assert url not in mail.html and url in web.html
    assert "/r/" not in web.html
    assert issue.html and f"/r/{issue_id}/" in issue.html  # the frozen mail is the counted one


def test_a_click_counts_once_and_redirects_to_the_database_target(client, db, settings):
    issue_id, (first, second) = sent_issue(db, settings)
    response = client.get(link(settings, issue_id, first), headers=BROWSER)
    assert response.status_code == 302
    with db.session() as session:
        expected = load_issue(session, issue_id).items[0].comparison.url
    assert response.headers["Location"] == expected
    assert response.headers["Cache-Control"] == "no-store"
    client.get(link(settings, issue_id, first), headers=BROWSER)
    assert counted(db, issue_id) == {first: 2}  # one per request, not one per person


def test_head_and_prefetchers_are_not_counted(client, db, settings):
    issue_id, (first, _) = sent_issue(db, settings)
    url = link(settings, issue_id, first)
    assert client.head(url, headers=BROWSER).status_code == 302
    assert client.get(url, headers={"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}).status_code == 302
    assert client.get(url, headers={**BROWSER, "Sec-Purpose": "prefetch"}).status_code == 302
    assert client.get(url, headers={"User-Agent": ""}).status_code == 302
    assert counted(db, issue_id) == {}
    client.get(url, headers=BROWSER)
    assert counted(db, issue_id) == {first: 1}


def test_a_burst_of_every_link_from_one_address_is_a_scanner(db, settings):
    issue_id, (first, second) = sent_issue(db, settings, count=2)
    scanner, reader = clicks.Request("198.51.100.7", BROWSER["User-Agent"]), clicks.Request("203.0.113.9", "Mozilla")
    with db.session() as session:
        clicks.record(session, settings.secret_key, issue_id, first, reader, now=FIXED)
        clicks.record(session, settings.secret_key, issue_id, first, scanner, now=FIXED)
        clicks.record(session, settings.secret_key, issue_id, second, scanner, now=FIXED + timedelta(milliseconds=300))
        # The same reader opening the other one a minute later is a reader.
        clicks.record(session, settings.secret_key, issue_id, second, reader, now=FIXED + timedelta(minutes=1))
        session.commit()
        assert clicks.per_comparison(session, issue_id) == {first: 1, second: 1}
        assert session.query(Click).filter_by(scanner=True).count() == 2


def test_forged_or_foreign_links_404_and_count_nothing(client, db, settings):
    issue_id, (first, _) = sent_issue(db, settings)
    good = link(settings, issue_id, first)
    forged = re.sub(r"-(.)", lambda m: "-" + ("A" if m.group(1) != "A" else "B"), good)
    assert client.get(forged, headers=BROWSER).status_code == 404
    assert client.get(f"/r/{issue_id}/{first}", headers=BROWSER).status_code == 404
    assert client.get(f"/r/{issue_id}/{first}-https:%2F%2Fevil.test", headers=BROWSER).status_code == 404
    # A valid MAC for a comparison this issue never held, or another issue's link.
    with db.session() as session:
        other = make_comparison(session, "Never", "Sent").id
        session.commit()
    assert client.get(link(settings, issue_id, other), headers=BROWSER).status_code == 404
    assert client.get(link(settings, issue_id + 1, first), headers=BROWSER).status_code == 404
    assert counted(db, issue_id) == {}


def test_preview_clicks_redirect_without_counting(client, db, settings):
    with db.session() as session:
        make_comparison(session, "Draft", "Only")
        issue = drafts.refresh_draft(session, FIXED).issue
        issue_id, comparison_id = issue.id, issue.items[0].comparison_id
        session.commit()
    assert client.get(link(settings, issue_id, comparison_id), headers=BROWSER).status_code == 302
    assert counted(db, issue_id) == {}


def test_issue_page_and_dashboard_show_clicks(editor_client, db, settings):
    issue_id, (first, second) = sent_issue(db, settings)
    for _ in range(3):
        editor_client.get(link(settings, issue_id, second), headers=BROWSER)
    page = editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)
    assert 'id="clicks"' in page and "3 in all" in page
    rows = re.findall(r'<tr class="click-row"><td>(.*?)</td><td data-clicks>(\d+)</td>', page)
    assert [count for _, count in rows] == ["0", "3"]
    dashboard = editor_client.get("/editor/").get_data(as_text=True)
    assert '<td class="issue-clicks">3</td>' in dashboard


def test_sources_are_forgotten(db, settings):
    issue_id, (first, _) = sent_issue(db, settings)
    with db.session() as session:
        clicks.record(session, settings.secret_key, issue_id, first, clicks.Request("192.0.2.1", "Mozilla"), now=FIXED)
        assert clicks.forget_sources(session, now=FIXED + timedelta(minutes=11)) == 1
        session.commit()
        assert session.query(Click).one().source is None
        assert clicks.per_comparison(session, issue_id) == {first: 1}
