"""Read-side queries behind the HTML report's detail views: where the counts come from.

Unlike the series (read from the rollups), these group the events table itself over the
report's days: the busiest local addresses and remote endpoints per group with their first
and last time seen, events per detector with their confidence, and the inputs and node
sources the events were read from. They run for ``--format html`` only, so the terminal and
JSON reports keep their speed on very large stores (see ``benchmarks/report.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from chainwatch.store.models import Event, Input, Watchlist
from chainwatch.store.reporting import category_groups, group_column


@dataclass(frozen=True)
class PartyRow:
    """One local address or remote endpoint of a group, with its events and time span."""

    group: str
    party: str
    endpoint: str | None
    events: int
    first_seen: dt.datetime
    last_seen: dt.datetime


@dataclass(frozen=True)
class DetectorRow:
    """Events of one category found by one detector, with their confidence range."""

    category: str
    detector: str
    events: int
    confidence_mean: float
    confidence_min: float
    confidence_max: float


@dataclass(frozen=True)
class InputRow:
    """Where events came from: an input file (``path``) or a node source (``path`` None)."""

    source: str
    path: str | None
    format: str | None
    sha256: str | None
    records: int | None
    events: int
    first: dt.datetime
    last: dt.datetime


def _utc(value: Any) -> dt.datetime:
    """A datetime from an aggregate (SQLite gives text for MIN/MAX of a column)."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _where(query: Any, watchlist: str | None, since: dt.date, until: dt.date) -> Any:
    lo = dt.datetime.combine(since, dt.time(), dt.UTC)
    hi = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    query = query.where(Event.observed_at >= lo, Event.observed_at < hi)
    if watchlist is not None:
        query = query.where(Event.watchlist == watchlist)
    return query


def top_parties(
    conn: Connection,
    *,
    watchlist: str | None,
    since: dt.date,
    until: dt.date,
    remote: bool,
    limit: int = 10,
) -> list[PartyRow]:
    """The ``limit`` busiest local addresses (or remote ``ip:port`` endpoints) per group."""
    grp = group_column(Event.category).label("grp")
    endpoint = Event.detail["endpoint"].as_string()
    keys: list[Any] = [Event.remote_ip, Event.remote_port, endpoint] if remote else [Event.local_ip]
    query = (
        select(
            grp,
            *keys,
            func.count(),
            func.min(Event.observed_at),
            func.max(func.coalesce(Event.last_seen_at, Event.observed_at)),
        )
        .where(Event.category.in_(category_groups()))
        .group_by(grp, *keys)
    )
    rows: dict[str, list[PartyRow]] = {}
    for row in conn.execute(_where(query, watchlist, since, until)):
        if remote:
            group, ip, port, name, n, first, last = row
            party = "?" if ip is None else (f"[{ip}]" if ":" in ip else ip)
            party += "" if port is None else f":{port}"
        else:
            group, party, n, first, last = row
            name = None
        rows.setdefault(str(group), []).append(
            PartyRow(str(group), str(party), name or None, int(n), _utc(first), _utc(last))
        )
    out: list[PartyRow] = []
    for group_rows in rows.values():
        group_rows.sort(key=lambda r: (-r.events, r.party))
        out += group_rows[:limit]
    return out


def detector_breakdown(
    conn: Connection, *, watchlist: str | None, since: dt.date, until: dt.date
) -> list[DetectorRow]:
    """Events per (category, detector) with the mean, lowest and highest confidence."""
    query = select(
        Event.category,
        Event.detector,
        func.count(),
        func.avg(Event.confidence),
        func.min(Event.confidence),
        func.max(Event.confidence),
    ).group_by(Event.category, Event.detector)
    return [
        DetectorRow(str(c), str(d), int(n), float(mean), float(lo), float(hi))
        for c, d, n, mean, lo, hi in conn.execute(_where(query, watchlist, since, until))
    ]


def event_inputs(
    conn: Connection, *, watchlist: str | None, since: dt.date, until: dt.date
) -> list[InputRow]:
    """Per input file (or per node source when events have no input), events and time span."""
    query = _where(
        select(
            Event.source,
            Event.input_id,
            func.count(),
            func.min(Event.observed_at),
            func.max(Event.observed_at),
        ).group_by(Event.source, Event.input_id),
        watchlist,
        since,
        until,
    )
    counted = list(conn.execute(query))
    ids = [i for _, i, *_ in counted if i is not None]
    files = {
        row.id: row
        for row in conn.execute(
            select(Input.id, Input.path, Input.format, Input.sha256, Input.records).where(
                Input.id.in_(ids)
            )
        )
    }
    out = []
    for source, input_id, n, first, last in counted:
        meta = files.get(input_id)
        out.append(
            InputRow(
                str(source),
                None if meta is None else str(meta.path),
                None if meta is None else str(meta.format),
                None if meta is None else str(meta.sha256),
                None if meta is None else int(meta.records),
                int(n),
                _utc(first),
                _utc(last),
            )
        )
    out.sort(key=lambda r: (r.first, r.source, r.path or ""))
    return out


def watchlist_rows(conn: Connection) -> list[tuple[str, str | None, dt.datetime]]:
    """The watchlists as last loaded into the store: name, cited source, when loaded."""
    query = select(Watchlist.name, Watchlist.source, Watchlist.loaded_at).order_by(Watchlist.name)
    return [(str(n), s, _utc(t)) for n, s, t in conn.execute(query)]
