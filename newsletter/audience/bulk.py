"""Many new subscribers in one statement, for imports.

On PostgreSQL the rows go in as one array per column through `unnest`, so a
batch of thousands is one short statement with a few parameters (a multi-row
VALUES list would be tens of thousands of parameters for the driver to parse);
elsewhere it is an executemany. Either way ON CONFLICT DO NOTHING leaves an
address that subscribed through the form meanwhile as it is, and RETURNING says
which rows went in.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, Integer, String, Text, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from ..db import insert_for
from .models import Subscriber

_s = Subscriber.__table__
# Every column but the id: a row must say each one, as the database has few defaults.
COLUMNS = [c for c in _s.columns if c.name != "id"]


def _array_type(column) -> str:
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, DateTime):
        return "timestamp[]"
    if isinstance(kind, Integer):
        return "int[]"
    if isinstance(kind, (String, Text)):
        return "text[]"
    raise TypeError(f"no array type for {column.name}")


def _naive_utc(value):
    return value.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(value, datetime) else value


def _unnest_statement() -> str:
    names = ", ".join(c.name for c in COLUMNS)
    arrays = ", ".join(f"CAST(:{c.name} AS {_array_type(c)})" for c in COLUMNS)
    return (f"INSERT INTO subscribers ({names}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT (email_key) DO NOTHING RETURNING email_key, status")


UNNEST = _unnest_statement()


def insert_new(session: Session, rows: list[dict]) -> list[tuple[str, str]]:
    """Insert rows that give every column without a plain default (a column a later
    feature adds with one takes it); return (email_key, status) of those stored."""
    if not rows:
        return []
    missing = {c.name for c in COLUMNS} - set(rows[0])
    defaults = {c.name: c.default.arg for c in COLUMNS
                if c.name in missing and c.default is not None and c.default.is_scalar}
    if missing - set(defaults):
        raise ValueError(f"rows lack {sorted(missing - set(defaults))}")
    rows = [{**defaults, **row} for row in rows] if defaults else rows
    if session.get_bind().dialect.name == "postgresql":
        params = {c.name: [_naive_utc(row[c.name]) for row in rows] for c in COLUMNS}
        return [tuple(r) for r in session.execute(text(UNNEST), params)]
    stmt = insert_for(session)(_s).on_conflict_do_nothing(index_elements=["email_key"])
    return [tuple(r) for r in session.execute(stmt.returning(_s.c.email_key, _s.c.status), rows)]
