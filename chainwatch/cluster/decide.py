"""Storing a scan's units in parallel on PostgreSQL, with exactly the one-process result.

Which records of a unit are stored depends on the units before it: a record whose connection an
earlier unit stored is not stored again (``chainwatch.store.pairing``). So each unit is first
*decided*, one after another (``decide``: a cheap chained task that looks the unit's keys up in
the store's committed events and in what the units still in flight decided to store), and then
*stored* in parallel, each in its own transaction on the worker that read it. Their commits
follow the units' order (``Order``): a unit's transaction waits, before its rollups, until the
one before it has ended, so a scan killed at any point has stored a prefix of its units, as in
one process.

The scan holds the source's pairing lock for all its units (``pairing_held``), so the source's
events change only by its own units' commits meanwhile: a unit decided against the committed
events and the exact choices of the units in flight decided what one process would have. Where
that does not hold, because a unit before it stored something else than it decided (it failed,
an input of it was taken by another scan, a file grew), or because one of its own inputs was not
to be stored after all, the unit rolls back and is stored again after the one before it has
committed, deciding from the store (``Redo``): rare, and always right.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.cluster.shipped import Shipped
from chainwatch.store.pairing import (
    Lookup,
    Pairs,
    custom_plans,
    horizon,
    known_keys,
    latest_start,
)
from chainwatch.store.pairing import new_connections as _new_connections


@dataclass
class Landed:
    """What a unit decided to store: the keys of its events with their starts (microseconds
    since the epoch, UTC), the latest of those starts, and its inputs' SHA-256."""

    index: int
    keys: dict[str, int] = field(default_factory=dict)
    latest: int | None = None
    shas: frozenset[str] = frozenset()


@dataclass
class Decided:
    """A unit decided: for each of its matched batches (``Prepared.matched``, in order) which
    connections start a new one (None for a batch without), its ``Landed`` and those of the
    units before it that may still be in flight (``flight``, oldest first); ``serial``: an
    input of it has the content of one in flight (it is claimed after that one commits)."""

    index: int
    keep: list[np.ndarray | None]
    flight: list[Landed]
    serial: bool
    order_key: str

    @property
    def landed(self) -> Landed:
        return self.flight[-1]


class Redo(Exception):
    """A unit cannot keep what it decided: store it again once the unit before it committed."""


class Stopped(Exception):
    """The scan stopped (or failed) before the unit before this one ended: this one ends too."""


#: Seconds between looks, while a unit waits for the one before it, at whether the scan stopped.
POLL_SECONDS = 0.5


def decide(prepared: object, before: Decided | None, shipped: Shipped, window: int) -> Decided:
    """Decide a prepared unit (``chainwatch.cluster.tasks.Prepared``) after the unit before it
    (``before``), as one process would have stored it once every unit before it committed.
    ``window``: how many units may be in flight at once (the older ones have committed)."""
    from chainwatch.cluster.tasks import Prepared, worker_store

    assert isinstance(prepared, Prepared)
    index = prepared.unit.index
    flight = [] if before is None else before.flight[-window:]
    keys: dict[str, int] = {}
    for landed in flight:
        keys.update(landed.keys)
    shas = [each.sha256 for _, each, _ in prepared.described]
    serial = any(sha in landed.shas for landed in flight for sha in shas)
    mine = Landed(index, shas=frozenset(shas))
    keep: list[np.ndarray | None] = []
    store = worker_store(shipped.db)
    with store.engine.connect() as conn, conn.begin():
        custom_plans(conn)
        latest = _latest(latest_start(conn, shipped.source), flight)
        pairs = Pairs(until=horizon(latest), asked=True)

        def lookup(wanted: Sequence[str], since: dt.datetime, until: dt.datetime) -> set[str]:
            found = known_keys(conn, shipped.source, wanted, since=since, until=until)
            low, high = _micros(since), _micros(until)
            return found | {k for k in wanted if low <= keys.get(k, low - 1) <= high}

        for _, each in prepared.matched:
            keep.append(_decide(each, pairs, lookup, mine))
    return Decided(index, keep, [*flight, mine], serial, shipped.key)


