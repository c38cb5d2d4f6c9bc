"""Commands for the audience: purge, and `newsletter subscribers import/export`."""
from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from ..audience import csvfile, exporting, importing, subscriptions
from ..audience.models import ImportStatus, SubscriberImport
from .common import database, settings


@click.command("purge-unconfirmed")
def purge_unconfirmed_command() -> None:
    """Delete subscribers who never confirmed (the scheduler also does this hourly)."""
    days = settings().purge_unconfirmed_after_days
    with database().session() as session:
        count = subscriptions.purge_unconfirmed(session, timedelta(days=days))
        session.commit()
    click.echo(f"purged {count} unconfirmed subscribers")


@click.group("subscribers")
def subscribers_group() -> None:
    """Import and export the subscriber list (CSV)."""


@subscribers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--consent", "consent", default="", metavar="SOURCE",
              help="state that everyone in the file opted in, and where (recorded per row); "
                   "without it, new addresses get a confirmation mail")
def import_command(path: Path, consent: str) -> None:
    """Import subscribers from a CSV: email (required), name, status, consent_source, consent_at."""
    from tqdm import tqdm

    consent = consent.strip()
    if len(consent) > importing.MAX_SOURCE or any(ord(ch) < 32 for ch in consent):
        raise click.BadParameter(f"one line of at most {importing.MAX_SOURCE} characters", param_hint="--consent")
    try:
        checked = importing.check(path.read_bytes())
    except csvfile.FileRejected as exc:
        raise click.ClickException(f"{path}: {exc}; nothing was imported") from None
    db = database()
    try:
        with db.session() as session:
            record = SubscriberImport(filename=path.name[:255], imported_by="command line", consent_source=consent,
                                      status=ImportStatus.RUNNING)
            session.add(record)
            importing.begin(record, checked)
            session.commit()
            with tqdm(total=len(checked.rows), unit="row", desc="importing", dynamic_ncols=True) as bar:
                def after_batch(rows: int) -> None:
                    session.commit()
                    bar.update(rows)

                importing.run(session, settings().secret_key, record, checked, after_batch)
            session.commit()
            for line in record.report.splitlines():
                click.echo(f"{path}: {line}", err=True)
            click.echo(summary(record))
            rejected = record.rejected
    finally:
        db.dispose()
    if rejected:
        sys.exit(1)


def summary(record: SubscriberImport) -> str:
    pending = "" if record.consent_source else "; new addresses get a confirmation mail"
    return (f"import #{record.id}: {record.total_rows} rows: created {record.created}, merged {record.merged}, "
            f"duplicates {record.duplicates}, rejected {record.rejected}{pending}")


@subscribers_group.command("export")
@click.option("--status", default=None, help="only subscribers in this state")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="file to write (default: standard output)")
def export_command(status: str | None, output) -> None:
    """Export subscribers with their consent record as CSV, streamed row by row."""
    try:
        exporting.check_status(status)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--status") from None
    db = database()
    try:
        with db.session() as session:
            for line in exporting.export_lines(session, status):
                output.write(line)
    finally:
        db.dispose()


COMMANDS = [purge_unconfirmed_command, subscribers_group]
