"""One pass over the given inputs and configured watchers: what ``chainwatch scan`` does.

The scan loads and compiles the watchlists once, records a ``scans`` row, runs each watcher
(a failing one is recorded and the others go on), and returns a summary whose status maps to
the exit statuses of DESIGN.md: ok (0), partial (3: some inputs or watchers failed, the rest
stored), failed (1: nothing succeeded), interrupted (130 or 143: SIGINT or SIGTERM stopped it
between batches; what was stored before stays, the input in hand was rolled back).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from chainwatch.config import Settings, WatcherConfig
from chainwatch.errors import ChainwatchError, ExitStatus, Interrupted, UsageError
from chainwatch.imports.list_info import describe
from chainwatch.interrupt import StopFlag, exit_status, signal_name
from chainwatch.store.db import Store, open_store
from chainwatch.store.provenance import record_lists
from chainwatch.store.scans import (
    finish_scan,
    finish_watcher_run,
    inputs_of_scan,
    start_scan,
    start_watcher_run,
    sync_watchlists,
)
from chainwatch.watchers import make_watcher
from chainwatch.watchers.interface import COUNTERS, ScanContext, Watcher, WatcherResult, utcnow
from chainwatch.watchlists import RangeMatcher, WatchlistSet, load_watchlists


@dataclass
class ScanSummary:
    scan_id: int
    status: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: the signal that interrupted the scan (status "interrupted"), and the inputs stored by
    #: then
    signal: int | None = None
    inputs: int = 0

    @property
    def exit_status(self) -> int:
        if self.signal is not None:
            return exit_status(self.signal)
        return {"ok": ExitStatus.SUCCESS, "partial": ExitStatus.PARTIAL}.get(
            self.status, ExitStatus.ERROR
        )

    def interrupted_line(self) -> str:
        """The one line a scan stopped by a signal prints."""
        name = signal_name(self.signal) if self.signal is not None else "a signal"
        plural = "" if self.inputs == 1 else "s"
        return (
            f"scan {self.scan_id} interrupted by {name} after storing {self.inputs:,} "
            f"input{plural}; the one being read, if any, was rolled back; run the same scan "
            "again to finish"
        )

    def line(self) -> str:
        c = self.counts
        parts = [f"{key} {c.get(key, 0):,}" for key in COUNTERS]
        # Counters of one kind of watcher (pcap's checksum figures) follow when it ran.
        parts += [f"{key.replace('_', ' ')} {c[key]:,}" for key in c if key not in COUNTERS]
        text = (
            f"scan {self.scan_id} {self.status}: " + ", ".join(parts) + f" in {self.seconds:.1f} s"
        )
        if self.errors:
            text += f"; {len(self.errors)} failed"
        return text


def adhoc_watchers(flows: Sequence[str], fmt: str, pcaps: Sequence[str]) -> list[WatcherConfig]:
    """Watchers for the inputs named on the command line (``--flows``, ``--pcap``)."""
    # Several --flows paths are one source, read as one watcher (Zeek logs join across them);
    # standard input stays a watcher of its own.
    files = [Path(p) for p in flows if p != "-"]
    configs = [
        WatcherConfig(name="flows", kind="flows", path=Path(p), format=fmt)
        for p in flows
        if p == "-"
    ]
    if files:
        configs.insert(
            0,
            WatcherConfig(
                name="flows", kind="flows", path=files[0], paths=tuple(files[1:]), format=fmt
            ),
        )
    configs += [WatcherConfig(name="pcap", kind="pcap", path=Path(p)) for p in pcaps]
    return configs


def with_checksums(configs: Sequence[WatcherConfig], policy: str) -> list[WatcherConfig]:
    """The watchers with ``--checksums`` applied to the pcap ones (the flag beats the file)."""
    return [dataclasses.replace(c, checksums=policy) if c.kind == "pcap" else c for c in configs]


def select_watchers(
    settings: Settings, names: Sequence[str], adhoc: list[WatcherConfig]
) -> list[WatcherConfig]:
    """The watchers a scan runs: the named ones, or every configured one when no input or
    name was given on the command line."""
    if names:
        return adhoc + [settings.watcher(name) for name in names]
    if adhoc:
        return adhoc
    if not settings.watchers:
        raise UsageError(
            "nothing to scan: give --flows PATH or --pcap PATH, or configure [[watchers]] in "
            "chainwatch.toml (see chainwatch.example.toml)"
        )
    return list(settings.watchers)


def prepare(settings: Settings) -> tuple[Store, WatchlistSet, RangeMatcher]:
    watchlists = load_watchlists(settings.watchlists)
    if not watchlists.watchlists:
        raise UsageError(
            f"{settings.watchlists}: no watchlists (*.toml, *.txt, *.cidr) to match against"
        )
    store = open_store(settings.db)
    return store, watchlists, RangeMatcher(watchlists.watchlists)


def run_scan(
    settings: Settings,
    configs: Sequence[WatcherConfig],
    *,
    strict: bool = False,
    console: Console | None = None,
    command: str = "scan",
    stop: StopFlag | None = None,
) -> ScanSummary:
    """Run each watcher once and record the scan. Returns the summary (never raises for a
    single watcher's failure, except under ``strict``).

    ``stop`` is set by SIGINT/SIGTERM (``chainwatch.interrupt``); watchers poll it between
    batches and roll the input in hand back. Once it is set, no further watcher starts and the
    scan is recorded and summarised as ``interrupted``, whatever the watcher in hand returned
    or raised on its way out."""
    started = time.monotonic()
    stop = stop or StopFlag()
    watchers: list[Watcher] = [make_watcher(config) for config in configs]
    store, watchlists, matcher = prepare(settings)
    cluster = None
    try:
        if settings.cluster and any(config.kind == "flows" for config in configs):
            from chainwatch.cluster.address import parse
            from chainwatch.cluster.connect import open_cluster

            cluster = open_cluster(parse(settings.cluster), settings.db)
        sync_watchlists(store, watchlists, utcnow())
        scan_id = start_scan(store, command, utcnow())
        record_lists(store, scan_id, describe(watchlists), utcnow())
        ctx = ScanContext(
            settings=settings,
            store=store,
            watchlists=watchlists,
            matcher=matcher,
            scan_id=scan_id,
            strict=strict,
            console=console or Console(stderr=True),
            should_stop=stop.is_set,
            cluster=cluster,
        )
        summary = ScanSummary(scan_id=scan_id, status="running")
        total = WatcherResult()
        failed = succeeded = 0
        status = "failed"
        try:
            for watcher in watchers:
                if stop.is_set():
                    break
                run_id = start_watcher_run(store, scan_id, watcher.name, watcher.kind, utcnow())
                try:
                    result = watcher.run(ctx)
                except ChainwatchError as exc:
                    stopped = stop.is_set()  # then this is the watcher's way out, not a failure
                    error = f"interrupted by {stop.name}" if stopped else str(exc)
                    finish_watcher_run(
                        store, run_id, ok=False, error=error, counts={}, now=utcnow()
                    )
                    if stopped:
                        break
                    failed += 1
                    summary.errors.append(str(exc))
                    if strict:
                        raise
                    continue
                succeeded += 1
                total.add(result)
                if result.partial:
                    failed += 1
                stopped = stop.is_set()
                finish_watcher_run(
                    store,
                    run_id,
                    ok=not result.partial and not stopped,
                    error=f"interrupted by {stop.name}" if stopped else None,
                    counts=result.counts,
                    now=utcnow(),
                )
            status = "ok" if failed == 0 else ("partial" if succeeded else "failed")
            if stop.is_set():
                status = "interrupted"
                summary.signal = stop.signum
                summary.inputs = inputs_of_scan(store, scan_id)
        except (KeyboardInterrupt, Interrupted, SystemExit):
            status = "interrupted"  # raised mid-write where no stop handler was installed
            raise
        except ChainwatchError:
            status = "failed"
            raise
        finally:
            summary.counts = total.counts
            summary.problems = total.problems
            summary.status = status
            summary.seconds = time.monotonic() - started
            _finish(store, summary)
        return summary
    finally:
        if cluster is not None:
            cluster.close()
        store.close()


def _finish(store: Store, summary: ScanSummary) -> None:
    """Record how the scan ended. When an exception raised by a signal (no stop handler
    installed, as in ``chainwatch demo``) cut a write short, the connection it hit may still
    hold SQLite's write lock until it is garbage-collected; the interrupt, not this
    bookkeeping, is then what the user hears about, and the next scan marks the row
    ``interrupted`` (``close_dead_scans``)."""
    try:
        finish_scan(
            store,
            summary.scan_id,
            status=summary.status,
            counts=summary.counts,
            errors=summary.errors + summary.problems[:100],
            now=utcnow(),
        )
    except SQLAlchemyError:
        if summary.status != "interrupted" or summary.signal is not None:
            raise
