"""Render a report as JSON, CSV, HTML (``report/html.py``) or PNG; the terminal table is in
``report/terminal.py``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import numpy as np

from chainwatch.report import FORMATS
from chainwatch.report.build import Report
from chainwatch.report.colours import colour


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=1) + "\n"


def to_csv(report: Report) -> str:
    """One row per bucket: start, the groups' events, then distinct sources per group."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    s = report.series
    shown = s.shown()
    writer.writerow(["start", *shown, *(f"{g}_sources" for g in shown)])
    for i, start in enumerate(s.starts):
        writer.writerow(
            [
                start.isoformat(),
                *(int(s.groups[g][i]) for g in shown),
                *(int(s.sources[g][i]) for g in shown),
            ]
        )
    return out.getvalue()


def to_png(report: Report) -> bytes:
    """A matplotlib chart (Agg backend) of each group's series with the change points marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    ax = fig.add_subplot()
    s = report.series
    # matplotlib's date numbers are days since 1970-01-01 (its default epoch)
    days = np.array(s.starts, dtype="datetime64[D]").astype(np.float64)
    for g in s.active():
        ax.plot(days, s.groups[g], label=g, color=colour(g), linewidth=1)
    for shift in report.shifts:
        day = dt.date.fromisoformat(shift["changepoint"])
        ax.axvline(float(np.datetime64(day, "D").astype(np.float64)), color="red", linestyle="--")
    ax.xaxis_date()
    ax.set_ylabel(f"events per {report.by}")
    ax.set_title(f"chainwatch: {report.watchlist or 'all watchlists'}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    fig.autofmt_xdate()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def render(report: Report, fmt: str, details: Any = None) -> str | bytes:
    """The report in ``fmt`` (not ``table``, which prints to a console).

    ``details`` (``report.details.ReportDetails``) feeds the HTML page's detail views.
    """
    renderer = FORMATS[fmt].load()
    content: str | bytes = renderer(report, details) if fmt == "html" else renderer(report)
    return content
