"""The database: declarative base, engine, sessions, and the helpers every feature's
models share.

Plain SQLAlchemy 2 rather than a Flask extension, so the Celery workers, the CLI
and Alembic open sessions exactly the way the web app does, and no service needs
Flask to reach the database. The web package adds the per-request session.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations name the same thing on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones and hands back naive values; storing naive UTC and
    re-attaching UTC on the way out lets code compare times the same way on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


def make_engine(url: str, ping_idle_seconds: float = 5.0, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL and a busy timeout let the web app, worker and scheduler of
            # `newsletter dev` share one file; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_engine(url, pool_recycle=1800, **kwargs)
    _ping_when_idle(engine, ping_idle_seconds)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection as it is checked out, but only if it sat idle.

    `pool_pre_ping` would cost a round trip on every request. A connection in use
    moments ago is almost surely alive; one that sat idle through a server restart
    is not, and used unchecked it fails the request with a 500, once per process.
    A failed ping raises `DisconnectionError`, on which the pool connects anew.
    """
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # end the transaction the ping began
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"the idle connection is gone: {exc}") from exc
        if not alive:
            raise DisconnectionError("the idle connection is gone")


class Database:
    def __init__(self, url: str, **engine_kwargs):
        self.engine = make_engine(url, **engine_kwargs)  # ping_idle_seconds, and create_engine's own
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._url, self._engine_kwargs, self._autocommit_engine = url, engine_kwargs, None
        self._lock = threading.Lock()

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection outside any transaction, for a write that is one statement and
        atomic by itself (a webhook's INSERT into the inbox, the engine's write of
        accepted copies): no BEGIN, no COMMIT, one round trip, durable when it returns.
        Its own small pool, whose connections stay in autocommit, so nothing is
        switched back and forth per request."""
        with self._lock:  # the engine's writer thread and a web request may both come first
            if self._autocommit_engine is None:
                self._autocommit_engine = make_engine(self._url, isolation_level="AUTOCOMMIT", pool_size=2,
                                                      **self._engine_kwargs)
        with self._autocommit_engine.connect() as connection:
            yield connection

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for workers and the CLI; the caller commits."""
        session = self.sessionmaker()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._autocommit_engine is not None:
            self._autocommit_engine.dispose()


def insert_for(session: Session):
    """The session's dialect `insert`, which has ON CONFLICT (both backends)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def quoted(values: Iterable[str]) -> str:
    """`'a', 'b'`: values for a SQL `IN (...)` written into DDL."""
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def enum_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    """A CHECK that `column` holds one of the enum's values, written from the enum,
    so a state added to the enum and to a migration can never be refused by a
    constraint typed out by hand."""
    return CheckConstraint(f"{column} IN ({quoted(enum)})", name=column)


def init_app(app) -> None:
    """Give the app its `Database`; the web package adds the per-request session."""
    settings = app.extensions["settings"]
    app.extensions["db"] = Database(settings.database_url, ping_idle_seconds=settings.db_ping_idle_seconds)
