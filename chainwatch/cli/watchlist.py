"""``chainwatch watchlist``: list, show and check watchlists and endpoint catalogs."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from chainwatch.cli import app, state
from chainwatch.watchlists import load_watchlists

watchlist_app = typer.Typer(
    help="List, show and check watchlists and endpoint catalogs.", no_args_is_help=True
)
app.add_typer(watchlist_app, name="watchlist")


@watchlist_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List the watchlists and endpoint catalogs.

    Example: chainwatch --watchlists watchlists watchlist list
    """
    loaded = load_watchlists(state(ctx).settings.watchlists)
    table = Table(title=f"watchlists in {loaded.directory}", title_justify="left")
    for column in ("name", "file", "ranges", "dated", "IPv4 addresses", "description"):
        table.add_column(column)
    for w in loaded.watchlists:
        v4 = w.table.version == 4
        sizes = np.left_shift(1, 32 - w.table.prefix[v4].astype(np.int64))
        table.add_row(
            w.name,
            w.path.name,
            f"{len(w.table):,}",
            f"{int(w.table.dated.sum()):,}",
            f"{int(sizes.sum()):,}",
            w.description or "",
        )
    console = Console()
    console.print(table)
    if loaded.catalogs:
        catalogs = Table(title="endpoint catalogs", title_justify="left")
        for column in ("catalog", "endpoints", "categories"):
            catalogs.add_column(column)
        for catalog in loaded.catalogs:
            categories = sorted({e.category for e in catalog.endpoints})
            catalogs.add_row(catalog.name, str(len(catalog.endpoints)), ", ".join(categories))
        console.print(catalogs)


@watchlist_app.command("show")
def show_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Watchlist name (file stem).")]
) -> None:
    """Show one watchlist's ranges with their notes, sources and validity windows.

    Example: chainwatch watchlist show kp
    """
    watchlist = load_watchlists(state(ctx).settings.watchlists).get(name)
    console = Console()
    console.print(f"[bold]{watchlist.name}[/bold]  ({watchlist.path})")
    if watchlist.description:
        console.print(f"description: {watchlist.description}", markup=False)
    if watchlist.source:
        console.print(f"source: {watchlist.source}", markup=False)
    table = Table()
    # Window and source columns only when the list has them, to keep plain lists narrow.
    dated = bool(watchlist.table.dated.any())
    sourced = any(watchlist.table.sources)
    table.add_column("cidr")
    table.add_column("addresses")
    if dated:  # a date window is 22 characters: never cut
        table.add_column("valid (UTC, inclusive)", min_width=22, overflow="fold")
    table.add_column("note")
    if sourced:
        table.add_column("source")
    for item in watchlist.ranges:
        cells = [item.cidr, f"{item.network.num_addresses:,}"] + [item.window] * dated
        table.add_row(*cells, item.note or "", *[item.source or ""] * sourced)
    console.print(table)


@watchlist_app.command("check")
def check_command(ctx: typer.Context) -> None:
    """Validate every watchlist and catalog; exit 1 with the first problem (file and line).

    Example: chainwatch --watchlists ./my-lists watchlist check
    """
    loaded = load_watchlists(state(ctx).settings.watchlists)
    ranges = sum(len(w.table) for w in loaded.watchlists)
    dated = sum(int(w.table.dated.sum()) for w in loaded.watchlists)
    endpoints = len(loaded.endpoints)
    typer.echo(
        f"{loaded.directory}: {len(loaded.watchlists)} watchlists with {ranges} ranges "
        f"({dated} dated), "
        f"{len(loaded.catalogs)} catalogs with {endpoints} endpoints: OK"
    )
