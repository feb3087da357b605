"""``chainwatch demo`` through the CLI: simulated flows are scanned and the shift is found."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from chainwatch.simulate import daily_counts


def test_simulator_is_deterministic() -> None:
    first, second = daily_counts(seed=3), daily_counts(seed=3)
    assert all((first.counts[c] == second.counts[c]).all() for c in first.counts)
    btc = first.counts["btc-p2p"] + first.counts["btc-pool"]
    onset = (dt.date(2017, 5, 17) - first.days[0]).days
    assert btc[:onset].sum() == 0 and btc[onset] > 0


@pytest.mark.slow
def test_demo_via_cli(cli: Any, tmp_path: Path) -> None:
    result = cli("demo", "--dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "onset: btc on 2017-05-17" in result.stdout
    assert "shift: btc -> xmr at 2019-05-0" in result.stdout
    # the summary answers the Tor/VPN question: the simulated rise between two periods
    lines = result.stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("Tor/VPN use"))
    found = re.search(r"×([\d.]+) \(95% \[([\d.]+), ([\d.]+)\]\)", lines[at])
    assert found is not None, lines[at]
    fold, lo, hi = (float(v) for v in found.groups())
    assert 8 < lo < fold < hi < 20  # the simulation's rate rises ~12x from April 2017
    assert "/day in 2017-04-01..2017-04-30, " in lines[at + 1]
    assert "/day in 2019-12-01..2019-12-31" in lines[at + 1]
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "report.html").read_text()
    assert 'id="timeseries"' in page and 'id="compare-view"' in page
    assert 'id="sources-view"' in page and "demo-xmr-pool" in page  # the catalog entry
    # the scanned store answers the report command like any other
    report = cli(
        "--db",
        f"sqlite:///{tmp_path / 'chainwatch.db'}",
        "report",
        "--format",
        "json",
        "--fail-on-shift",
    )
    assert report.exit_code == 4
    shift = json.loads(report.stdout)["shifts"][0]
    assert abs((dt.date.fromisoformat(shift["changepoint"]) - dt.date(2019, 5, 6)).days) <= 3
    assert shift["fold_change"] > 10