def _decide(matched: object, pairs: Pairs, lookup: Lookup, mine: Landed) -> np.ndarray | None:
    from chainwatch.match import Matched

    assert isinstance(matched, Matched)
    if matched.frame is None or matched.connections is None or matched.events is None:
        return None
    keep = _new_connections(matched.connections, pairs, lookup)
    kept = matched.events.filter(pa.array(keep))
    starts = pc.cast(kept.column("observed_at"), pa.timestamp("us", "UTC")).cast(pa.int64())
    keys = kept.column("connection_key").to_pylist()
    mine.keys.update(zip(keys, starts.to_pylist(), strict=True))
    if kept.num_rows:
        latest = int(pc.max(starts).as_py())
        mine.latest = latest if mine.latest is None else max(mine.latest, latest)
    return keep


def _latest(stored: dt.datetime | None, flight: Sequence[Landed]) -> dt.datetime | None:
    """The latest start of the source's events once the units in flight have committed."""
    starts = [landed.latest for landed in flight if landed.latest is not None]
    if not starts:
        return stored
    flying = dt.datetime.fromtimestamp(0, dt.UTC) + dt.timedelta(microseconds=max(starts))
    return flying if stored is None else max(stored, flying)


def _micros(moment: dt.datetime) -> int:
    return (moment - dt.datetime.fromtimestamp(0, dt.UTC)) // dt.timedelta(microseconds=1)


class Order:
    """A unit's place in the order of commits, kept with Dask events on the scheduler: the
    unit waits for the one before it to end (``wait``, once, outside the worker's thread pool
    so that the units before it can run meanwhile), then says it ended (``ended``), and
    whether it stored what it decided (a unit decided after it otherwise redoes its own)."""

    def __init__(self, decided: Decided) -> None:
        self.decided = decided
        self.waited = decided.index == 0 or len(decided.flight) < 2

    def wait(self) -> None:
        """Until the unit before this one ended; ``Stopped`` when the scan stopped first (a
        unit before it cancelled would never end: the client says so, ``forget``)."""
        if self.waited:
            return
        from distributed import secede

        key = self.decided.order_key
        ended = _event(_name(key, "ended", self.decided.flight[-2].index))
        if not ended.is_set():
            # Its thread goes back to the worker: the unit it waits for may need one.
            secede()  # type: ignore[no-untyped-call]
            stop = _event(_name(key, "stopped", 0))
            while not ended.wait(timeout=POLL_SECONDS):
                if stop.is_set():
                    self.waited = True  # nothing to wait for any more: its end is told
                    raise Stopped
        self.waited = True

    def check(self, stored: Sequence[str], described: Sequence[str]) -> None:
        """Before the unit commits (the ones before it have): ``Redo`` unless what it decided
        holds (all its inputs stored, every unit in flight stored what it decided)."""
        self.wait()
        if list(stored) != list(described):
            raise Redo
        for landed in self.decided.flight[:-1]:
            if _event(_name(self.decided.order_key, "inexact", landed.index)).is_set():
                raise Redo

    def ended(self, exact: bool) -> None:
        with contextlib.suppress(Stopped):  # the scan is over: said for the record only
            self.wait()
        key, index = self.decided.order_key, self.decided.index
        if not exact:
            _event(_name(key, "inexact", index)).set()
        _event(_name(key, "ended", index)).set()


def _name(key: str, what: str, index: int) -> str:
    return f"{key}-{what}-{index}"


def _event(name: str, client: object = None) -> Any:
    """A Dask event on the scheduler (of this worker's client, or ``client``)."""
    from distributed import Event

    return Event(name, client=client)  # type: ignore[no-untyped-call]


def forget(client: object, key: str, units: int, stopped: bool) -> None:
    """Drop a scan's order events from the scheduler (the client's, at the scan's end). A scan
    that ``stopped`` with units not written first tells the units still waiting (on a
    scheduler's workers, which outlive the scan) to end: its one event stays behind."""
    if stopped:
        _event(_name(key, "stopped", 0), client).set()
    for index in range(units):
        for what in ("ended", "inexact"):
            _event(_name(key, what, index), client).clear()
