"""Logging an editor in through the real login form."""
from __future__ import annotations

from conftest import csrf_token

from newsletter.editors.accounts import create_editor

PASSWORD = "correct horse battery"


def make_editor(db, email: str = "ed@example.com") -> str:
    with db.session() as session:
        create_editor(session, email, PASSWORD)
        session.commit()
    return email


def login(client, email: str = "ed@example.com", password: str = PASSWORD, next_: str = "", ip: str = "127.0.0.1"):
    token = csrf_token(client, "/editor/login")
    return client.post("/editor/login", data={"csrf_token": token, "email": email, "password": password, "next": next_},
                       environ_base={"REMOTE_ADDR": ip})


def form_token(client, path: str) -> str:
    return csrf_token(client, path)
