"""Read-side queries for reports: per-bucket event counts and distinct local addresses.

Counts come from the hourly rollups (``events`` per watchlist, category and hour) and distinct
addresses from the daily ``rollup_day_addresses``, so a report over millions of stored events
reads thousands of rows instead of scanning the events table. Bucketing happens in SQL (GROUP BY).
A category's group (its coin, or tor/vpn) comes from the coin registry as a SQL ``CASE``, so a
coin added to the registry is counted without a change here. The HTML views' details (top
addresses, endpoints, detectors, inputs) are in ``store/report_details.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, case, func, literal_column, select
from sqlalchemy.engine import Connection

from chainwatch.categories import EVENT_CATEGORIES, OBFUSCATION, coin_of
from chainwatch.store.db import Store
from chainwatch.store.models import Rollup, RollupDayAddress

BUCKETS = ("day", "week", "month")


@dataclass(frozen=True)
class BucketRow:
    """One (bucket, category) cell: stored events and distinct local addresses."""

    start: dt.date
    category: str
    events: int


@dataclass(frozen=True)
class SourceRow:
    """Distinct local addresses in one (bucket, group) cell; group is a coin or tor/vpn."""

    start: dt.date
    group: str
    sources: int


def _bucket(column: Any, by: str, dialect: str) -> ColumnElement[str]:
    """SQL for the bucket's first day as text ``YYYY-MM-DD`` (weeks start on Monday)."""
    if dialect == "sqlite":
        if by == "week":
            # 'weekday 0' moves forward to Sunday (or stays), then back six days to Monday.
            return func.date(column, "weekday 0", "-6 days")
        if by == "month":
            return func.date(column, "start of month")
        return func.date(column)
    return func.to_char(func.date_trunc(by, column), literal_column("'YYYY-MM-DD'"))


def category_groups() -> dict[str, str]:
    """Event category -> report group, from the registry (``pool`` has no coin: left out)."""
    out = {c: c for c in OBFUSCATION}
    for category in EVENT_CATEGORIES:
        coin = coin_of(category)
        if coin is not None:
            out[category] = coin
    return out


def group_column(category: Any) -> ColumnElement[str]:
    """SQL for a category's group (``btc-p2p`` -> ``btc``, ``tor`` -> ``tor``); NULL for
    categories of no group (``pool``, ``other``)."""
    return case(category_groups(), value=category, else_=None)


def _range(
    since: dt.date | None, until: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    lo = None if since is None else dt.datetime.combine(since, dt.time(), dt.UTC)
    hi = (
        None
        if until is None
        else dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
    )
    return lo, hi


_Query = TypeVar("_Query", bound=Select)  # type: ignore[type-arg]


def _within(
    query: _Query,
    table: type[Rollup] | type[RollupDayAddress],
    watchlist: str | None,
    since: dt.date | None,
    until: dt.date | None,
) -> _Query:
    """``query`` limited to one watchlist (if given) and the days ``since`` .. ``until``."""
    if watchlist is not None:
        query = query.where(table.watchlist == watchlist)
    if table is Rollup:
        lo, hi = _range(since, until)
        if lo is not None:
            query = query.where(Rollup.hour >= lo)
        if hi is not None:
            query = query.where(Rollup.hour < hi)
    else:
        if since is not None:
            query = query.where(RollupDayAddress.day >= since)
        if until is not None:
            query = query.where(RollupDayAddress.day <= until)
    return query


def bucket_counts(
    conn: Connection,
    *,
    by: str,
    watchlist: str | None,
    since: dt.date | None,
    until: dt.date | None,
) -> tuple[list[BucketRow], list[SourceRow]]:
    """Events per (bucket, category) and distinct local addresses per (bucket, coin/group).

    ``since``/``until`` are inclusive days (UTC); None means unbounded. Category ``other``
    (watched but unclassified) is left out: it has no events.
    """
    dialect = conn.dialect.name

    bucket = _bucket(Rollup.hour, by, dialect).label("start")
    query = (
        select(bucket, Rollup.category, func.sum(Rollup.events))
        .where(Rollup.category != "other", Rollup.events > 0)
        .group_by(bucket, Rollup.category)
    )
    query = _within(query, Rollup, watchlist, since, until)
    counts = [
        BucketRow(dt.date.fromisoformat(str(start)), str(category), int(total))
        for start, category, total in conn.execute(query)
    ]

    # Distinct (bucket, group, address) first, then count: the same answer as
    # COUNT(DISTINCT local_ip) per group, without a temporary B-tree per group.
    distinct = (
        select(
            _bucket(RollupDayAddress.day, by, dialect).label("start"),
            group_column(RollupDayAddress.category).label("grp"),
            RollupDayAddress.local_ip,
        )
        .where(RollupDayAddress.category.in_(category_groups()))
        .distinct()
    )
    cells = _within(distinct, RollupDayAddress, watchlist, since, until).subquery()
    squery = select(cells.c.start, cells.c.grp, func.count()).group_by(cells.c.start, cells.c.grp)
    sources = [
        SourceRow(dt.date.fromisoformat(str(start)), str(grp), int(n))
        for start, grp, n in conn.execute(squery)
    ]
    return counts, sources


def period_events(
    conn: Connection, *, watchlist: str | None, since: dt.date, until: dt.date
) -> dict[str, int]:
    """Events per category over the inclusive days ``since`` .. ``until``."""
    query = select(Rollup.category, func.sum(Rollup.events)).where(
        Rollup.category != "other", Rollup.events > 0
    )
    query = _within(query, Rollup, watchlist, since, until).group_by(Rollup.category)
    return {str(category): int(total) for category, total in conn.execute(query)}


def period_sources(
    conn: Connection,
    *,
    watchlist: str | None,
    since: dt.date,
    until: dt.date,
    categories: tuple[str, ...],
) -> int:
    """Distinct local addresses with events of ``categories`` in ``since`` .. ``until``."""
    query = select(func.count(func.distinct(RollupDayAddress.local_ip))).where(
        RollupDayAddress.category.in_(categories)
    )
    return int(conn.execute(_within(query, RollupDayAddress, watchlist, since, until)).scalar_one())


def stored_span(conn: Connection, watchlist: str | None) -> tuple[dt.date, dt.date] | None:
    """First and last day with stored events (from the rollups), or None when there are none."""
    query = select(func.min(Rollup.hour), func.max(Rollup.hour)).where(
        Rollup.category != "other", Rollup.events > 0
    )
    if watchlist is not None:
        query = query.where(Rollup.watchlist == watchlist)
    first, last = conn.execute(query).one()
    if first is None or last is None:
        return None
    return _as_date(first), _as_date(last)


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.datetime.fromisoformat(str(value)).date()


def open_read(store: Store) -> Connection:
    """A plain read connection (the caller closes it)."""
    return store.engine.connect()
