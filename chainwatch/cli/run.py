"""``chainwatch run`` and ``chainwatch status``: scheduled operation and its state."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Annotated

import typer

from chainwatch.cli import app, state
from chainwatch.errors import UsageError
from chainwatch.registry import listing
from chainwatch.watchers import REGISTRY

LOG_FORMATS = ("text", "json")


@app.command("run", epilog=f"Watcher kinds: {listing(REGISTRY.values())}.")
def run_command(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run every watcher one round and exit (for cron).")
    ] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines on stderr: text|json.")
    ] = "text",
    watcher: Annotated[
        list[str] | None,
        typer.Option("--watcher", help="Run only this configured watcher. Repeatable."),
    ] = None,
) -> None:
    """Run the configured watchers on their intervals until SIGTERM or SIGINT.

    One `chainwatch run` per database (a second is refused; a lock left by a killed run is
    taken over with a warning). After each round, new onsets and shifts are announced once:
    a JSON log line, and the [alerts] webhook and command when configured.

    Examples:

      chainwatch run --log-format json

      chainwatch run --once      # from cron: every watcher once; exit 3 if one failed
    """
    if log_format not in LOG_FORMATS:
        raise UsageError(f"--log-format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    from chainwatch.runner import logs  # the scheduler is imported only when it runs
    from chainwatch.runner.findings import new_findings
    from chainwatch.runner.loop import Runner

    settings = state(ctx).settings
    configs = [settings.watcher(name) for name in watcher] if watcher else list(settings.watchers)
    if not configs:
        raise UsageError(
            "nothing to run: configure [[watchers]] in chainwatch.toml "
            "(see chainwatch.example.toml)"
        )
    runner = Runner(settings, configs, logs.setup(log_format), finder=new_findings)
    status = runner.once() if once else runner.forever()
    if runner.abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))  # a round's thread could not be stopped in time; do not wait for it
    raise typer.Exit(int(status))


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "never"


@app.command("status")
def status_command(ctx: typer.Context) -> None:
    """Per watcher: the last success, the last error and the counts, from the database.

    Example:

      chainwatch --db postgresql+psycopg://chainwatch@db/chainwatch status
    """
    from rich.console import Console

    from chainwatch.store.db import open_store
    from chainwatch.store.status import lock_holder, watcher_status

    settings = state(ctx).settings
    store = open_store(settings.db)
    try:
        rows = watcher_status(store)
        holder = lock_holder(store)
    finally:
        store.close()
    console = Console(soft_wrap=True)
    if holder is not None:
        console.print(
            f"chainwatch run: pid {holder.pid} on {holder.hostname} "
            f"since {_when(holder.started_at)}, "
            f"last heartbeat {_when(holder.heartbeat_at)}",
            markup=False,
            highlight=False,
        )
    else:
        console.print("chainwatch run: not running", highlight=False)
    known = {row.watcher for row in rows}
    for row in rows:
        counts = row.last_counts
        line = f"{row.watcher} ({row.kind}): last success {_when(row.last_success)}"
        if row.last_success:
            line += (
                " ("
                + ", ".join(
                    f"{key} {counts.get(key, 0):,}" for key in ("read", "watched", "stored")
                )
                + ")"
            )
        line += f"; runs {row.runs}, failed {row.failures}"
        if row.running_since:
            line += f"; running since {_when(row.running_since)}"
        if row.last_error:
            line += f"; last error {_when(row.last_error_at)}: {row.last_error}"
        console.print(line, markup=False, highlight=False)
    for config in settings.watchers:
        if config.name not in known:
            console.print(
                f"{config.name} ({config.kind}): never run", markup=False, highlight=False
            )
