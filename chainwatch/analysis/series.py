"""Per-bucket series with every bucket of the range present, zero or not.

The report's groups come from the coin registry (``chainwatch.categories``): every coin, then
the obfuscation group (tor, vpn). Category ``pool`` (mining whose coin is unknown) belongs to
no group: it is counted in the categories only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from chainwatch.categories import COINS, EVENT_CATEGORIES, OBFUSCATION, coin_of
from chainwatch.store.reporting import BucketRow, SourceRow

#: every group a report can show: the registry's coins, then tor and vpn
GROUPS: tuple[str, ...] = (*COINS, *OBFUSCATION)
#: groups the JSON contract (DESIGN.md) always carries, events or not
CONTRACT_GROUPS: tuple[str, ...] = tuple(
    g for g in ("btc", "xmr", "eth", "ltc", *OBFUSCATION) if g in GROUPS
)
#: bucket sizes of ``--by``
BY = ("day", "week", "month")


def bucket_start(day: dt.date, by: str) -> dt.date:
    """The first day of the bucket holding ``day`` (weeks start on Monday)."""
    if by == "week":
        return day - dt.timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: dt.date, by: str) -> dt.date:
    """The first day of the bucket after the one starting at ``start``."""
    if by == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=7 if by == "week" else 1)


def bucket_starts(since: dt.date, until: dt.date, by: str) -> list[dt.date]:
    """Every bucket start from the bucket of ``since`` to the bucket of ``until``."""
    first, last = bucket_start(since, by), bucket_start(until, by)
    out: list[dt.date] = []
    while first <= last:
        out.append(first)
        first = next_bucket(first, by)
    return out


def group_of(category: str) -> str | None:
    """``btc-p2p`` -> ``btc``; ``tor`` -> ``tor``; ``pool`` and ``other`` -> None."""
    if category in OBFUSCATION:
        return category
    return coin_of(category)


@dataclass
class Series:
    """Counts per bucket: ``groups[g][i]`` events of group g in bucket i, and so on."""

    starts: list[dt.date]
    groups: dict[str, npt.NDArray[np.int64]]
    categories: dict[str, npt.NDArray[np.int64]]
    sources: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.starts)

    def shown(self) -> tuple[str, ...]:
        """The groups a report shows: the contract's, and every other coin with events."""
        return tuple(g for g in GROUPS if g in CONTRACT_GROUPS or self.groups[g].any())

    def active(self) -> tuple[str, ...]:
        """The groups with at least one event, in registry order."""
        return tuple(g for g in GROUPS if self.groups[g].any())


def build_series(
    counts: Sequence[BucketRow],
    sources: Sequence[SourceRow],
    *,
    since: dt.date,
    until: dt.date,
    by: str,
) -> Series:
    """Lay stored cells onto the full bucket grid (missing cells are zero)."""
    starts = bucket_starts(since, until, by)
    index = {start: i for i, start in enumerate(starts)}
    n = len(starts)
    groups = {g: np.zeros(n, dtype=np.int64) for g in GROUPS}
    cats = {c: np.zeros(n, dtype=np.int64) for c in EVENT_CATEGORIES}
    srcs = {g: np.zeros(n, dtype=np.int64) for g in GROUPS}
    for row in counts:
        i = index.get(row.start)
        if i is None:
            continue
        # a category the registry no longer knows still shows, under its own name
        cats.setdefault(row.category, np.zeros(n, dtype=np.int64))[i] += row.events
        g = group_of(row.category)
        if g is not None:
            groups[g][i] += row.events
    for srow in sources:
        i = index.get(srow.start)
        if i is not None and srow.group in srcs:
            srcs[srow.group][i] = srow.sources
    return Series(starts=starts, groups=groups, categories=cats, sources=srcs)
