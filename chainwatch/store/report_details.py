"""Read-side queries behind the HTML report's detail views: where the counts come from.

Unlike the series (read from the rollups), these group the events table itself over the
report's days (in one pass): the busiest local addresses and remote endpoints per group with
their first and last time seen, events per detector with their confidence, and the inputs and
node sources the events were read from. They run for ``--format html`` only, so the terminal and
JSON reports keep their speed on very large stores (see ``benchmarks/report.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from chainwatch.store.models import Event, Input, Watchlist
from chainwatch.store.reporting import category_groups


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


@dataclass(frozen=True)
class Details:
    """The detail views' rows: parties per group, detectors per category, inputs."""

    local: list[PartyRow]
    remote: list[PartyRow]
    detectors: list[DetectorRow]
    inputs: list[InputRow]


class _Span:
    """Running events, first and last time of one key (folding the grouped cells)."""

    __slots__ = ("events", "first", "last", "name")

    def __init__(self) -> None:
        self.events = 0
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.name: str | None = None

    def add(self, n: int, first: dt.datetime, last: dt.datetime, name: str | None) -> None:
        self.events += n
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
        self.name = self.name or name


def _party(ip: str | None, port: int | None) -> str:
    text = "?" if ip is None else (f"[{ip}]" if ":" in ip else ip)
    return text if port is None else f"{text}:{port}"


def _top(spans: dict[tuple[str, str], _Span], limit: int) -> list[PartyRow]:
    by_group: dict[str, list[PartyRow]] = {}
    for (group, party), span in spans.items():
        assert span.first is not None and span.last is not None
        by_group.setdefault(group, []).append(
            PartyRow(group, party, span.name, span.events, span.first, span.last)
        )
    out: list[PartyRow] = []
    for rows in by_group.values():
        rows.sort(key=lambda r: (-r.events, r.party))
        out += rows[:limit]
    return out


def event_details(
    conn: Connection, *, watchlist: str | None, since: dt.date, until: dt.date, limit: int = 10
) -> Details:
    """Every detail view from one grouped pass over the events of the report's days.

    One GROUP BY over (category, detector, local and remote side, source, input) instead of a
    query per view: on SQLite each GROUP BY over the events table sorts every row, so one
    pass costs a quarter of four (see ``benchmarks/report.py``). The cells are folded here.
    """
    groups = category_groups()
    endpoint = Event.detail["endpoint"].as_string()
    keys = (
        Event.category,
        Event.detector,
        Event.local_ip,
        Event.remote_ip,
        Event.remote_port,
        Event.source,
        Event.input_id,
    )
    query = select(
        *keys,
        func.count(),
        func.min(Event.observed_at),
        func.max(Event.observed_at),
        func.max(func.coalesce(Event.last_seen_at, Event.observed_at)),
        func.sum(Event.confidence),
        func.min(Event.confidence),
        func.max(Event.confidence),
        func.max(endpoint),
    ).group_by(*keys)
    local: dict[tuple[str, str], _Span] = {}
    remote: dict[tuple[str, str], _Span] = {}
    inputs: dict[tuple[str, int | None], _Span] = {}
    detectors: dict[tuple[str, str], list[float]] = {}
    for row in conn.execute(_where(query, watchlist, since, until)):
        category, detector, local_ip, remote_ip, remote_port, source, input_id = row[:7]
        n, first_obs, last_obs, last_seen, conf_sum, conf_lo, conf_hi, name = row[7:]
        n, first, last = int(n), _utc(first_obs), _utc(last_seen)
        group = groups.get(str(category))
        if group is not None:
            local.setdefault((group, str(local_ip)), _Span()).add(n, first, last, None)
            remote.setdefault((group, _party(remote_ip, remote_port)), _Span()).add(
                n, first, last, None if name is None else str(name)
            )
        inputs.setdefault((str(source), input_id), _Span()).add(n, first, _utc(last_obs), None)
        cell = detectors.setdefault((str(category), str(detector)), [0, 0.0, 1.0, 0.0])
        cell[0] += n
        cell[1] += float(conf_sum)
        cell[2] = min(cell[2], float(conf_lo))
        cell[3] = max(cell[3], float(conf_hi))
    return Details(
        local=_top(local, limit),
        remote=_top(remote, limit),
        detectors=[
            DetectorRow(c, d, int(n), total / n, lo, hi)
            for (c, d), (n, total, lo, hi) in sorted(detectors.items())
        ],
        inputs=_inputs(conn, inputs),
    )


def _inputs(conn: Connection, spans: dict[tuple[str, int | None], _Span]) -> list[InputRow]:
    """Input rows for the (source, input) spans, with each input file's path and hash."""
    ids = [i for _, i in spans if i is not None]
    files = {
        row.id: row
        for row in conn.execute(
            select(Input.id, Input.path, Input.format, Input.sha256, Input.records).where(
                Input.id.in_(ids)
            )
        )
    }
    out = []
    for (source, input_id), span in spans.items():
        assert span.first is not None and span.last is not None
        meta = files.get(input_id)
        out.append(
            InputRow(
                source,
                None if meta is None else str(meta.path),
                None if meta is None else str(meta.format),
                None if meta is None else str(meta.sha256),
                None if meta is None else int(meta.records),
                span.events,
                span.first,
                span.last,
            )
        )
    out.sort(key=lambda r: (r.first, r.source, r.path or ""))
    return out


def watchlist_rows(conn: Connection) -> list[tuple[str, str | None, dt.datetime]]:
    """The watchlists as last loaded into the store: name, cited source, when loaded."""
    query = select(Watchlist.name, Watchlist.source, Watchlist.loaded_at).order_by(Watchlist.name)
    return [(str(n), s, _utc(t)) for n, s, t in conn.execute(query)]
