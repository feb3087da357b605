"""``chainwatch demo`` through the CLI: simulated flows are scanned and the shift is found."""

from __future__ import annotations

import datetime as dt
import json
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
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (tmp_path / "report.html").read_text()
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
