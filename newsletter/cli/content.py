"""Commands for what goes into an issue: comparisons, the draft, editor accounts."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..comparisons.importer import import_paths
from ..editors.accounts import EditorError, create_editor, list_editors, remove_editor, set_password
from ..issues.content import included_items
from ..issues.drafts import refresh_draft
from .common import database, settings


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_command(paths: tuple[Path, ...]) -> None:
    """Import comparisons: pages (.txt), JSON (.json), or folders of them."""
    db = database()
    try:
        summary = import_paths(db, settings(), paths)
    finally:
        db.dispose()
    click.echo(summary.line())
    if summary.rejected:
        sys.exit(1)


@click.command("create-editor")
@click.argument("email")
@click.password_option(prompt="Password (at least 10 characters)")
def create_editor_command(email: str, password: str) -> None:
    """Create an editor account; asks for the password twice, without echo."""
    with database().session() as session:
        try:
            editor = create_editor(session, email, password)
        except EditorError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"editor {editor.email} created")


@click.command("editor-password")
@click.argument("email")
@click.password_option(prompt="New password (at least 10 characters)")
def editor_password_command(email: str, password: str) -> None:
    """Give an editor a new password; every session they have ends."""
    with database().session() as session:
        try:
            set_password(session, email, password)
        except EditorError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(f"password of {email} changed; their sessions have ended")


@click.command("list-editors")
def list_editors_command() -> None:
    """List the editor accounts and when each last logged in."""
    with database().session() as session:
        for editor in list_editors(session):
            last = editor.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if editor.last_login_at else "never"
            click.echo(f"{editor.email}\tlast login: {last}")


@click.command("remove-editor")
@click.argument("email")
def remove_editor_command(email: str) -> None:
    """Remove an editor account; their open sessions end with it."""
    with database().session() as session:
        if not remove_editor(session, email):
            raise click.ClickException(f"no editor {email}")
        session.commit()
    click.echo(f"editor {email} removed")


@click.command("draft")
def draft_command() -> None:
    """Run the draft step now: make or update the one upcoming issue."""
    with database().session() as session:
        result = refresh_draft(session)
        session.commit()
        if result.skipped is not None:
            click.echo(f"issue #{result.skipped.number} skipped: {result.skipped.skip_reason}")
        issue = result.issue
        click.echo(f"issue #{issue.number} ({issue.status}): {len(included_items(issue))} comparisons, "
                   f"{result.added} added now")


COMMANDS = [import_command, create_editor_command, editor_password_command, list_editors_command,
            remove_editor_command, draft_command]
