"""The public archive: only sent issues, web versions without personal parts, the Atom feed."""
from __future__ import annotations

from xml.etree import ElementTree

from support.issues import FIXED, make_comparison, send_draft

from newsletter.issues import drafts


def sent_issue(db, settings, title=("Sent", "Tool")):
    with db.session() as session:
        make_comparison(session, *title, standfirst="<b>escaped</b> & fine")
        return send_draft(session, settings).number


def test_archive_lists_only_sent_issues(client, db, settings):
    number = sent_issue(db, settings)
    with db.session() as session:
        drafts.refresh_draft(session, FIXED)  # an upcoming draft: not public
        session.commit()
    html = client.get("/archive/").get_data(as_text=True)
    assert f"/archive/{number}" in html and "Sent vs Tool" in html
    assert f"/archive/{number + 1}" not in html
    assert client.get(f"/archive/{number + 1}").status_code == 404


def test_web_version_has_no_personal_parts(client, db, settings):
    number = sent_issue(db, settings)
    response = client.get(f"/archive/{number}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Sent vs Tool" in body
    assert "__UNSUBSCRIBE_URL__" not in body and "__RECIPIENT_EMAIL__" not in body
    assert "Unsubscribe" not in body and "/subscribe" in body
    assert "&lt;b&gt;escaped&lt;/b&gt;" in body
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_atom_feed(client, db, settings):
    number = sent_issue(db, settings)
    response = client.get("/archive/feed.xml")
    assert response.mimetype == "application/atom+xml"
    root = ElementTree.fromstring(response.data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", ns)
    assert len(entries) == 1
    assert entries[0].find("a:title", ns).text == f"#{number}: Sent vs Tool"
    assert entries[0].find("a:link", ns).get("href") == f"{settings.base_url}/archive/{number}"
    content = entries[0].find("a:content", ns).text
    assert "Sent vs Tool" in content and "__UNSUBSCRIBE_URL__" not in content
    # The article, not the email document: a feed reader shows it inside its own page.
    assert content.lstrip().startswith("<article>") and content.rstrip().endswith("</article>")
    for scaffolding in ("<!doctype", "<html", "<head", "<style", "[if mso", "<table"):
        assert scaffolding not in content.lower(), scaffolding
    assert "&lt;b&gt;escaped&lt;/b&gt; &amp; fine" in content  # outside text stays text
    assert entries[0].find("a:summary", ns).text == "<b>escaped</b> & fine"


def test_empty_feed_is_valid(client):
    ElementTree.fromstring(client.get("/archive/feed.xml").data)
