"""The HTML report in real headless Chromium, driven over the DevTools protocol: no console
errors, no requests beyond the file itself, one point per bucket with the report's values,
hover (a real mouse move) shows the bucket's values, the change point is drawn at its date,
and a screenshot is kept under the test's temporary directory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_binary
from tests.report.cdp import Browser

pytestmark = pytest.mark.slow


def _on_axis(expression: str) -> str:
    """``expression`` evaluated with ``gd`` (the time series), ``area`` (its plot area) and
    ``xOf(day)``: a day's pixel x from plotly's public layout range and the plot area."""
    return (
        "(() => {"
        'const gd = document.getElementById("timeseries");'
        'const area = gd.querySelector(".nsewdrag").getBoundingClientRect();'
        'const ms = (s) => Date.parse(s.includes(" ") ? s.replace(" ", "T") + "Z" : s);'
        "const [r0, r1] = gd.layout.xaxis.range.map(ms);"
        "const xOf = (day) => area.left + (ms(day) - r0) / (r1 - r0) * area.width;"
        f"return {expression};}})()"
    )


def _hover(browser: Browser, x: float, y: float) -> str:
    """Move the mouse to (x, y); the time series' hover label text once it settles."""
    browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, session=True)
    text: str = browser.evaluate(
        "new Promise(done => { const t0 = Date.now(); let last = null; (function poll() {"
        " const h = document.querySelector('#timeseries .hoverlayer');"
        " const s = h ? h.textContent : '';"
        " if ((s === last && Date.now() - t0 > 300) || Date.now() - t0 > 3000) done(s);"
        " else { last = s; setTimeout(poll, 100); } })(); })"
    )
    return text


def _page(cli: Any, url: str, out: Path, *args: str) -> dict[str, Any]:
    result = cli("--db", url, "report", "--format", "html", "--out", out, *args)
    assert result.exit_code == 0, result.stderr
    report = cli("--db", url, "report", "--format", "json", *args)
    data: dict[str, Any] = json.loads(report.stdout)
    return data


def test_daily_page_in_chromium(cli: Any, shifted: str, tmp_path: Path) -> None:
    chromium = require_binary("/usr/bin/chromium")
    out = tmp_path / "report.html"
    compare = ("--compare", "2019-01-01..2019-03-31", "2019-06-01..2019-08-31")
    report = _page(cli, shifted, out, *compare)
    starts = [row["start"] for row in report["series"]]
    with Browser(chromium, tmp_path) as browser:
        browser.open(out.as_uri())
        traces = browser.evaluate(
            "document.getElementById('timeseries').data.map("
            "t => ({name: t.name, x: t.x, y: t.y, sources: t.customdata}))"
        )
        shifts = browser.evaluate(
            _on_axis(
                "Array.from(gd.querySelectorAll('.shapelayer path')).map(p => {"
                "const r = p.getBoundingClientRect(); return {left: r.left, right: r.right}})"
            )
        )
        changepoint = json.dumps(report["shifts"][0]["changepoint"])
        expected_x = browser.evaluate(_on_axis(f"xOf({changepoint})"))
        shares = browser.evaluate("document.getElementById('shares').layout.shapes")
        folds = browser.evaluate("document.getElementById('compare-chart').data[0]")
        stacked = browser.evaluate(
            "document.getElementById('categories').data.map(t => [t.name, t.x.length])"
        )
        browser.screenshot(tmp_path / "report.png")
        assert browser.console_errors == []
        assert browser.requests == [out.as_uri()]  # the page itself, nothing else
    # one point per bucket, with the bucket's values, for every group with events
    assert [t["name"] for t in traces] == ["btc", "xmr", "tor", "vpn"]
    for trace in traces:
        assert trace["x"] == starts
        assert trace["y"] == [row[trace["name"]] for row in report["series"]]
        assert trace["sources"] == [row["sources"][trace["name"]] for row in report["series"]]
    # the change point: one dashed line, drawn at its date's pixel
    (line,) = shifts
    assert abs(line["left"] - expected_x) < 2 and line["right"] - line["left"] < 4
    # the shares view draws the before/after shares and their intervals
    shift = report["shifts"][0]
    rects = [s for s in shares if s["type"] == "rect"]
    levels = [s["y0"] for s in shares if s["type"] == "line" and s["yref"] == "y"]
    assert [[r["y0"], r["y1"]] for r in rects] == [
        shift["share_before_ci"],
        shift["share_after_ci"],
    ]
    assert levels == [shift["share_before"], shift["share_after"]]
    assert rects[0]["x1"] == rects[1]["x0"] == shift["changepoint"]
    # the comparison: fold changes of the groups present in both periods
    expected = {c["group"]: c["fold_change"] for c in report["compare"] if c["fold_change"]}
    assert dict(zip(folds["x"], folds["y"], strict=True)) == expected
    assert ["btc-p2p", len(starts)] in stacked and ["btc-pool", len(starts)] in stacked
    from PIL import Image

    with Image.open(tmp_path / "report.png") as image:
        assert image.size == (1280, 900)
        colours = image.convert("RGB").getcolors(1_000_000) or []
    # the chart drew: the BTC orange is among the rendered pixels
    assert any(abs(r - 0xF7) < 20 and abs(g - 0x93) < 30 and b < 60 for _, (r, g, b) in colours)


def test_hover_shows_the_bucket_values(cli: Any, shifted: str, tmp_path: Path) -> None:
    chromium = require_binary("/usr/bin/chromium")
    out = tmp_path / "weekly.html"
    report = _page(cli, shifted, out, "--by", "week")
    rows = report["series"]
    with Browser(chromium, tmp_path) as browser:
        browser.open(out.as_uri())
        for i in (3, len(rows) // 2, len(rows) - 2):
            x = browser.evaluate(_on_axis(f"xOf({json.dumps(rows[i]['start'])})"))
            y = browser.evaluate(_on_axis("area.top + area.height / 2"))
            # away from the chart first (its hover label goes), then onto the bucket
            assert _hover(browser, 2, 2) == ""
            text = _hover(browser, x, y)
            assert rows[i]["start"] in text
            shown = {
                g: (int(n), int(src))
                for g, n, src in re.findall(r"([a-z]+): (\d+) events, (\d+) sources", text)
            }
            assert shown == {
                g: (rows[i][g], rows[i]["sources"][g]) for g in ("btc", "xmr", "tor", "vpn")
            }
        assert browser.console_errors == []
        assert browser.requests == [out.as_uri()]
