"""``chainwatch watchlist``: list, show, check and import watchlists and endpoint catalogs."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chainwatch.cli import app, state
from chainwatch.errors import UsageError, WatchlistError
from chainwatch.imports.watchlist_blocks import FORMATS, Selection, addresses_text

if TYPE_CHECKING:
    from chainwatch.imports.list_info import ListInfo

watchlist_app = typer.Typer(
    help="List, show, check and import watchlists and endpoint catalogs.", no_args_is_help=True
)
app.add_typer(watchlist_app, name="watchlist")


@watchlist_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List the watchlists and endpoint catalogs.

    Example: chainwatch --watchlists watchlists watchlist list
    """
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from chainwatch.imports.list_info import describe
    from chainwatch.watchlists import load_watchlists

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
    # Plain lines, not table cells: a span and a list of files must not be folded.
    typer.echo("spans and sources:")
    for info in describe(loaded):
        typer.echo(
            f"  {info.kind} {info.name}: span {info.span_text()}; sources {info.sources_text()}"
        )


@watchlist_app.command("show")
def show_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Watchlist name (file stem).")]
) -> None:
    """Show one watchlist's ranges with their notes, sources and validity windows.

    Example: chainwatch watchlist show kp
    """
    from rich.console import Console
    from rich.table import Table

    from chainwatch.imports.list_info import catalog_info, watchlist_info
    from chainwatch.watchlists import load_watchlists

    loaded = load_watchlists(state(ctx).settings.watchlists)
    catalog = next((c for c in loaded.catalogs if c.name == name), None)
    if catalog is not None and name not in {w.name for w in loaded.watchlists}:
        categories = sorted({e.category for e in catalog.endpoints})
        typer.echo(f"{catalog.name}  ({catalog.path})")
        typer.echo(f"catalog of {len(catalog.endpoints):,} endpoints: {', '.join(categories)}")
        _provenance(catalog_info(catalog))
        return
    try:
        watchlist = loaded.get(name)
    except WatchlistError as exc:
        if not loaded.catalogs:
            raise
        catalogs = ", ".join(c.name for c in loaded.catalogs)
        raise WatchlistError(
            loaded.directory,
            exc.problem,
            expected=f"{exc.expected}; or a catalog: {catalogs}",
        ) from None
    console = Console()
    console.print(f"[bold]{watchlist.name}[/bold]  ({watchlist.path})")
    if watchlist.description:
        console.print(f"description: {watchlist.description}", markup=False)
    if watchlist.source:
        console.print(f"source: {watchlist.source}", markup=False)
    _provenance(watchlist_info(watchlist))
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
    from chainwatch.watchlists import load_watchlists

    loaded = load_watchlists(state(ctx).settings.watchlists)
    ranges = sum(len(w.table) for w in loaded.watchlists)
    dated = sum(int(w.table.dated.sum()) for w in loaded.watchlists)
    endpoints = len(loaded.endpoints)
    typer.echo(
        f"{loaded.directory}: {len(loaded.watchlists)} watchlists with {ranges} ranges "
        f"({dated} dated), "
        f"{len(loaded.catalogs)} catalogs with {endpoints} endpoints: OK"
    )


def _provenance(info: ListInfo) -> None:
    """The span and the source files of a watchlist or catalog, one plain line each."""
    typer.echo(f"span: {info.span_text()}")
    if info.imported_at is not None:
        at = info.imported_at.isoformat().replace("+00:00", "Z")
        typer.echo(f"imported: {at} ({info.command})")
    for source in info.sources:
        if "problem" in source:
            typer.echo(f"sources unknown: {source['problem']}")
        if "sha256" in source:
            typer.echo(
                f"source file: {source['name']} ({source['size']:,} bytes, "
                f"sha256 {source['sha256']})"
            )


_IMPORT_HELP = (
    "Import registry, GeoLite2, pfx2as or plain-list ranges into watchlists/NAME.csv.\n\n"
    "A range matching any --country or --asn is kept. Importing into an existing NAME adds "
    "to it (the union of its sources; a source imported again replaces its rows) and says "
    "where sources disagree.\n\n"
    "\b\nFormats:\n"
    + "\n".join(
        f"  {name}\n" + textwrap.fill(text, 78, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for name, text in FORMATS.items()
    )
    + "\n\nExample: chainwatch watchlist import rir delegated-apnic-extended-latest --name kp "
    "--country KP"
)


@watchlist_app.command("import", help=_IMPORT_HELP)
def import_command(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=f"One of {', '.join(FORMATS)}.")],
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...", help="Files, directories, or .tar/.gz/.xz/.zip archives."
        ),
    ],
    name: Annotated[
        str, typer.Option("--name", help="Watchlist name: writes watchlists/NAME.csv.")
    ],
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country",
            help="ISO country code (KP). rir: the record's cc. geolite2: the network's country "
            "or, failing that, its registered_country. Repeatable.",
        ),
    ] = None,
    asn: Annotated[
        list[str] | None,
        typer.Option(
            "--asn",
            help="AS number (131279 or AS131279). pfx2as: any origin; geolite2: ASN data; rir: "
            "the holder's ranges (extended files link them by opaque-id). Repeatable.",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Start NAME afresh instead of adding to it.")
    ] = False,
) -> None:
    from chainwatch.imports.watchlist_import import import_watchlist  # loads maxminddb

    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    countries = [c.strip().upper() for c in country or []]
    for code in countries:
        if len(code) != 2 or not code.isalpha():
            raise UsageError(f"--country {code!r}: expected a two-letter ISO code like KP")
    numbers = []
    for text in asn or []:
        digits = text.strip().upper().removeprefix("AS")
        if not digits.isdigit():
            raise UsageError(f"--asn {text!r}: expected an AS number like 131279 or AS131279")
        numbers.append(int(digits))
    selection = Selection(frozenset(countries), frozenset(numbers))
    command = shlex.join(
        ["watchlist", "import", fmt, "--name", name]
        + [f"--country={c}" for c in countries]
        + [f"--asn={n}" for n in numbers]
        + ["--replace"] * replace
    )
    report = import_watchlist(
        fmt,
        paths,
        name=name,
        directory=Path(state(ctx).settings.watchlists),
        selection=selection,
        command=command,
        replace=replace,
    )
    written = report.written
    span = f"{written.span_from or 'unbounded'}..{written.span_to or 'unbounded'}"
    span = "unbounded" if span == "unbounded..unbounded" else span
    kept = f" ({report.kept:,} kept from the existing file)" if report.kept else ""
    typer.echo(
        f"wrote {written.path}: {written.rows:,} ranges{kept}, {report.size_text()}; span {span}"
    )
    for source in report.sources:
        sizes = ", ".join(addresses_text(v, n) for v, n in sorted(source.addresses.items()) if n)
        typer.echo(
            f"  {source.label}: {source.ranges:,} ranges ({sizes})"
            if sizes
            else f"  {source.label}: 0 ranges"
        )
    if report.skips.total:
        typer.echo(f"skipped {report.skips.total:,} lines:")
        for line in report.skips.lines():
            typer.echo(line)
    if report.disagreements:
        typer.echo("sources disagree (the watchlist holds the union):")
        for line in report.disagreements:
            typer.echo(f"  {line}")
