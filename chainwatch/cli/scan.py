"""``chainwatch scan``: one pass over the given inputs and the configured watchers."""

from __future__ import annotations

from typing import Annotated

import typer

from chainwatch.cli import app, state
from chainwatch.config import CHECKSUM_POLICIES
from chainwatch.errors import UsageError
from chainwatch.registry import listing
from chainwatch.sources import FORMATS, choices, titles

_FORMATS = listing(FORMATS[name] for name in choices("flows") if name in FORMATS)


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    flows: Annotated[
        list[str] | None,
        typer.Option(
            "--flows",
            help="Flow file or directory, in a format of --format; - for stdin; .gz allowed. "
            "Repeatable: several paths are read as one source (Zeek logs joined by uid).",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Flow format. auto: detected from the first bytes (Zeek's JSON and dns, ssl and "
            f"http logs are told apart so too); {_FORMATS}.",
        ),
    ] = "auto",
    pcap: Annotated[
        list[str] | None,
        typer.Option(
            "--pcap",
            help=f"Packet capture file or directory ({titles('pcap')}; .gz allowed). Repeatable.",
        ),
    ] = None,
    checksums: Annotated[
        str | None,
        typer.Option(
            "--checksums",
            envvar="CHAINWATCH_CHECKSUMS",
            show_envvar=True,
            help=f"Checksum policy of packet captures: {'|'.join(CHECKSUM_POLICIES)} (default "
            "auto: validate, except for hosts whose own packets look checksum-offloaded). "
            "Overrides the pcap watchers' checksums key.",
        ),
    ] = None,
    watcher: Annotated[
        list[str] | None,
        typer.Option("--watcher", help="Run only this configured watcher. Repeatable."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first malformed record (exit 1).")
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            envvar="CHAINWATCH_CLUSTER",
            show_envvar=True,
            metavar="ADDRESS",
            help="Read flow inputs on a Dask cluster: local:N (N worker processes here) or "
            "tcp://HOST:PORT (a running scheduler), e.g. local:4. nfcapd, nfdump CSV, CSV and "
            "Zeek conn logs; captures, nodes, stdin, Eve and Zeek dns/ssl/http logs are read "
            "here. Overrides the cluster key.",
        ),
    ] = None,
) -> None:
    """Read the given inputs and configured watchers once; store what comes from watched ranges.

    With no --flows, --pcap or --watcher, every watcher in the configuration runs.

    Examples:

      chainwatch scan --flows /var/cache/nfdump/2019/05/

      zcat conn.log.gz | chainwatch scan --flows - --format zeek

      chainwatch scan --watcher btc-main --watcher xmr-main

      chainwatch scan --pcap span.pcapng --checksums validate

      chainwatch scan --flows /var/cache/nfdump/ --cluster local:4

    SIGINT (Ctrl-C) or SIGTERM stops it between batches: the input being read is rolled back,
    the scan is recorded as interrupted, and it exits 130 or 143; run it again to finish.
    """
    if fmt not in choices("flows"):
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(choices('flows'))}")
    if checksums is not None and checksums not in CHECKSUM_POLICIES:
        raise UsageError(
            f"--checksums {checksums!r}: expected one of {', '.join(CHECKSUM_POLICIES)}"
        )
    if cluster is not None:
        from chainwatch.cluster.address import EXPECTED, parse

        try:
            parse(cluster)
        except ValueError:
            raise UsageError(f"--cluster {cluster!r}: expected {EXPECTED}") from None
    import dataclasses

    from rich.console import Console

    from chainwatch.interrupt import StopFlag, stop_on_signals
    from chainwatch.scan import adhoc_watchers, run_scan, select_watchers, with_checksums

    settings = state(ctx).settings
    if cluster is not None:  # the flag (or $CHAINWATCH_CLUSTER) over the file's key
        settings = dataclasses.replace(settings, cluster=cluster.strip())
    configs = select_watchers(settings, watcher or [], adhoc_watchers(flows or [], fmt, pcap or []))
    if checksums is not None:
        configs = with_checksums(configs, checksums)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    with stop_on_signals(StopFlag()) as stop:
        summary = run_scan(settings, configs, strict=strict, console=console, stop=stop)
    if summary.signal is not None:
        console.print(f"chainwatch: {summary.interrupted_line()}", markup=False)
        raise typer.Exit(summary.exit_status)
    for problem in summary.problems:
        console.print(problem, markup=False)
    for error in summary.errors:
        console.print(f"failed: {error}", markup=False)
    typer.echo(summary.line())
    raise typer.Exit(summary.exit_status)
