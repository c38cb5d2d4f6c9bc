"""Apply Alembic migrations: the only way the schema is made or changed."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from .config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


# Expression indexes autogenerate cannot compare faithfully; written by hand in the
# migrations and checked by behaviour in the tests.
HAND_WRITTEN_INDEXES = {"uq_issues_one_upcoming", "ix_subscribers_email_key_prefix"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in HAND_WRITTEN_INDEXES)
