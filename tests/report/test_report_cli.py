"""``chainwatch report`` end to end on SQLite and PostgreSQL: keys, buckets, formats, exits."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

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


def test_monthly_buckets_sum_the_days(cli: Any, shifted: str) -> None:
    daily = json.loads(cli("--db", shifted, "report", "--format", "json").stdout)
    result = cli("--db", shifted, "report", "--by", "month", "--format", "json")
    assert result.exit_code == 0, result.stderr
    monthly = json.loads(result.stdout)
    assert monthly["by"] == "month"
    assert [row["start"] for row in monthly["series"]] == [f"2019-{m:02d}-01" for m in range(1, 9)]
    for row in monthly["series"]:
        month = row["start"][:7]
        for group in ("btc", "xmr", "tor", "vpn"):
            assert row[group] == sum(
                d[group] for d in daily["series"] if d["start"].startswith(month)
            )
    # distinct sources over a month: the five simulated addresses, not a sum of days
    assert max(row["sources"]["btc"] for row in monthly["series"]) == 5
    (shift,) = monthly["shifts"]
    assert shift["changepoint"] == "2019-05-01"


def test_bad_options_are_usage_errors(cli: Any, db_url: str) -> None:
    by = cli("--db", db_url, "report", "--by", "year")
    assert by.exit_code == 2 and "day, week, month" in by.stderr
    assert cli("--db", db_url, "report", "--since", "yesterday").exit_code == 2
    assert cli("--db", db_url, "report", "--format", "png").exit_code == 2
    bad = cli("--db", db_url, "report", "--pair", "btc:nosuchcoin")
    assert bad.exit_code == 1 and "nosuchcoin" in bad.stderr


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
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data


def test_html_is_self_contained_with_the_report_data(
    cli: Any, shifted: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    assert cli("--db", shifted, "report", "--format", "html", "--out", out).exit_code == 0
    page = out.read_text()
    parser = _Collector()
    parser.feed(page)
    # inline scripts only; nothing that loads a file or a URL
    assert [a for t, a in parser.tags if t == "script" and a.get("src")] == []
    assert not any(t in {"link", "img", "iframe", "object", "embed"} for t, _ in parser.tags)
    assert not any((a.get("src") or a.get("href")) for _, a in parser.tags)
    ids = {a.get("id") for _, a in parser.tags}
    assert {"timeseries", "categories", "shares", "sources-view", "detectors-view"} <= ids
    assert {"evidence-view", "inputs", "detectors", "local-btc", "remote-xmr"} <= ids
    embedded = json.loads(parser.data["report-data"])
    report = json.loads(cli("--db", shifted, "report", "--format", "json").stdout)
    assert embedded["starts"] == [row["start"] for row in report["series"]]
    for group in ("btc", "xmr", "tor", "vpn"):
        assert embedded["groups"][group] == [row[group] for row in report["series"]]
    assert embedded["shifts"] == report["shifts"]
