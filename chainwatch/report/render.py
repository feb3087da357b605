"""Render a report: rich table, JSON, CSV, self-contained HTML (inline SVG) and PNG."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from chainwatch.analysis.series import GROUPS
from chainwatch.report.build import Report

FORMATS = ("table", "json", "csv", "html", "png")
_SPARK = " ▁▂▃▄▅▆▇█"
COLOURS = {
    "btc": "#f7931a",
    "xmr": "#4c4c4c",
    "eth": "#627eea",
    "ltc": "#345d9d",
    "tor": "#7d4698",
    "vpn": "#2e8b57",
}


def sparkline(values: list[int], width: int = 60) -> str:
    """A compact bar per bucket (buckets are merged by maximum when there are too many)."""
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    merged = [max(values[i : i + step]) for i in range(0, len(values), step)]
    top = max(merged) or 1
    return "".join(_SPARK[0 if v == 0 else max(1, round(v / top * 8))] for v in merged)


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=1) + "\n"


def to_csv(report: Report) -> str:
    """One row per bucket: start, the groups' events, then distinct sources per group."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", *GROUPS, *(f"{g}_sources" for g in GROUPS)])
    s = report.series
    for i, start in enumerate(s.starts):
        writer.writerow(
            [
                start.isoformat(),
                *(int(s.groups[g][i]) for g in GROUPS),
                *(int(s.sources[g][i]) for g in GROUPS),
            ]
        )
    return out.getvalue()


def print_table(report: Report, console: Console) -> None:
    """Per group totals with a sparkline, then onsets and shifts (or why there are none)."""
    data = report.to_json()
    title = (
        f"chainwatch report: watchlist {report.watchlist or 'all'}, by {report.by}, "
        f"{data['since'] or '-'} .. {data['until'] or '-'} ({len(report.series)} buckets)"
    )
    table = Table(title=title)
    table.add_column("group")
    table.add_column("events", justify="right")
    table.add_column("peak sources", justify="right")
    table.add_column(f"per {report.by}")
    for g in GROUPS:
        values = [int(v) for v in report.series.groups[g]]
        table.add_row(
            g,
            str(sum(values)),
            str(int(report.series.sources[g].max(initial=0))),
            sparkline(values),
        )
    console.print(table)
    for onset in data["onsets"]:
        console.print(f"onset: {onset['coin']} on {onset['date']}")
    if not data["onsets"]:
        console.print("onsets: none (no sustained activity after a silent baseline)")
    for shift in data["shifts"]:
        lo_b, hi_b = shift["share_before_ci"]
        lo_a, hi_a = shift["share_after_ci"]
        console.print(
            f"shift: {shift['from']} -> {shift['to']} at {shift['changepoint']}, "
            f"crossover {shift['crossover'] or 'none'}; {shift['to']} share "
            f"{shift['share_before']:.3f} [{lo_b:.3f}, {hi_b:.3f}] -> "
            f"{shift['share_after']:.3f} [{lo_a:.3f}, {hi_a:.3f}], "
            f"fold {shift['fold_change']}, p = {shift['p_value']:.2g}"
        )
    for check in data["shift_checks"]:
        if not check["found"]:
            console.print(f"no shift {check['from']} -> {check['to']}: {check['reason']}")


def _svg(report: Report, width: int = 900, height: int = 300) -> str:
    """An inline SVG line chart of the groups with the change points marked."""
    s = report.series
    n = len(s.starts)
    pad = 40
    top = max([int(s.groups[g].max(initial=0)) for g in GROUPS] + [1])

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="events per {report.by}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#999"/>',
        f'<text x="4" y="{pad}" font-size="11">{top}</text>',
    ]
    if n:
        parts.append(f'<text x="{pad}" y="{height - 10}" font-size="11">{s.starts[0]}</text>')
        parts.append(
            f'<text x="{width - pad}" y="{height - 10}" font-size="11" text-anchor="end">'
            f"{s.starts[-1]}</text>"
        )
    for g in GROUPS:
        values = s.groups[g]
        if n == 0 or not values.any():
            continue
        points = " ".join(f"{x(i):.1f},{y(float(v)):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline class="series" data-group="{g}" fill="none" stroke="{COLOURS[g]}" '
            f'stroke-width="1.2" points="{points}"/>'
        )
    index = {start.isoformat(): i for i, start in enumerate(s.starts)}
    for shift in report.shifts:
        i = index[shift["changepoint"]]
        parts.append(
            f'<line class="shift" x1="{x(i):.1f}" y1="{pad}" x2="{x(i):.1f}" y2="{height - pad}" '
            f'stroke="red" stroke-dasharray="4 3"/>'
            f'<text x="{x(i) + 3:.1f}" y="{pad + 12}" font-size="11" fill="red">'
            f"{html.escape(shift['from'])}→{html.escape(shift['to'])} {shift['changepoint']}</text>"
        )
    legend_x = pad
    for g in GROUPS:
        parts.append(
            f'<text x="{legend_x}" y="{pad - 20}" font-size="11" fill="{COLOURS[g]}">■ {g}</text>'
        )
        legend_x += 60
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: Report) -> str:
    """A self-contained page: no scripts or fetches, the chart inline, the table below."""
    data = report.to_json()
    head = "".join(f"<th>{g}</th>" for g in GROUPS)
    rows = "".join(
        f"<tr><td>{row['start']}</td>" + "".join(f"<td>{row[g]}</td>" for g in GROUPS) + "</tr>"
        for row in data["series"]
    )
    onsets = (
        "".join(f"<li>{o['coin']}: {o['date']}</li>" for o in data["onsets"]) or "<li>none</li>"
    )
    shifts = "".join(
        f"<li>{s['from']} → {s['to']}: change point {s['changepoint']}, crossover "
        f"{s['crossover'] or 'none'}, share {s['share_before']} → {s['share_after']}, "
        f"fold {s['fold_change']}, p = {s['p_value']:.2g}</li>"
        for s in data["shifts"]
    ) or "".join(
        f"<li>no shift {c['from']} → {c['to']}: {html.escape(str(c['reason']))}</li>"
        for c in data["shift_checks"]
    )
    title = html.escape(
        f"chainwatch report: {report.watchlist or 'all watchlists'}, by {report.by}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:1em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "text-align:right}</style></head><body>"
        f"<h1>{title}</h1><p>{data['since']} .. {data['until']}</p>"
        f'{_svg(report)}<h2>Onsets</h2><ul id="onsets">{onsets}</ul>'
        f'<h2>Shifts</h2><ul id="shifts">{shifts}</ul>'
        f'<h2>Events per {report.by}</h2><table id="series"><thead><tr><th>start</th>{head}'
        f"</tr></thead><tbody>{rows}</tbody></table></body></html>\n"
    )


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
    for g in GROUPS:
        if s.groups[g].any():
            ax.plot(days, s.groups[g], label=g, color=COLOURS[g], linewidth=1)
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


def render(report: Report, fmt: str) -> str | bytes:
    """The report in ``fmt`` (not ``table``, which prints to a console)."""
    renderers: dict[str, Any] = {"json": to_json, "csv": to_csv, "html": to_html, "png": to_png}
    result: str | bytes = renderers[fmt](report)
    return result
