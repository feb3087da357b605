"""The report in a terminal: one row per group with events, a sparkline across the whole range
at the console's width with the change points marked, then onsets, shifts and comparisons.

A sparkline has exactly as many cells as the console leaves after the labels. With more
buckets than cells each cell holds the sum of its buckets, drawn relative to how many buckets
it holds (so cells of two and three buckets do not zigzag); with fewer, a bucket spans
several cells. A ``▲`` under the sparklines marks the cell holding each change point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from chainwatch.report.build import Report

_SPARK = " ▁▂▃▄▅▆▇█"
#: the narrowest sparkline drawn, however narrow the console
MIN_CELLS = 10


def cell_edges(buckets: int, cells: int) -> npt.NDArray[np.int64]:
    """Bucket index where each cell starts, plus the end: ``cells + 1`` values."""
    if buckets >= cells:
        return (np.arange(cells + 1, dtype=np.int64) * buckets) // cells
    # fewer buckets than cells: each cell shows the one bucket under it
    starts = (np.arange(cells, dtype=np.int64) * buckets) // cells
    return np.concatenate([starts, [buckets]])


def resample(values: npt.NDArray[np.int64], cells: int) -> tuple[npt.NDArray[np.int64], ...]:
    """Per cell: the sum of its buckets and how many buckets it holds."""
    edges = cell_edges(len(values), cells)
    if len(values) >= cells:
        sums = np.add.reduceat(values, edges[:-1]) if len(values) else np.zeros(cells, np.int64)
        sizes = np.diff(edges)
    else:
        sums, sizes = values[edges[:-1]], np.ones(cells, dtype=np.int64)
    return np.asarray(sums, dtype=np.int64), np.asarray(sizes, dtype=np.int64)


def sparkline(values: npt.NDArray[np.int64], cells: int) -> str:
    """``cells`` characters covering every bucket of ``values`` (blank = no events)."""
    if len(values) == 0:
        return " " * cells
    sums, sizes = resample(np.asarray(values, dtype=np.int64), cells)
    level = sums / np.maximum(sizes, 1)
    top = float(level.max()) or 1.0
    steps = np.where(sums > 0, np.clip(np.round(level / top * 8), 1, 8), 0).astype(int)
    return "".join(_SPARK[s] for s in steps)


def cell_of(bucket: int, buckets: int, cells: int) -> int:
    """The cell that shows ``bucket``."""
    edges = cell_edges(buckets, cells)
    return int(np.searchsorted(edges[:-1], bucket, side="right") - 1)


def _marks(report: Report, cells: int) -> str | None:
    """A line of ``cells`` characters with ``▲`` under each change point and its label."""
    index = {start.isoformat(): i for i, start in enumerate(report.series.starts)}
    line = [" "] * cells
    for shift in report.shifts:
        j = cell_of(index[shift["changepoint"]], len(report.series), cells)
        label = f"{shift['from']}→{shift['to']} {shift['changepoint']}"
        line[j] = "▲"
        text = f" {label}" if j + 1 + len(label) + 1 <= cells else f"{label} "
        at = j + 1 if text.startswith(" ") else j - len(text)
        if at >= 0:
            for k, ch in enumerate(text):
                if line[at + k] == " ":
                    line[at + k] = ch
    return "".join(line) if report.shifts else None


def spark_cells(console_width: int, label_width: int) -> int:
    """Cells left for the sparkline on a line of ``console_width`` after the labels."""
    return max(MIN_CELLS, console_width - label_width)


def print_table(report: Report, console: Console) -> None:
    """Per group totals with a sparkline, then onsets and shifts (or why there are none)."""
    data = report.to_json()
    s = report.series
    active = s.active()
    rows = [
        (g, f"{int(s.groups[g].sum()):,}", f"{int(s.sources[g].max(initial=0)):,}") for g in active
    ]
    heads = ("group", "events", "peak src")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    label_width = sum(widths) + len(widths)  # each label column and one space after it
    cells = spark_cells(console.width, label_width)
    console.print(
        f"report: {report.watchlist or 'all watchlists'} by {report.by}, "
        f"{data['since'] or '-'}..{data['until'] or '-'}, {len(s):,} buckets"
    )
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
    for head, width in zip(heads, widths, strict=True):
        table.add_column(
            head, width=width, no_wrap=True, justify="left" if head == "group" else "right"
        )
    per_cell = f"per {report.by}"
    if len(s) > cells:
        per_cell = f"{len(s) / cells:.1f} {report.by}s a cell"
    table.add_column(per_cell, width=cells, no_wrap=True, overflow="crop")
    for g, events, peak in rows:
        table.add_row(g, events, peak, sparkline(s.groups[g], cells))
    marks = _marks(report, cells)
    if marks is not None:
        table.add_row("", "", "", marks)
    if rows:
        console.print(table, crop=False)
    quiet = [g for g in s.shown() if g not in active]
    if quiet:
        console.print(f"no events: {', '.join(quiet)}")
    for onset in data["onsets"]:
        console.print(f"onset: {onset['coin']} on {onset['date']}")
    if not data["onsets"]:
        console.print("onsets: none (no sustained activity after a silent baseline)")
    for shift in data["shifts"]:
        lo_b, hi_b = shift["share_before_ci"]
        lo_a, hi_a = shift["share_after_ci"]
        console.print(
            f"shift: {shift['from']} -> {shift['to']} at {shift['changepoint']}, "
            f"crossover {shift['crossover'] or 'none'}, fold {shift['fold_change']}, "
            f"p = {shift['p_value']:.2g}\n  {shift['to']} share "
            f"{shift['share_before']:.3f} [{lo_b:.3f}, {hi_b:.3f}] -> "
            f"{shift['share_after']:.3f} [{lo_a:.3f}, {hi_a:.3f}]"
        )
    for check in data["shift_checks"]:
        if not check["found"]:
            console.print(
                f"no shift {check['from']} -> {check['to']}: {check['reason']}", soft_wrap=False
            )
    if report.compare:
        print_compare(report.compare, console)


def fold_text(entry: dict[str, Any]) -> tuple[str, str]:
    """The fold change and its interval as text (``∞`` for an unbounded side)."""
    fold = entry["fold_change"]
    lo, hi = entry["ci"]
    if fold is None and lo is None:
        return "-", "-"
    fold_s = "∞" if fold is None else f"×{fold:.3g}"
    return fold_s, f"[{lo:.3g}, {'∞' if hi is None else f'{hi:.3g}'}]"


def print_compare(compare: list[dict[str, Any]], console: Console) -> None:
    """The period comparison as a table: per day in A and B, fold change, interval, sources."""
    a, b = compare[0]["a"], compare[0]["b"]
    table = Table(
        title=f"compare A {a['from']}..{a['to']} ({a['days']} d) with "
        f"B {b['from']}..{b['to']} ({b['days']} d)",
        box=None,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    for head in ("group", "A/day", "B/day", "fold B/A", "95% interval", "sources A→B"):
        table.add_column(head, justify="left" if head == "group" else "right", no_wrap=True)
    for entry in compare:
        fold, interval = fold_text(entry)
        table.add_row(
            entry["group"],
            f"{entry['a']['per_day']:.2f}",
            f"{entry['b']['per_day']:.2f}",
            fold,
            interval,
            f"{entry['a']['sources']}→{entry['b']['sources']}",
        )
    console.print(table)
