"""``chainwatch report``: activity over time, onsets and shifts."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from chainwatch.cli import app, state
from chainwatch.errors import ExitStatus, UsageError
from chainwatch.registry import listing
from chainwatch.report import FORMATS


def _day(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date YYYY-MM-DD") from None


@app.command("report")
def report_command(
    ctx: typer.Context,
    watchlist: Annotated[
        str | None, typer.Option("--watchlist", help="Only this watchlist (default: all).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First day, YYYY-MM-DD (default: first stored).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day, YYYY-MM-DD (default: last stored).")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Bucket: day|week|month.")] = "day",
    fmt: Annotated[
        str, typer.Option("--format", help=f"Output: {listing(FORMATS.values())}.")
    ] = "table",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (png needs it).")
    ] = None,
    fail_on_shift: Annotated[
        bool, typer.Option("--fail-on-shift", help="Exit 4 when a shift is found.")
    ] = False,
    pair: Annotated[
        list[str] | None,
        typer.Option("--pair", help="FROM:TO to test for a shift (default btc:xmr). Repeatable."),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Significance level (default 0.01).")
    ] = None,
    min_events: Annotated[
        int | None,
        typer.Option(
            "--min-events", help="Events needed each side of a change point (default 30)."
        ),
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="A..B C..D",
            help="Compare two periods (days inclusive): per day, fold change, 95% interval.",
        ),
    ] = None,
) -> None:
    """Events per day, week or month per coin and category, onsets, shifts, period comparison.

    Examples:

      chainwatch report --watchlist kp --by week

      chainwatch report --format html --out report.html

      chainwatch report --pair btc:xmr --pair tor:vpn --fail-on-shift

      chainwatch report --compare 2017-12-01..2017-12-31 2018-03-01..2018-03-15
    """
    from rich.console import Console

    from chainwatch.analysis.series import BY
    from chainwatch.report.build import build_report, options_from
    from chainwatch.report.compare import parse_period
    from chainwatch.report.render import render
    from chainwatch.report.terminal import print_table
    from chainwatch.store.db import open_store

    if by not in BY:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(BY)}")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "png" and out is None:
        raise UsageError("--format png needs --out FILE")
    first, last = _day("--since", since), _day("--until", until)
    if first and last and last < first:
        raise UsageError(f"--until {until} is before --since {since}")
    settings = state(ctx).settings
    options = options_from(
        settings.report,
        settings.config_path or "configuration",
        alpha=alpha,
        min_events=min_events,
        pairs=pair or None,
    )
    periods = None if compare is None else (parse_period(compare[0]), parse_period(compare[1]))
    store = open_store(settings.db)
    details = None
    try:
        report = build_report(
            store,
            by=by,
            watchlist=watchlist,
            since=first,
            until=last,
            options=options,
            compare=periods,
        )
        if fmt == "html":
            from chainwatch.report.details import build_details

            details = build_details(store, report, watchlists=settings.watchlists)
    finally:
        store.close()
    if fmt == "table":
        if out is None:
            print_table(report, Console(highlight=False, soft_wrap=True))
        else:
            with out.open("w", encoding="utf-8") as handle:
                print_table(report, Console(file=handle, highlight=False, width=120))
    else:
        content = render(report, fmt, details)
        if out is None:
            assert isinstance(content, str)
            sys.stdout.write(content)
        elif isinstance(content, bytes):
            out.write_bytes(content)
        else:
            out.write_text(content, encoding="utf-8")
    if fail_on_shift and report.shifts:
        raise typer.Exit(int(ExitStatus.SHIFT_FOUND))
