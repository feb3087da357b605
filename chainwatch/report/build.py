"""Build a report from the store: complete series, onsets and shifts, as the DESIGN.md JSON."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainwatch.analysis.compare import METHOD
from chainwatch.analysis.onsets import find_onset
from chainwatch.analysis.series import Series, build_series
from chainwatch.analysis.shifts import detect_shift
from chainwatch.report.compare import Period, check_periods, compare_periods
from chainwatch.settings.report import OPTION_KEYS, parse_pair
from chainwatch.store.db import Store
from chainwatch.store.reporting import BUCKETS, BucketRow, SourceRow, bucket_counts, stored_span


@dataclass(frozen=True)
class ReportOptions:
    """Thresholds of the analysis; defaults in ``chainwatch.settings.report.OPTION_KEYS``."""

    values: Mapping[str, Any] = field(default_factory=lambda: dict(OPTION_KEYS))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def options_from(table: Mapping[str, Any], where: Path | str, **overrides: Any) -> ReportOptions:
    """The config's ``[report]`` values (validated when the settings were loaded, see
    ``chainwatch.settings.report``) over the defaults, with flag overrides (None = not
    given); ``where`` names the file in the error of a bad pair."""
    values = {**OPTION_KEYS, **table}
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    for pair in values["pairs"]:
        parse_pair(pair, where)
    return ReportOptions(values)


@dataclass
class Report:
    """The report as data: ``to_json()`` gives the DESIGN.md contract; ``series`` the arrays."""

    watchlist: str | None
    by: str
    since: dt.date | None
    until: dt.date | None
    series: Series
    onsets: list[dict[str, Any]]
    shifts: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    compare: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        rows = []
        s = self.series
        shown = s.shown()
        for i, start in enumerate(s.starts):
            row: dict[str, Any] = {"start": start.isoformat()}
            for g in shown:
                row[g] = int(s.groups[g][i])
            row["categories"] = {c: int(v[i]) for c, v in s.categories.items() if v[i]}
            row["sources"] = {g: int(s.sources[g][i]) for g in shown}
            rows.append(row)
        extra: dict[str, Any] = {}
        if self.compare is not None:
            extra = {"compare": self.compare, "compare_method": METHOD}
        return {
            "watchlist": self.watchlist,
            "by": self.by,
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "series": rows,
            "onsets": self.onsets,
            "shifts": self.shifts,
            "shift_checks": self.checks,
            **extra,
        }


def build_report(
    store: Store,
    *,
    by: str = "day",
    watchlist: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    options: ReportOptions | None = None,
    compare: tuple[Period, Period] | None = None,
) -> Report:
    """Read the store and analyse it. Without ``since``/``until`` the stored span is used.

    ``compare`` (periods A and B) adds the period comparison; periods that overlap or reach
    outside the stored data are refused with a UsageError.
    """
    if by not in BUCKETS:
        raise ValueError(by)
    opts = options or ReportOptions()
    compared = None
    with store.engine.connect() as conn:
        span = stored_span(conn, watchlist)
        if compare is not None:
            check_periods(*compare, span)
            compared = compare_periods(conn, *compare, watchlist=watchlist)
        if (since is None or until is None) and span is not None:
            since = since or span[0]
            until = until or span[1]
        if since is None or until is None or until < since:
            counts: list[BucketRow] = []
            sources: list[SourceRow] = []
        else:
            counts, sources = bucket_counts(
                conn, by=by, watchlist=watchlist, since=since, until=until
            )
    if since is None or until is None:
        series = build_series(
            [], [], since=dt.date.today(), until=dt.date.today() - dt.timedelta(1), by=by
        )
    else:
        series = build_series(counts, sources, since=since, until=until, by=by)
    step = _bucket_days(by)
    onsets = _onsets(series, opts, step)
    shifts, checks = _shifts(series, opts, step)
    return Report(watchlist, by, since, until, series, onsets, shifts, checks, compared)


def _bucket_days(by: str) -> float:
    """A bucket's length in days (a month: its mean length), to turn day thresholds to buckets."""
    return {"day": 1.0, "week": 7.0, "month": 365.25 / 12}[by]


def _onsets(series: Series, opts: ReportOptions, step: float) -> list[dict[str, Any]]:
    baseline = max(1, math.ceil(opts["onset_baseline_days"] / step))
    window = max(1, math.ceil(opts["onset_window_days"] / step))
    min_active = max(1, math.ceil(window * opts["onset_min_active"]))
    out = []
    for g in series.active():
        i = find_onset(series.groups[g], baseline=baseline, window=window, min_active=min_active)
        if i is not None:
            out.append({"coin": g, "date": series.starts[i].isoformat()})
    return out


def _shifts(
    series: Series, opts: ReportOptions, step: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shifts, checks = [], []
    for pair in opts["pairs"]:
        src, dst = parse_pair(pair)
        result = detect_shift(
            series.groups[src],
            series.groups[dst],
            alpha=opts["alpha"],
            min_events=int(opts["min_events"]),
            min_buckets=int(opts["min_buckets"]),
            min_fold=opts["min_fold"],
            simulations=int(opts["simulations"]),
            crossover_window=max(1, math.ceil(opts["crossover_window"] / step)),
        )
        check: dict[str, Any] = {
            "from": src,
            "to": dst,
            "found": result.found,
            "reason": result.reason,
        }
        if result.changepoint is not None:
            check["p_value"] = result.p_value
        checks.append(check)
        if result.found and result.changepoint is not None:
            assert result.ci_before is not None and result.ci_after is not None
            shifts.append(
                {
                    "from": src,
                    "to": dst,
                    "changepoint": series.starts[result.changepoint].isoformat(),
                    "crossover": None
                    if result.crossover is None
                    else series.starts[result.crossover].isoformat(),
                    "share_before": round(float(result.share_before or 0.0), 4),
                    "share_after": round(float(result.share_after or 0.0), 4),
                    "fold_change": round(float(result.fold_change or 0.0), 2),
                    "p_value": result.p_value,
                    "share_before_ci": [round(v, 4) for v in result.ci_before],
                    "share_after_ci": [round(v, 4) for v in result.ci_after],
                }
            )
    return shifts, checks
