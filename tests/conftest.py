"""Fixtures over real services: PostgreSQL (or SQLite), Redis (or kombu's SQLite
transport), a real SMTP server in-process, real Celery workers, real Chromium.

Which backends: TEST_DATABASE_URL is a PostgreSQL server URL (a fresh database is
created on it for the run and dropped after) or `sqlite` (a temporary file);
TEST_BROKER_URL is a Redis URL or `sqla` (kombu's SQLAlchemy transport on SQLite).
The defaults are this project's CI: PostgreSQL and Redis on 127.0.0.1.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from newsletter import create_app
from newsletter.config import PROJECT_ROOT, load_settings
from newsletter.db import Base, Database
from newsletter.dev.catcher import MailCatcher
from newsletter.mail.transport.relay_state import LocalStore
from newsletter.migrate import upgrade

RUN_ID = secrets.token_hex(4)
DATABASE = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://127.0.0.1:5432/test")
BROKER = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/0")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database of this run's own, migrated with Alembic (the only way the schema is made)."""
    if DATABASE == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        upgrade(url)
        yield url
        return
    admin = sa.create_engine(DATABASE.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    name = f"newsletter_test_{RUN_ID}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory):
    if BROKER == "sqla":
        return f"sqla+sqlite:///{tmp_path_factory.mktemp('broker') / 'broker.sqlite'}"
    return BROKER


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    catcher = MailCatcher(tmp_path_factory.mktemp("mail") / "maildir").start()
    yield catcher
    catcher.stop()


@pytest.fixture
def smtp(smtp_server):
    """The test SMTP server, emptied for this test; `.wait_for()` reads what arrived."""
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


@pytest.fixture
def env(database_url, broker_url, smtp_server):
    """The environment a process of the service gets in these tests."""
    uses_redis = broker_url.startswith("redis")
    return {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "SECRET_KEY": "test-secret-key-0123456789",
        "BASE_URL": "http://newsletter.test",
        "MAIL_FROM": "Weekly AI Tool Verdicts <newsletter@verdicts.test>",
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": "10",
        "API_TOKEN": "test-api-token",
        "RATELIMIT_STORAGE_URI": broker_url if uses_redis else "memory://",
        "REDIS_KEY_PREFIX": f"nltest-{RUN_ID}",
        "COMPARISON_SITE_URL": "https://verdicts.test/comparisons/",
        "POSTAL_ADDRESS": "Weekly AI Tool Verdicts, 1 Test Street, Testville",
    }


@pytest.fixture
def settings(env):
    return load_settings(env)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    _reset(app)


@pytest.fixture
def make_app(env):
    """An app with some settings changed: `make_app(SUBSCRIBE_RATE_LIMIT="3 per minute")`."""
    made = []

    def make(**overrides):
        app = create_app(load_settings({**env, **overrides}))
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        _reset(app)


def _reset(app) -> None:
    """Empty every table and this run's Redis keys, so each test starts clean."""
    db: Database = app.extensions["db"]
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.is_postgresql:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
    db.dispose()
    LocalStore.forget_all()
    settings = app.extensions["settings"]
    if settings.ratelimit_storage_uri.startswith("redis"):
        import redis

        client = redis.Redis.from_url(settings.ratelimit_storage_uri)
        keys = list(client.scan_iter(f"*{settings.redis_key_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def db(app) -> Database:
    return app.extensions["db"]


@pytest.fixture
def session(db):
    with db.session() as session:
        yield session


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client, path: str = "/subscribe") -> str:
    """The CSRF token from a form page, as a browser would have it."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def run_in_threads(count: int, target) -> list:
    """Run `target()` in `count` threads at once, for races; return what each
    returned, or raise what the first one raised."""
    results, errors = [], []

    def run():
        try:
            results.append(target())
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    assert len(results) == count, "a thread did not finish"
    return results


@pytest.fixture
def celery_app(app):
    """The app's Celery, its queues emptied: messages earlier tests published and no
    worker took (welcomes after a confirm, say) must not queue ahead of this test's."""
    from support.delivery import purge_broker

    celery = app.extensions["celery"]
    purge_broker(celery)
    yield celery
    purge_broker(celery)  # nor leave this test's (batch chains, countdowns) to the next


@pytest.fixture
def celery_worker_for():
    """A worker thread for an app made with `make_app` (its own settings)."""
    from contextlib import contextmanager

    from celery.contrib.testing.worker import start_worker

    from workers.audience import start_relay

    @contextmanager
    def start(app):
        celery = app.extensions["celery"]
        celery.control.purge()
        # The scheduler's confirmation relay comes with it: a subscribe publishes nothing.
        stop_relay = start_relay(app)
        try:
            with start_worker(celery, pool="threads", concurrency=2, perform_ping_check=False,
                              shutdown_timeout=20, queues=["mail", "bulk", "default"]) as worker:
                yield worker
        finally:
            stop_relay()

    return start


@pytest.fixture
def celery_worker(app, celery_worker_for):
    """A real worker consuming from the real broker, in threads of this process."""
    with celery_worker_for(app) as worker:
        yield worker


@pytest.fixture
def worker_process(env, celery_app, tmp_path):
    """Start real `celery worker` processes; stopped (or killed) at the end of the test."""
    started: list[subprocess.Popen] = []

    def start(*extra: str, name: str | None = None, env: dict[str, str] = env) -> subprocess.Popen:
        """`env` replaces the test's settings for this worker (the machine's environment stays)."""
        log = open(tmp_path / f"worker-{len(started)}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", "mail,bulk,default",
             "--loglevel", "INFO", "-n", f"{name or 'w' + str(len(started))}-{RUN_ID}@%h", *extra],
            env={**os.environ, **env},
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def scheduler(env, tmp_path):
    """The real scheduler (`celery beat`), whose relays hand new outbox rows and
    feedback entries to the workers."""
    from support import processes

    log = open(tmp_path / "beat.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "celerybeat-schedule")],
        env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    yield proc
    processes.stop(proc)
    log.close()


class LiveServer:
    def __init__(self, app, port: int):
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def live_overrides() -> dict[str, str]:
    """Settings a test module wants its live server to have; override the fixture."""
    return {}


@pytest.fixture
def live_server(env, smtp, celery_worker_for, live_overrides):
    """The app served over real HTTP, with BASE_URL pointing at it, a worker, and
    the inbox page showing what the test SMTP server received."""
    port = free_port()
    app = create_app(load_settings({
        **env, "BASE_URL": f"http://127.0.0.1:{port}", "MAIL_CATCHER_DIR": str(smtp.directory), **live_overrides,
    }))
    server = LiveServer(app, port).start()
    with celery_worker_for(app):
        yield server
    server.stop()
    _reset(app)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (tests/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """Save a full-page screenshot under test-artifacts/screenshots/<test>/NN-<name>.png."""
    folder = ARTIFACTS / "screenshots" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)  # no stale shots from an earlier run
    folder.mkdir(parents=True)
    counter = iter(range(1, 1000))

    def take(page, name: str) -> Path:
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def editor_client(client, db):
    """The test client, logged in as an editor."""
    from support.editors import login, make_editor

    make_editor(db)
    assert login(client).status_code == 302
    return client
