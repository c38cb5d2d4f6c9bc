"""Editor accounts and login: hashing, sessions, CSRF, failed-login limits, `next`."""
from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from conftest import csrf_token, run_in_threads
from support.editors import PASSWORD, login, make_editor

from newsletter.cli import main as cli
from newsletter.editors import accounts
from newsletter.issues import drafts
from newsletter.web.editor.auth import safe_next


def test_passwords_are_argon2_hashed(db):
    make_editor(db)
    with db.session() as session:
        editor = accounts.find_editor(session, "ED@example.com")
        assert editor.password_hash.startswith("$argon2id$")
        assert accounts.authenticate(session, "ed@example.com", PASSWORD) is not None
        assert accounts.authenticate(session, "ed@example.com", "wrong password") is None
        assert accounts.authenticate(session, "nobody@example.com", PASSWORD) is None


def test_editor_area_needs_login(client):
    response = client.get("/editor/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/editor/login?next=/editor/")


def test_login_renews_the_session_and_logout_ends_it(client, db):
    make_editor(db)
    with client.session_transaction() as flask_session:
        flask_session["planted"] = "by an attacker"
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/editor/"
    with client.session_transaction() as flask_session:
        assert "planted" not in flask_session and flask_session["editor_id"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/editor/").status_code == 200
    token = csrf_token(client, "/editor/")
    copied = client.get_cookie("session").value  # someone copied the cookie before logout
    response = client.post("/editor/logout", data={"csrf_token": token}, follow_redirects=True)
    assert "You are logged out." in response.get_data(as_text=True)
    assert client.get("/editor/").status_code == 302
    client.set_cookie("session", copied)
    assert client.get("/editor/").status_code == 302, "a cookie from before the logout opens nothing"


def test_a_new_password_ends_every_session(client, db, env, monkeypatch):
    make_editor(db)
    login(client)
    assert client.get("/editor/").status_code == 200
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["editor-password", "ed@example.com"], input="a new password\na new password\n")
    assert result.exit_code == 0, result.output
    assert client.get("/editor/").status_code == 302
    assert login(client, password="a new password").status_code == 302


def test_secure_cookie_when_base_url_is_https(env):
    from newsletter import create_app
    from newsletter.config import load_settings

    app = create_app(load_settings({**env, "BASE_URL": "https://newsletter.test"}))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_wrong_password_is_refused(client, db):
    make_editor(db)
    response = login(client, password="not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_removed_editor_is_logged_out(client, db):
    make_editor(db)
    login(client)
    with db.session() as session:
        accounts.remove_editor(session, "ed@example.com")
        session.commit()
    assert client.get("/editor/").status_code == 302


def test_login_without_csrf_token_is_refused(client, db):
    make_editor(db)
    response = client.post("/editor/login", data={"email": "ed@example.com", "password": PASSWORD})
    assert response.status_code == 400
    with client.session_transaction() as flask_session:
        assert "editor_id" not in flask_session


def test_editor_forms_need_csrf(client, db, session):

    make_editor(db)
    login(client)
    issue = drafts.refresh_draft(session).issue
    session.commit()
    for path in (f"/editor/issues/{issue.id}", f"/editor/issues/{issue.id}/schedule",
                 f"/editor/issues/{issue.id}/test", "/editor/schedule", "/editor/logout"):
        assert client.post(path, data={"subject": "x", "when": "now", "addresses": "a@example.org"}).status_code == 400, path


def test_failed_logins_are_limited_per_account_and_client(client, db, app):
    make_editor(db)
    for _ in range(5):
        assert login(client, password="wrong").status_code == 401
    response = login(client)  # even the right password waits now, from here
    assert response.status_code == 429
    assert "Too many failed logins" in response.get_data(as_text=True)
    other = make_editor(db, "other@example.com")
    assert login(client, email=other).status_code == 302  # other accounts are not locked
    # Knowing the address is not enough to lock the editor out: from their own machine they log in.
    assert login(app.test_client(), ip="198.51.100.7").status_code == 302


def test_forty_guesses_at_once_check_at_most_five_passwords(app, db, monkeypatch):
    make_editor(db)
    checked = []
    real = accounts.authenticate

    def counting(*args, **kwargs):
        checked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts, "authenticate", counting)
    clients = [app.test_client() for _ in range(40)]
    tokens = iter([csrf_token(c, "/editor/login") for c in clients])
    pairs = list(zip(clients, tokens))
    lock = threading.Lock()

    def guess():
        with lock:
            guest, token = pairs.pop()
        return guest.post("/editor/login", data={"csrf_token": token, "email": "ed@example.com",
                                                 "password": "a wrong guess"}).status_code

    codes = run_in_threads(40, guess)
    assert len(checked) == 5 and sorted(set(codes)) == [401, 429] and codes.count(401) == 5


def test_failed_logins_are_limited_per_client(client, db):
    make_editor(db)
    for n in range(20):
        assert login(client, email=f"guess{n}@example.com", password="wrong").status_code == 401
    assert login(client).status_code == 429


def test_successful_logins_do_not_count(client, db):
    make_editor(db)
    for _ in range(8):
        assert login(client).status_code == 302


@pytest.mark.parametrize("target", [
    "//evil.test/", "https://evil.test/", "http:evil.test", "/\\evil.test", "\\\\evil.test", "evil.test",
    "/%0a/evil.test".replace("%0a", "\n"), "javascript:alert(1)", "",
])
def test_next_never_leaves_the_app(client, db, target):
    assert safe_next(target) is None
    make_editor(db)
    response = login(client, next_=target)
    assert response.headers["Location"] == "/editor/"


def test_next_within_the_app_is_followed(client, db):
    assert safe_next("/editor/schedule?x=1") == "/editor/schedule?x=1"
    make_editor(db)
    assert login(client, next_="/editor/schedule").headers["Location"] == "/editor/schedule"


def test_cli_creates_lists_and_removes_editors(env, db, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    result = runner.invoke(cli, ["create-editor", "New@Example.com"], input="long enough pw\nlong enough pw\n")
    assert result.exit_code == 0, result.output
    assert "long enough pw" not in result.output.replace("Password", "")
    result = runner.invoke(cli, ["create-editor", "x@example.com"], input="short\nshort\n")
    assert result.exit_code != 0 and "at least 10" in result.output
    result = runner.invoke(cli, ["list-editors"])
    assert "new@example.com" in result.output and "never" in result.output
    assert runner.invoke(cli, ["remove-editor", "new@example.com"]).exit_code == 0
    assert "new@example.com" not in runner.invoke(cli, ["list-editors"]).output
    assert runner.invoke(cli, ["remove-editor", "new@example.com"]).exit_code != 0


def test_cli_draft_runs_the_draft_step(env, db, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["draft"])
    assert result.exit_code == 0, result.output
    assert "issue #1 (draft): 0 comparisons" in result.output
