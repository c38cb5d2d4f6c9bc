"""Choosing categories: on the subscribe form (when there is more than one), on the
manage page; "all" by default; a resubscription keeps the choice; unknown is refused."""
from __future__ import annotations

from conftest import csrf_token
from support.audience import make_subscriber
from support.issues import make_comparison

from newsletter.audience.subscriptions import unsubscribe
from newsletter.models import Subscriber
from newsletter.readers import categories


def categorised(db, *names):
    with db.session() as session:
        for n, name in enumerate(names):
            comparison = make_comparison(session, f"{name} A{n}", f"{name} B{n}")
            for tool in comparison.tools:
                tool.category = name
        session.commit()


def subscriber(db, email):
    with db.session() as session:
        return session.query(Subscriber).filter_by(email=email).one()


def subscribe(client, email, *picked):
    data = {"csrf_token": csrf_token(client), "email": email, "name": "", "category": list(picked)}
    return client.post("/subscribe", data=data)


def test_form_offers_categories_only_when_there_are_several(client, db):
    categorised(db, "Developer Tools")
    assert 'id="categories"' not in client.get("/subscribe").get_data(as_text=True)
    categorised(db, "Image")
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'id="categories"' in page and 'value="Image"' in page and 'id="category-all" checked' in page


def test_subscribe_with_a_choice_and_all_by_default(client, db):
    categorised(db, "Developer Tools", "Image", "Writing")
    assert subscribe(client, "picky@example.com", "Writing", "Image").status_code == 200
    assert subscriber(db, "picky@example.com").categories == "Image\nWriting"
    subscribe(client, "everything@example.com")
    subscribe(client, "both@example.com", "*", "Image")
    subscribe(client, "ticked-all@example.com", "Developer Tools", "Image", "Writing")
    for email in ("everything@example.com", "both@example.com", "ticked-all@example.com"):
        assert subscriber(db, email).categories == categories.ALL


def test_unknown_category_is_refused_and_stores_nothing(client, db):
    categorised(db, "Developer Tools", "Image")
    response = subscribe(client, "odd@example.com", "Image", "<script>alert(1)</script>")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Unknown category: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page  # the form's own script is the only one
    with db.session() as session:
        assert session.query(Subscriber).count() == 0


def test_categories_survive_resubscription(client, db):
    categorised(db, "Developer Tools", "Image")
    with db.session() as session:
        ada = make_subscriber(session, categories="Image")
        unsubscribe(session, ada)
        session.commit()
    subscribe(client, "ada@example.com", "Developer Tools")  # the form is not their authority to change it
    ada = subscriber(db, "ada@example.com")
    assert ada.categories == "Image" and ada.status == "pending"


def test_manage_page_changes_categories(client, db):
    categorised(db, "Developer Tools", "Image")
    with db.session() as session:
        ada = make_subscriber(session)
        session.commit()
        path = f"/manage/{ada.id}/{ada.manage_token}"
    page = client.get(path).get_data(as_text=True)
    assert 'id="categories-form"' in page and 'id="category-all" checked' in page
    token = csrf_token(client, path)
    response = client.post(path + "/categories", data={"csrf_token": token, "category": ["Image"]})
    assert response.status_code == 302
    assert subscriber(db, "ada@example.com").categories == "Image"
    page = client.get(path).get_data(as_text=True)
    assert 'value="Image" class="category-choice" checked' in page and 'id="category-all" checked' not in page
    bad = client.post(path + "/categories", data={"csrf_token": token, "category": ["Nope"]})
    assert bad.status_code == 400 and subscriber(db, "ada@example.com").categories == "Image"
    client.post(path + "/categories", data={"csrf_token": token, "category": ["*"]})
    assert subscriber(db, "ada@example.com").categories == categories.ALL
    assert client.post(path + "/categories", data={"category": ["Image"]}).status_code == 400  # no CSRF token
