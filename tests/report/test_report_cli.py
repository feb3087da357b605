"""``chainwatch report`` end to end on SQLite and PostgreSQL: keys, buckets, formats, exits."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chainwatch.simulate import Timeline, daily_counts, event_rows
from chainwatch.store.db import open_store
from chainwatch.store.ingest import add_rollup_addresses, add_rollups, insert_events
from tests.conftest import require_binary

SERIES_KEYS = {"start", "btc", "xmr", "eth", "ltc", "tor", "vpn", "categories", "sources"}
SHIFT_KEYS = {
    "from",
    "to",
    "changepoint",
    "crossover",
    "share_before",
    "share_after",
    "fold_change",
    "p_value",
}


def _fill(url: str, timeline: Timeline) -> None:
    store = open_store(url)
    try:
        events, rollups, addresses = event_rows(timeline)
        with store.write() as conn:
            insert_events(conn, events)
            add_rollups(conn, rollups)
            add_rollup_addresses(conn, addresses)
    finally:
        store.close()


@pytest.fixture
def shifted(db_url: str) -> str:
    """2019 only, scaled down: BTC then the May 2019 switch to XMR."""
    _fill(db_url, daily_counts(dt.date(2019, 1, 1), dt.date(2019, 8, 31), scale=0.3))
    return db_url


def test_json_keys_and_complete_buckets(cli: Any, shifted: str) -> None:
    result = cli(
        "--db",
        shifted,
        "report",
        "--format",
        "json",
        "--since",
        "2018-12-15",
        "--until",
        "2019-09-10",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"watchlist", "by", "since", "until", "series", "onsets", "shifts"} <= set(data)
    assert data["by"] == "day" and data["since"] == "2018-12-15"
    days = [row["start"] for row in data["series"]]
    assert len(days) == (dt.date(2019, 9, 10) - dt.date(2018, 12, 15)).days + 1
    assert days[0] == "2018-12-15" and days[-1] == "2019-09-10"
    assert all(set(row) == SERIES_KEYS for row in data["series"])
    assert data["series"][0]["btc"] == 0  # before the data: present and zero
    assert data["onsets"][0] == {"coin": "btc", "date": "2019-01-01"}
    (shift,) = data["shifts"]
    assert set(shift) >= SHIFT_KEYS
    assert (shift["from"], shift["to"]) == ("btc", "xmr")
    changepoint = dt.date.fromisoformat(shift["changepoint"])
    assert abs((changepoint - dt.date(2019, 5, 6)).days) <= 3
    assert shift["share_before"] < 0.2 < 0.8 < shift["share_after"]
    assert shift["p_value"] < 0.01 and shift["fold_change"] > 5
    total_btc = sum(row["btc"] for row in data["series"])
    assert total_btc == sum(
        row["categories"].get("btc-p2p", 0) + row["categories"].get("btc-pool", 0)
        for row in data["series"]
    )
    assert max(row["sources"]["btc"] for row in data["series"]) == 5


def test_weekly_buckets_start_on_monday(cli: Any, shifted: str) -> None:
    data = json.loads(cli("--db", shifted, "report", "--by", "week", "--format", "json").stdout)
    starts = [dt.date.fromisoformat(row["start"]) for row in data["series"]]
    assert all(s.weekday() == 0 for s in starts)
    assert all((b - a).days == 7 for a, b in itertools.pairwise(starts))
    assert data["shifts"] and data["shifts"][0]["from"] == "btc"


def test_fail_on_shift_exit_statuses(cli: Any, shifted: str) -> None:
    assert cli("--db", shifted, "report", "--fail-on-shift").exit_code == 4
    assert cli("--db", shifted, "report").exit_code == 0
    # before the switch there is no shift to find
    quiet = cli("--db", shifted, "report", "--until", "2019-04-01", "--fail-on-shift")
    assert quiet.exit_code == 0
    assert "no shift btc -> xmr" in quiet.stdout


def test_no_data_says_why(cli: Any, db_url: str) -> None:
    result = cli(
        "--db",
        db_url,
        "report",
        "--format",
        "json",
        "--since",
        "2019-01-01",
        "--until",
        "2019-01-31",
    )
    data = json.loads(result.stdout)
    assert len(data["series"]) == 31 and data["shifts"] == [] and data["onsets"] == []
    assert data["shift_checks"][0]["reason"].startswith("only 0 events")


def test_bad_options_are_usage_errors(cli: Any, db_url: str) -> None:
    assert cli("--db", db_url, "report", "--by", "month").exit_code == 2
    assert cli("--db", db_url, "report", "--since", "yesterday").exit_code == 2
    assert cli("--db", db_url, "report", "--format", "png").exit_code == 2
    bad = cli("--db", db_url, "report", "--pair", "btc:doge")
    assert bad.exit_code == 1 and "doge" in bad.stderr


def test_csv_round_trips(cli: Any, shifted: str, tmp_path: Path) -> None:
    data = json.loads(cli("--db", shifted, "report", "--format", "json").stdout)
    out = tmp_path / "r.csv"
    assert cli("--db", shifted, "report", "--format", "csv", "--out", out).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["start"] for r in rows] == [s["start"] for s in data["series"]]
    assert [int(r["xmr"]) for r in rows] == [s["xmr"] for s in data["series"]]
    assert [int(r["btc_sources"]) for r in rows] == [s["sources"]["btc"] for s in data["series"]]


def test_png_decodes(cli: Any, shifted: str, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "r.png"
    assert cli("--db", shifted, "report", "--format", "png", "--out", out).exit_code == 0
    with Image.open(out) as image:
        image.verify()
        assert image.format == "PNG" and image.size == (1000, 400)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_parses_and_is_self_contained(cli: Any, shifted: str, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert cli("--db", shifted, "report", "--format", "html", "--out", out).exit_code == 0
    parser = _Collector()
    parser.feed(out.read_text())
    tags = [t for t, _ in parser.tags]
    assert "svg" in tags and "table" in tags
    assert tags.index("svg") < tags.index("table")
    assert not any(t in {"script", "link", "img", "iframe"} for t in tags)
    assert not any((a.get("src") or a.get("href")) for _, a in parser.tags)
    shifts = [a for t, a in parser.tags if t == "line" and a.get("class") == "shift"]
    assert len(shifts) == 1
    groups = {a.get("data-group") for t, a in parser.tags if t == "polyline"}
    assert {"btc", "xmr", "tor", "vpn"} <= groups


@pytest.mark.slow
def test_html_renders_in_headless_chromium(cli: Any, shifted: str, tmp_path: Path) -> None:
    chromium = require_binary("/usr/bin/chromium")
    out = tmp_path / "r.html"
    assert cli("--db", shifted, "report", "--format", "html", "--out", out).exit_code == 0
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            out.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<svg" in dom and 'class="series"' in dom and 'class="shift"' in dom
    assert "<table" in dom and "2019-05-06" in dom
    console_errors = [
        line for line in done.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line
    ]
    assert console_errors == []
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1000,700",
            out.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(1_000_000) or []
    # the chart drew: the BTC orange is among the rendered pixels
    assert any(abs(r - 0xF7) < 20 and abs(g - 0x93) < 30 and b < 60 for _, (r, g, b) in colours)
