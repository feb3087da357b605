"""``chainwatch report --compare A..B C..D`` on SQLite and PostgreSQL: per day, distinct
sources, fold change and its 95% interval against a hand computation; bad ranges refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binomtest

from tests.report.conftest import add_counts

A = "2019-01-01..2019-01-10"  # 10 days
B = "2019-02-01..2019-02-05"  # 5 days


def _days(first: str, last: str) -> list[dt.date]:
    d0, d1 = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [d0 + dt.timedelta(days=i) for i in range((d1 - d0).days + 1)]


@pytest.fixture
def periods(db_url: str) -> str:
    """Tor 2/day on 2 addresses in A, 12/day on 3 in B; VPN 1/day in A only; 4 then 12 LTC
    events; BTC and uncoined pool events outside the periods; data up to 2019-02-10."""
    cells = [(d, "tor", 2, 2) for d in _days("2019-01-01", "2019-01-10")]
    cells += [(d, "tor", 12, 3) for d in _days("2019-02-01", "2019-02-05")]
    cells += [(d, "vpn", 1, 1) for d in _days("2019-01-01", "2019-01-10")]
    cells += [
        (dt.date(2019, 1, 5), "ltc-p2p", 4, 1),
        (dt.date(2019, 2, 3), "ltc-p2p", 12, 4),
        (dt.date(2019, 1, 20), "btc-p2p", 7, 1),
        (dt.date(2019, 1, 3), "pool", 5, 1),
        (dt.date(2019, 2, 10), "btc-p2p", 1, 1),
    ]
    add_counts(db_url, cells)
    return db_url


def _ratio_by_hand(k_a: int, t_a: int, k_b: int, t_b: int) -> tuple[float, float, float | None]:
    """Fold and interval the long way: Clopper-Pearson on k_b of k_a + k_b (scipy's exact
    binomial test), each bound p turned into the rate ratio p / (1 - p) * t_a / t_b."""
    ci = binomtest(k_b, k_a + k_b).proportion_ci(0.95, method="exact")
    hi = None if ci.high >= 1 else ci.high / (1 - ci.high) * t_a / t_b
    return (k_b / t_b) / (k_a / t_a), ci.low / (1 - ci.low) * t_a / t_b, hi


def test_compare_against_hand_computation(cli: Any, periods: str) -> None:
    result = cli("--db", periods, "report", "--format", "json", "--compare", A, B)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    compare = {entry["group"]: entry for entry in data["compare"]}
    # every contract coin, the coin with events (ltc), tor, vpn and their sum; never "pool"
    assert list(compare) == ["btc", "xmr", "eth", "ltc", "tor", "vpn", "tor+vpn"]
    tor = compare["tor"]
    assert tor["a"] == {
        "from": "2019-01-01",
        "to": "2019-01-10",
        "days": 10,
        "events": 20,
        "per_day": 2.0,
        "sources": 2,
    }
    assert tor["b"] == {
        "from": "2019-02-01",
        "to": "2019-02-05",
        "days": 5,
        "events": 60,
        "per_day": 12.0,
        "sources": 3,
    }
    # by hand: p = 60/80 with Clopper-Pearson bounds 0.64064, 0.84012 -> ratio x 10/5
    assert tor["fold_change"] == 6.0
    assert tor["ci"] == pytest.approx([3.5654, 10.5094], abs=1e-4)
    fold, lo, hi = _ratio_by_hand(20, 10, 60, 5)
    assert tor["ci"] == pytest.approx([lo, hi], abs=1e-4) and fold == 6.0

    both = compare["tor+vpn"]
    assert (both["a"]["per_day"], both["b"]["per_day"]) == (3.0, 12.0)
    assert (both["a"]["sources"], both["b"]["sources"]) == (2, 3)
    assert both["fold_change"] == 4.0
    assert both["ci"] == pytest.approx([2.5398, 6.4234], abs=1e-4)

    vpn = compare["vpn"]  # none in B: the ratio is 0 with a finite upper bound
    assert vpn["fold_change"] == 0.0
    assert vpn["ci"] == pytest.approx([0.0, 0.8923], abs=1e-4)
    ltc = compare["ltc"]
    assert (ltc["a"]["per_day"], ltc["b"]["per_day"], ltc["fold_change"]) == (0.4, 2.4, 6.0)
    assert (ltc["a"]["sources"], ltc["b"]["sources"]) == (1, 4)
    assert ltc["ci"] == pytest.approx(list(_ratio_by_hand(4, 10, 12, 5)[1:]), abs=1e-4)
    btc = compare["btc"]  # nothing in either period: nothing to compare
    assert btc["a"]["events"] == btc["b"]["events"] == 0
    assert btc["fold_change"] is None and btc["ci"] == [None, None]
    assert "Clopper-Pearson" in data["compare_method"]


def test_compare_shown_in_table_and_html(cli: Any, periods: str, tmp_path: Path) -> None:
    table = cli("--db", periods, "report", "--compare", A, B)
    assert table.exit_code == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if x.startswith("tor+vpn"))
    assert line.split() == ["tor+vpn", "3.00", "12.00", "×4", "[2.54,", "6.42]", "2→3"]
    assert "compare A 2019-01-01..2019-01-10 (10 d) with B 2019-02-01..2019-02-05" in table.stdout
    out = tmp_path / "r.html"
    html = cli("--db", periods, "report", "--format", "html", "--out", out, "--compare", A, B)
    assert html.exit_code == 0, html.stderr
    page = out.read_text()
    assert 'id="compare-view"' in page and "<td>tor+vpn</td><td>30</td><td>3.00</td>" in page


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ("2019-01-10..2019-01-01", B, "ends before it starts"),
        (A, "2019-01-05..2019-01-20", "overlap"),
        ("2018-12-01..2018-12-31", B, "outside the stored data (2019-01-01..2019-02-10)"),
        (A, "2019-02-01..2019-03-01", "outside the stored data"),
        ("2019-01-01-2019-01-10", B, "expected a range FIRST..LAST"),
        ("2019-02-30..2019-03-01", B, "not a calendar date"),
        ("january..february", B, "expected a range FIRST..LAST"),
    ],
)
def test_bad_ranges_are_one_line_usage_errors(
    cli: Any, periods: str, a: str, b: str, message: str
) -> None:
    result = cli("--db", periods, "report", "--compare", a, b)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "--compare" in lines[0]
    assert "Traceback" not in result.stderr


def test_compare_on_an_empty_store_is_a_usage_error(cli: Any, db_url: str) -> None:
    result = cli("--db", db_url, "report", "--compare", A, B)
    assert result.exit_code == 2 and "no events are stored" in result.stderr
