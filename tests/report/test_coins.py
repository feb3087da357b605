"""Every coin of the registry is reported alike: a coin other than BTC and XMR gets its series,
sources, row and pair like them; uncoined ``pool`` mining counts under no coin."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from chainwatch.categories import COINS, EVENT_CATEGORIES, coin_of
from tests.report.conftest import add_counts

# the registry's last coin (ltc today), so the test follows the registry as it grows
COIN = next(c for c in reversed(COINS) if c not in {"btc", "xmr"})
CATEGORY = next(c for c in EVENT_CATEGORIES if coin_of(c) == COIN)
DAYS = [dt.date(2019, 3, 1) + dt.timedelta(days=i) for i in range(60)]


@pytest.fixture
def coins(db_url: str) -> str:
    cells = [(d, CATEGORY, 3 if i < 30 else 30, 2) for i, d in enumerate(DAYS)]
    cells += [(d, "btc-p2p", 20 if i < 30 else 2, 3) for i, d in enumerate(DAYS)]
    cells += [(d, "pool", 4, 1) for d in DAYS[:10]]
    add_counts(db_url, cells)
    return db_url


def test_any_coin_has_its_series_row_and_pair(
    cli: Any, coins: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = cli("--db", coins, "report", "--format", "json", "--pair", f"btc:{COIN}")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    series = data["series"]
    assert sum(row[COIN] for row in series) == 30 * 3 + 30 * 30
    assert series[0]["categories"] == {CATEGORY: 3, "btc-p2p": 20, "pool": 4}
    assert series[0]["sources"][COIN] == 2 and series[0]["sources"]["btc"] == 3
    # pool: in the categories, never in a coin's count nor its sources
    assert series[0]["btc"] == 20 and series[0][COIN] == 3
    assert "pool" not in series[0] and "pool" not in series[0]["sources"]
    (shift,) = data["shifts"]
    assert (shift["from"], shift["to"]) == ("btc", COIN)
    step = dt.date.fromisoformat(shift["changepoint"]) - dt.date(2019, 3, 31)
    assert abs(step.days) <= 1
    assert {"coin": COIN, "date": "2019-03-01"} not in data["onsets"]  # no silent baseline

    monkeypatch.setenv("COLUMNS", "100")
    table = cli("--db", coins, "report", "--pair", f"btc:{COIN}")
    rows = [line.split()[:2] for line in table.stdout.splitlines()[2:4]]
    assert rows == [["btc", "660"], [COIN, "990"]]
    assert f"btc→{COIN} {shift['changepoint']}" in table.stdout

    out = tmp_path / "r.html"
    html = cli("--db", coins, "report", "--format", "html", "--out", out)
    assert html.exit_code == 0, html.stderr
    page = out.read_text()
    assert f'id="local-{COIN}"' in page and f'id="remote-{COIN}"' in page
    assert f'"{COIN}":[3,3,3' in page  # the page's data carries the coin's series

    compare = cli(
        "--db",
        coins,
        "report",
        "--format",
        "json",
        "--compare",
        "2019-03-01..2019-03-30",
        "2019-03-31..2019-04-29",
    )
    entry = next(e for e in json.loads(compare.stdout)["compare"] if e["group"] == COIN)
    assert entry["fold_change"] == 10.0 and entry["a"]["sources"] == 2


def test_pair_takes_any_two_registry_coins(cli: Any, coins: str) -> None:
    for other in COINS:
        if other != COIN:
            assert cli("--db", coins, "report", "--pair", f"{other}:{COIN}").exit_code == 0
    bad = cli("--db", coins, "report", "--pair", f"{COIN}:{COIN}")
    assert bad.exit_code == 1 and "FROM:TO" in bad.stderr
