"""The HTML report: one self-contained page that works offline, drawn with plotly.js.

The page inlines plotly.js (from the ``plotly`` package) and the report's data once, as JSON in
``<script type="application/json" id="report-data">`` (columns, not rows, so three years of
daily buckets stay small); ``report.js`` builds the charts from it: the time series (zoom, pan,
hover with the bucket's values, series toggled from the legend, change points drawn), the
categories of each coin stacked, the shares ``to / (from + to)`` with the change point and the
before/after shares and their intervals, and the period comparison. The tables (sources,
detectors, evidence) are plain HTML written here. Nothing is fetched: no URL appears in a
``src`` or ``href``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from chainwatch import __version__
from chainwatch.analysis.series import GROUPS, group_of
from chainwatch.report.build import Report
from chainwatch.report.colours import colour
from chainwatch.report.details import ReportDetails
from chainwatch.report.terminal import fold_text


def page_data(report: Report) -> dict[str, Any]:
    """The data ``report.js`` draws: the series as columns plus the findings of the JSON."""
    s = report.series
    data = report.to_json()
    return {
        "watchlist": report.watchlist,
        "by": report.by,
        "since": data["since"],
        "until": data["until"],
        "starts": [d.isoformat() for d in s.starts],
        "groups": {g: s.groups[g].tolist() for g in s.shown()},
        "active": list(s.active()),
        "sources": {g: s.sources[g].tolist() for g in s.active()},
        "categories": {c: v.tolist() for c, v in s.categories.items() if v.any()},
        "category_group": {c: group_of(c) for c, v in s.categories.items() if v.any()},
        "colours": {name: colour(name) for name in (*GROUPS, *s.categories)},
        "onsets": data["onsets"],
        "shifts": data["shifts"],
        "shift_checks": data["shift_checks"],
        "compare": data.get("compare"),
    }


def _json_script(value: Any) -> str:
    """JSON safe inside ``<script>``: ``</`` and ``<!--`` cannot close or open anything."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _table(table_id: str, heads: list[str], rows: Sequence[Sequence[object]], empty: str) -> str:
    if not rows:
        return f'<p id="{table_id}" class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sources(details: ReportDetails) -> str:
    groups = [g for g in GROUPS if any(r.group == g for r in details.local + details.remote)]
    parts = []
    for g in groups:
        local = [
            [r.party, f"{r.events:,}", _time(r.first_seen), _time(r.last_seen)]
            for r in details.local
            if r.group == g
        ]
        remote = [
            [r.party, r.endpoint or "", f"{r.events:,}", _time(r.first_seen), _time(r.last_seen)]
            for r in details.remote
            if r.group == g
        ]
        parts.append(
            f'<section class="group" data-group="{_e(g)}"><h3>{_e(g)}</h3><div class="pair">'
            + _table(
                f"local-{g}",
                ["local address", "events", "first seen", "last seen"],
                local,
                "none",
            )
            + _table(
                f"remote-{g}",
                ["remote endpoint", "catalog entry", "events", "first seen", "last seen"],
                remote,
                "none",
            )
            + "</div></section>"
        )
    return "".join(parts) or '<p class="empty">No events in the range.</p>'


def _detectors(details: ReportDetails) -> str:
    rows = [
        [
            r.category,
            r.detector,
            f"{r.events:,}",
            f"{r.confidence_mean:.2f}",
            f"{r.confidence_min:.2f}–{r.confidence_max:.2f}",
        ]
        for r in sorted(details.detectors, key=lambda r: (r.category, -r.events))
    ]
    return _table(
        "detectors",
        ["category", "detector", "events", "mean confidence", "range"],
        rows,
        "No events in the range.",
    )


def _evidence(details: ReportDetails) -> str:
    inputs = [
        [
            r.source,
            r.path or "(node, no file)",
            r.format or "",
            "" if r.records is None else f"{r.records:,}",
            f"{r.events:,}",
            _time(r.first),
            _time(r.last),
            (r.sha256 or "")[:16],
        ]
        for r in details.inputs
    ]
    catalogs = [
        [
            c.name,
            c.endpoints,
            ", ".join(c.categories),
            c.valid_from or "unbounded",
            c.valid_to or "unbounded",
            c.sha256[:16],
        ]
        for c in details.catalogs
    ]
    lists = [[n, s or "", _time(t)] for n, s, t in details.watchlists]
    catalog_note = (
        f'<p class="empty">catalogs not listed: {_e(details.catalog_error)}</p>'
        if details.catalog_error
        else ""
    )
    return (
        "<h3>Inputs and sources</h3>"
        + _table(
            "inputs",
            ["source", "input", "format", "records", "events", "first", "last", "sha256"],
            inputs,
            "No events in the range.",
        )
        + "<h3>Watchlists</h3>"
        + _table("watchlists", ["watchlist", "cited source", "loaded"], lists, "none loaded")
        + "<h3>Endpoint catalogs</h3>"
        + catalog_note
        + _table(
            "catalogs",
            ["catalog", "entries", "categories", "valid from", "valid to", "sha256"],
            catalogs,
            "none",
        )
    )


