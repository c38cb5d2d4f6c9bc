"""The connection pool across a database restart, on the real PostgreSQL."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.postgresql_only


def _kill_pooled_connection(app, database_url: str) -> None:
    """What a server restart does to a pooled connection: the server end is gone."""
    with app.extensions["db"].engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    admin_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_restart_costs_no_request_once_the_connection_was_idle(make_app, database_url):
    """Without a ping the first request after a restart answered 500, once per process."""
    app = make_app(DB_PING_IDLE_SECONDS="0.5")
    client = app.test_client()
    assert client.get("/archive/").status_code == 200
    _kill_pooled_connection(app, database_url)
    time.sleep(0.6)
    assert client.get("/archive/").status_code == 200


def test_busy_connections_are_not_pinged(make_app, database_url):
    """The ping is only for idle connections: within the idle time nothing is sent
    before the request's own statements, which is why the dead one fails here."""
    app = make_app(DB_PING_IDLE_SECONDS="60")
    client = app.test_client()
    assert client.get("/archive/").status_code == 200
    _kill_pooled_connection(app, database_url)
    with pytest.raises(Exception, match="terminat|closed|connection"):
        client.get("/archive/")
    assert client.get("/archive/").status_code == 200  # and the pool recovers right after
