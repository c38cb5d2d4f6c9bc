"""Commands for the audience."""
from __future__ import annotations

from datetime import timedelta

import click

from ..audience import subscriptions
from .common import database, settings


@click.command("purge-unconfirmed")
def purge_unconfirmed_command() -> None:
    """Delete subscribers who never confirmed (the scheduler also does this hourly)."""
    days = settings().purge_unconfirmed_after_days
    with database().session() as session:
        count = subscriptions.purge_unconfirmed(session, timedelta(days=days))
        session.commit()
    click.echo(f"purged {count} unconfirmed subscribers")


COMMANDS = [purge_unconfirmed_command]
