"""``chainwatch export``: evidence as CSV, JSON lines or STIX 2.1, with a manifest.

``chainwatch export --format csv --out DIR`` writes an export (the group's own callback runs
when no subcommand is given); ``chainwatch export verify DIR`` checks one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from chainwatch.categories import CATEGORIES, COINS
from chainwatch.cli import app, state
from chainwatch.errors import ChainwatchError, UsageError
from chainwatch.export import FORMATS
from chainwatch.registry import listing

export_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(export_app, name="export")


class VerifyFailed(ChainwatchError):
    """An export no longer matches its manifest."""


def _time(option: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {value!r}: expected a date or ISO-8601 time (2019-05-01, 2019-05-01T12:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)  # dates and zone-less times are UTC by contract
    return parsed.astimezone(dt.UTC)


@export_app.callback()
def export_command(
    ctx: typer.Context,
    out: Annotated[
        str | None, typer.Option("--out", help="Directory to write (must be empty unless --force).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help=f"Exporter: {listing(FORMATS.values())}.")
    ] = "csv",
    watchlist: Annotated[
        list[str] | None, typer.Option("--watchlist", help="Only this watchlist. Repeatable.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this UTC date/time (inclusive).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this UTC date/time (exclusive).")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only this category. Repeatable.")
    ] = None,
    coin: Annotated[
        list[str] | None,
        typer.Option("--coin", help=f"Only this coin ({', '.join(COINS)}). Repeatable."),
    ] = None,
    detector: Annotated[
        list[str] | None, typer.Option("--detector", help="Only this detector. Repeatable.")
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option("--min-confidence", help="Only events with at least this confidence (0-1)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing export in --out.")
    ] = False,
) -> None:
    """Write evidence (CSV, JSON lines, STIX 2.1) with a manifest of hashes.

    Examples:

      chainwatch export --format csv --out evidence/ --watchlist kp --since 2019-01-01

      chainwatch export verify evidence/
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise UsageError("export: --out DIR is required (or: chainwatch export verify DIR)")
    from chainwatch.export.run import run_export
    from chainwatch.store.db import open_store
    from chainwatch.store.evidence import EvidenceQuery

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    for name in category or []:
        if name not in CATEGORIES:
            raise UsageError(f"--category {name!r}: expected one of {', '.join(CATEGORIES)}")
    for name in coin or []:
        if name not in COINS:
            raise UsageError(f"--coin {name!r}: expected one of {', '.join(COINS)}")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise UsageError(f"--min-confidence {min_confidence}: expected a number from 0 to 1")
    query = EvidenceQuery(
        watchlists=tuple(watchlist or ()),
        since=_time("--since", since),
        until=_time("--until", until),
        categories=tuple(category or ()),
        coins=tuple(coin or ()),
        detectors=tuple(detector or ()),
        min_confidence=min_confidence,
    )
    store = open_store(state(ctx).settings.db)
    try:
        summary = run_export(store, query, fmt, Path(out), force=force)
    finally:
        store.close()
    files = ", ".join(f"{f['path']} ({f['records']} records)" for f in summary.files)
    typer.echo(
        f"exported {summary.records} events from {summary.inputs} input files to {out}: "
        f"{files}, manifest.json"
    )


@export_app.command("verify")
def verify_command(directory: Annotated[Path, typer.Argument(help="An export directory.")]) -> None:
    """Recompute the manifest's hashes, sizes and record counts and say what differs.

    Example:

      chainwatch export verify evidence/
    """
    from chainwatch.export.manifest import verify

    result = verify(directory)
    for problem in result.problems:
        typer.echo(f"differs: {problem}")
    if not result.ok:
        raise VerifyFailed(f"{directory}: {len(result.problems)} difference(s) from manifest.json")
    typer.echo(f"ok: {result.checked} file(s) match manifest.json")
