"""What every command needs: the settings, named when one is wrong, and the database."""
from __future__ import annotations

import click

from ..config import ConfigError, Settings, load_settings
from ..db import Database


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def database() -> Database:
    return Database(settings().database_url)
