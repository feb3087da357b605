"""``--compare A..B C..D``: events per day, distinct sources and the fold change between two
periods, per coin, for tor, vpn and tor+vpn (DESIGN.md "Report JSON", key ``compare``)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from chainwatch.analysis.compare import rate_ratio
from chainwatch.analysis.series import CONTRACT_GROUPS, GROUPS, group_of
from chainwatch.categories import COINS, OBFUSCATION
from chainwatch.errors import UsageError
from chainwatch.store.reporting import category_groups, period_events, period_sources

_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
#: the obfuscation group's sum, compared beside tor and vpn
OBFUSCATION_SUM = "+".join(OBFUSCATION)


@dataclass(frozen=True)
class Period:
    """Inclusive days ``first`` .. ``last``."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def __str__(self) -> str:
        return f"{self.first}..{self.last}"


def parse_period(text: str) -> Period:
    """``2017-12-01..2017-12-31`` -> Period; a malformed or reversed range is a UsageError."""
    match = _RANGE.match(text.strip())
    if match is None:
        raise UsageError(f"--compare {text!r}: expected a range FIRST..LAST of days YYYY-MM-DD")
    try:
        first, last = (dt.date.fromisoformat(d) for d in match.groups())
    except ValueError:
        raise UsageError(f"--compare {text!r}: not a calendar date; expected YYYY-MM-DD") from None
    if last < first:
        raise UsageError(f"--compare {text}: the range ends before it starts")
    return Period(first, last)


def check_periods(a: Period, b: Period, span: tuple[dt.date, dt.date] | None) -> None:
    """Refuse periods that overlap or reach outside the stored data."""
    if a.first <= b.last and b.first <= a.last:
        raise UsageError(f"--compare {a} {b}: the periods overlap; expected two disjoint ranges")
    if span is None:
        raise UsageError(f"--compare {a} {b}: no events are stored to compare")
    for period in (a, b):
        if period.first < span[0] or period.last > span[1]:
            raise UsageError(f"--compare {period}: outside the stored data ({span[0]}..{span[1]})")


def _side(period: Period, events: int, sources: int) -> dict[str, Any]:
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "days": period.days,
        "events": events,
        "per_day": round(events / period.days, 4),
        "sources": sources,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def compare_periods(
    conn: Connection, a: Period, b: Period, *, watchlist: str | None
) -> list[dict[str, Any]]:
    """One entry per coin (the contract's and any other with events), tor, vpn and tor+vpn."""
    groups = category_groups()
    members: dict[str, tuple[str, ...]] = {
        g: tuple(c for c, grp in groups.items() if grp == g) for g in GROUPS
    }
    members[OBFUSCATION_SUM] = tuple(c for c, grp in groups.items() if grp in OBFUSCATION)
    per_period = []
    for period in (a, b):
        counts = period_events(conn, watchlist=watchlist, since=period.first, until=period.last)
        totals = dict.fromkeys(members, 0)
        for category, n in counts.items():
            g = group_of(category)
            if g is not None:
                totals[g] += n
                if g in OBFUSCATION:
                    totals[OBFUSCATION_SUM] += n
        per_period.append(totals)
    names = [g for g in COINS if g in CONTRACT_GROUPS or per_period[0][g] or per_period[1][g]] + [
        *OBFUSCATION,
        OBFUSCATION_SUM,
    ]
    out = []
    for name in names:
        sides = []
        for period, totals in zip((a, b), per_period, strict=True):
            sources = period_sources(
                conn,
                watchlist=watchlist,
                since=period.first,
                until=period.last,
                categories=members[name],
            )
            sides.append(_side(period, totals[name], sources))
        ratio = rate_ratio(per_period[0][name], a.days, per_period[1][name], b.days)
        out.append(
            {
                "group": name,
                "a": sides[0],
                "b": sides[1],
                "fold_change": _round(ratio.fold_change),
                "ci": [_round(ratio.ci[0]), _round(ratio.ci[1])],
            }
        )
    return out