def _findings(report: Report) -> str:
    data = report.to_json()
    onsets = "".join(f"<li>{_e(o['coin'])}: {_e(o['date'])}</li>" for o in data["onsets"])
    shifts = "".join(
        f"<li>{_e(s['from'])} → {_e(s['to'])}: change point {_e(s['changepoint'])}, crossover "
        f"{_e(s['crossover'] or 'none')}, {_e(s['to'])} share {s['share_before']} "
        f"{s['share_before_ci']} → {s['share_after']} {s['share_after_ci']}, fold "
        f"{s['fold_change']}, p = {s['p_value']:.2g}</li>"
        for s in data["shifts"]
    )
    misses = "".join(
        f"<li>no shift {_e(c['from'])} → {_e(c['to'])}: {_e(c['reason'])}</li>"
        for c in data["shift_checks"]
        if not c["found"]
    )
    return (
        f'<ul id="onsets">{onsets or "<li>no onsets</li>"}</ul>'
        f'<ul id="shifts">{shifts}{misses}</ul>'
    )


def _compare(report: Report) -> str:
    if not report.compare:
        return ""
    a, b = report.compare[0]["a"], report.compare[0]["b"]
    rows = []
    for entry in report.compare:
        fold, interval = fold_text(entry)
        rows.append(
            [
                entry["group"],
                f"{entry['a']['events']:,}",
                f"{entry['a']['per_day']:.2f}",
                f"{entry['b']['events']:,}",
                f"{entry['b']['per_day']:.2f}",
                fold,
                interval,
                f"{entry['a']['sources']} → {entry['b']['sources']}",
            ]
        )
    heads = ["group", "A events", "A/day", "B events", "B/day", "fold B/A", "95%", "sources"]
    return (
        f'<section id="compare-view"><h2>Periods compared: A {_e(a["from"])}..{_e(a["to"])} '
        f"({a['days']} days), B {_e(b['from'])}..{_e(b['to'])} ({b['days']} days)</h2>"
        '<div id="compare-chart" class="chart short"></div>'
        + _table("compare", heads, rows, "")
        + "<p class=note>Fold change: B's events per day over A's. Interval: exact conditional "
        "binomial (Clopper-Pearson) interval of the Poisson rate ratio, 95%.</p></section>"
    )


def to_html(report: Report, details: ReportDetails | None = None) -> str:
    """The whole page; ``details`` None leaves the detail views out (nothing queried)."""
    from plotly.offline import get_plotlyjs

    here = resources.files("chainwatch.report")
    script = here.joinpath("report.js").read_text(encoding="utf-8")
    style = here.joinpath("report.css").read_text(encoding="utf-8")
    title = f"chainwatch report: {report.watchlist or 'all watchlists'}, by {report.by}"
    span = f"{report.since or '-'} .. {report.until or '-'}, {len(report.series):,} buckets"
    detail_views = ""
    if details is not None:
        detail_views = (
            '<section id="sources-view"><h2>Sources: busiest local addresses and remote '
            f"endpoints per group</h2>{_sources(details)}</section>"
            '<section id="detectors-view"><h2>Detectors and confidence</h2>'
            f"{_detectors(details)}</section>"
            '<section id="evidence-view"><h2>Evidence</h2>'
            f"{_evidence(details)}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{style}</style>"
        f'<script type="application/json" id="report-data">{_json_script(page_data(report))}'
        "</script>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{_e(span)} · chainwatch {_e(__version__)}</p></header>"
        '<section id="series-view"><h2>Events over time</h2>'
        "<p class=note>Drag to zoom, double-click to reset, click a legend entry to hide it.</p>"
        '<div id="timeseries" class="chart"></div>'
        f"{_findings(report)}</section>"
        '<section id="categories-view"><h2>Categories of each coin</h2>'
        '<label>group <select id="category-group"></select></label>'
        '<div id="categories" class="chart"></div></section>'
        '<section id="shares-view"><h2>Shares</h2>'
        '<label>pair <select id="share-pair"></select></label>'
        '<div id="shares" class="chart"></div></section>'
        f"{_compare(report)}{detail_views}"
        f"<script>{script}</script></body></html>\n"
    )
