"""The watcher interface: what every source of observations implements.

A watcher reads one kind of source (a node's RPC, a flow file or directory, a capture) and
stores what it finds from watched ranges through the store package. ``chainwatch scan`` runs
each watcher once; ``chainwatch run`` runs them on their intervals. A watcher that fails raises
``WatcherError`` (or any ``ChainwatchError``); the scan records it and goes on with the others.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.console import Console

from chainwatch.config import Settings, WatcherConfig
from chainwatch.store.db import Store
from chainwatch.watchlists import RangeMatcher, WatchlistSet

#: The counters every watcher reports (DESIGN.md's scan summary); watchers may add their own.
COUNTERS = ("read", "watched", "classified", "stored", "skipped", "bad")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ScanContext:
    """What a watcher gets for one round.

    Attributes:
        settings: resolved settings (port rules, resolve_hosts, ...).
        store: the open store; write through the store package's functions.
        watchlists: loaded watchlists and endpoint catalogs.
        matcher: the watchlists compiled for vectorised matching.
        scan_id: the ``scans`` row this round belongs to.
        strict: stop at the first malformed record (``--strict``) instead of skipping it.
        console: stderr console for progress and warnings (``console.is_terminal`` decides
            whether to show a progress bar).
        now: the clock; tests may replace it.
        should_stop: polled between batches; True when SIGTERM/SIGINT asked us to stop.
        cluster: the Dask cluster flow inputs are read on (``--cluster``,
            ``chainwatch.cluster.connect.Cluster``), or None to read them in this process.
    """

    settings: Settings
    store: Store
    watchlists: WatchlistSet
    matcher: RangeMatcher
    scan_id: int
    strict: bool = False
    console: Console = field(default_factory=lambda: Console(stderr=True))
    now: Callable[[], dt.datetime] = utcnow
    should_stop: Callable[[], bool] = lambda: False
    cluster: Any = None


@dataclass
class WatcherResult:
    """What one watcher did in one round.

    ``problems`` are non-fatal (bad lines skipped, one file of many unreadable); a watcher that
    could not do its job at all raises instead. ``partial`` marks a round in which some inputs
    failed while others were stored (exit status 3).
    """

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    problems: list[str] = field(default_factory=list)
    partial: bool = False

    def add(self, other: WatcherResult) -> None:
        for key, value in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value
        self.problems.extend(other.problems)
        self.partial = self.partial or other.partial


class Watcher(abc.ABC):
    """Base of every watcher kind. Subclasses set ``kind`` and implement ``run``.

    The class docstring's first line is what ``chainwatch scan --help`` lists for the kind.
    """

    kind: ClassVar[str]

    def __init__(self, config: WatcherConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @abc.abstractmethod
    def run(self, ctx: ScanContext) -> WatcherResult:
        """Do one round: read the source, store what is watched, return the counts."""
