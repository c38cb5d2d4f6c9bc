"""Alembic environment: the URL comes from newsletter.config, like everywhere else."""
from alembic import context

from newsletter import models  # noqa: F401  (registers every table)
from newsletter.config import load_settings
from newsletter.db import Base, UTCDateTime, make_engine
from newsletter.migrate import include_object

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    # Migrations stay plain SQLAlchemy: the UTC handling is Python-side only.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def database_url() -> str:
    # Tests and `newsletter migrate` pass the URL explicitly; the CLI reads settings.
    return config.attributes.get("database_url") or load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, render_item=render_item,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_item=render_item,
                      render_as_batch=True, compare_type=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
