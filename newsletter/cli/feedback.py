"""`newsletter bounces`: the receiver (and, with BOUNCE_IMAP_URL, the mailbox poller)
for the mail that comes back after the relay."""
from __future__ import annotations

import logging

import click

from .common import database, settings


@click.command("bounces")
@click.option("--listen", default=None, help="host:port (default BOUNCE_LISTEN)")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="receiver processes sharing the port, one core each")
def bounces_command(listen: str | None, processes: int) -> None:
    """Receive bounces, complaints and auto-replies for BOUNCE_DOMAIN over SMTP."""
    from ..feedback import receiver

    s = settings()
    if not s.bounce_domain:
        raise click.ClickException("BOUNCE_DOMAIN is not set: there is no bounce address to receive for")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if s.bounce_imap_url:
        from ..feedback import imap

        imap.start_polling(database(), s)
    if processes == 1:
        receiver.serve(database(), s, listen)
    else:
        raise SystemExit(receiver.serve_many(s, processes, listen))


COMMANDS = [bounces_command]
