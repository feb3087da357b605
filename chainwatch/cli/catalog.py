"""``chainwatch catalog``: import endpoint catalogs from the lists analysts use."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import typer

from chainwatch.cli import app, state
from chainwatch.config import parse_duration
from chainwatch.errors import ConfigError, UsageError
from chainwatch.imports.catalog import FORMATS, CatalogImport, import_catalog

catalog_app = typer.Typer(
    help="Import endpoint catalogs (Tor relays, pool lists) into watchlists/endpoints/.",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")


def _gap(text: str) -> int:
    try:
        return round(parse_duration(text, where="--gap", path="command line"))
    except ConfigError:
        raise UsageError(f"--gap {text!r}: expected a duration such as 90m, 3h or 1d") from None


_HELP = (
    "Import an endpoint catalog from a publisher's files into watchlists/endpoints/NAME.csv.\n\n"
    "\b\nFormats:\n"
    + "\n".join(
        f"  {name}\n"
        + textwrap.fill(fmt.help, 78, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for name, fmt in FORMATS.items()
    )
    + "\n\nExample: chainwatch catalog import tor-consensus consensuses-2019-01.tar.xz "
    "--name tor-2019"
)


@catalog_app.command("import", help=_HELP)
def import_command(
    ctx: typer.Context,
    format_name: Annotated[
        str, typer.Argument(metavar="FORMAT", help=f"One of {', '.join(FORMATS)}.")
    ],
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...",
            help="Files, directories or archives (.tar, .tar.xz, .tar.gz, .gz, .xz) as the "
            "publisher ships them.",
        ),
    ],
    name: Annotated[
        str, typer.Option("--name", help="Catalog name: writes watchlists/endpoints/NAME.csv.")
    ],
    category: Annotated[
        str | None,
        typer.Option(
            "--category",
            help="What the entries are (xmr-pool, pool, tor, vpn, ...). Required for ipset, "
            "netset, hosts and list; tor-consensus, tor-exit-list and onionoo default to tor; "
            "for csv it replaces the rows' categories.",
        ),
    ] = None,
    coin: Annotated[
        str | None,
        typer.Option(
            "--coin",
            help="The entries' coin; must agree with a <coin>-pool or <coin>-p2p category.",
        ),
    ] = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            "--valid-from",
            metavar="DATE",
            help="Start of validity (2019-01-01 or 2019-01-01T05:00:00Z). Lists: their window "
            "(ipset/netset default to the FireHOL header's date); tor formats: windows are cut "
            "to start no earlier; csv: replaces the rows' dates.",
        ),
    ] = None,
    valid_to: Annotated[
        str | None,
        typer.Option(
            "--valid-to",
            metavar="DATE",
            help="End of validity (a date is inclusive: the whole day); applied as --valid-from.",
        ),
    ] = None,
    gap: Annotated[
        str,
        typer.Option(
            "--gap",
            metavar="DURATION",
            help="tor formats: windows of one relay address and port closer than this merge "
            "into one row; a relay whose validity lapses for longer starts a new row.",
        ),
    ] = "3h",
) -> None:
    """Import an endpoint catalog (help: ``_HELP``, from the format registry)."""
    result = import_catalog(
        format_name,
        paths,
        name,
        state(ctx).settings.watchlists,
        category=category,
        coin=coin,
        valid_from=valid_from,
        valid_to=valid_to,
        gap=_gap(gap),
    )
    _print(result)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _print(result: CatalogImport) -> None:
    span = f"{result.span[0] or 'unbounded'} .. {result.span[1] or 'unbounded'}"
    verb = "replaced" if result.replaced else "wrote"
    typer.echo(f"{verb} {result.path}: {result.rows:,} rows ({result.format}, {result.category})")
    files = len(result.sources)
    typer.echo(f"  read       {_count(result.documents, 'document')} from {_count(files, 'file')}")
    typer.echo(f"  entries    {result.entries:,}")
    typer.echo(f"  addresses  {result.addresses:,} (addresses and host names)")
    typer.echo(f"  span       {span}")
    typer.echo(f"  skipped    {_count(result.skipped_count, 'line')}")
    for where, why in result.skipped:
        typer.echo(f"    {where}: {why}")
    if result.skipped_count > len(result.skipped):
        typer.echo(f"    ... and {result.skipped_count - len(result.skipped):,} more")
