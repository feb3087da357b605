"""Per-bucket series with every bucket of the range present, zero or not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from chainwatch.categories import CATEGORIES
from chainwatch.store.reporting import BucketRow, SourceRow

#: report groups: the coins, then the obfuscation group (tor, vpn)
GROUPS = ("btc", "xmr", "eth", "ltc", "tor", "vpn")


def bucket_start(day: dt.date, by: str) -> dt.date:
    """The first day of the bucket holding ``day`` (weeks start on Monday)."""
    return day - dt.timedelta(days=day.weekday()) if by == "week" else day


def bucket_starts(since: dt.date, until: dt.date, by: str) -> list[dt.date]:
    """Every bucket start from the bucket of ``since`` to the bucket of ``until``."""
    step = dt.timedelta(days=7 if by == "week" else 1)
    first, last = bucket_start(since, by), bucket_start(until, by)
    count = (last - first) // step + 1
    return [first + i * step for i in range(max(count, 0))]


def group_of(category: str) -> str:
    """``btc-p2p`` -> ``btc``; ``tor`` -> ``tor``."""
    return category.split("-", 1)[0]


@dataclass
class Series:
    """Counts per bucket: ``groups[g][i]`` events of group g in bucket i, and so on."""

    starts: list[dt.date]
    groups: dict[str, npt.NDArray[np.int64]]
    categories: dict[str, npt.NDArray[np.int64]]
    sources: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.starts)


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
    cats = {c: np.zeros(n, dtype=np.int64) for c in CATEGORIES if c != "other"}
    srcs = {g: np.zeros(n, dtype=np.int64) for g in GROUPS}
    for row in counts:
        i = index.get(row.start)
        if i is None:
            continue
        cats.setdefault(row.category, np.zeros(n, dtype=np.int64))[i] += row.events
        g = group_of(row.category)
        groups.setdefault(g, np.zeros(n, dtype=np.int64))[i] += row.events
    for srow in sources:
        i = index.get(srow.start)
        if i is not None and srow.group in srcs:
            srcs[srow.group][i] = srow.sources
    return Series(starts=starts, groups=groups, categories=cats, sources=srcs)
