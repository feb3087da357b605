"""``chainwatch db``: create, migrate and inspect the database."""

from __future__ import annotations

import typer

from chainwatch.cli import app, state

db_app = typer.Typer(help="Create, migrate and inspect the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Create or migrate the database to the newest schema.

    Example: chainwatch --db postgresql+psycopg://chainwatch@localhost/chainwatch db upgrade
    """
    from chainwatch.store.db import current_revision, make_engine, redact, reporting_errors, upgrade

    url = state(ctx).settings.db
    engine = make_engine(url)
    try:
        with reporting_errors(url):
            before = current_revision(engine)
            upgrade(engine, url)
            after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{redact(url)} is at {after} (head); nothing to do")
    else:
        typer.echo(f"{redact(url)} upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Show the database's schema revision and whether it is the newest.

    Example: chainwatch db current
    """
    from chainwatch.store.db import (
        current_revision,
        head_revision,
        make_engine,
        redact,
        reporting_errors,
    )

    url = state(ctx).settings.db
    engine = make_engine(url)
    try:
        with reporting_errors(url):
            revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    note = "(head)" if revision == head else f"(head is {head}; run: chainwatch db upgrade)"
    typer.echo(f"{redact(url)}: {revision or 'empty'} {note}")
