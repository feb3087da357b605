"""The terminal report: sparklines across the whole range at the console's width, every group
with events in a row, the change point marked under the cell that holds it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pytest

from chainwatch.report.terminal import cell_of, resample, sparkline
from tests.report.conftest import add_counts

GLYPHS = set(" ▁▂▃▄▅▆▇█")
_HEAD = re.compile(r"(per (day|week|month)|[\d.]+ (day|week|month)s a cell)")


def _rows(stdout: str) -> tuple[int, dict[str, str], str | None]:
    """Label width (where the sparkline column starts), each group's row, the marker row."""
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("group"))
    match = _HEAD.search(header)
    assert match is not None, header
    start = match.start()
    body = lines[lines.index(header) + 1 :]
    rows = {}
    marks = None
    for line in body:
        if "▲" in line:
            marks = line
            break
        if not line[:1].isalpha() or line.startswith(("no events", "onset")):
            break
        rows[line.split()[0]] = line
    return start, rows, marks


@pytest.mark.parametrize("columns", [80, 200])
def test_sparkline_fills_the_terminal(
    cli: Any, shifted: str, monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("--db", shifted, "report")
    assert result.exit_code == 0, result.stderr
    assert all(len(line) <= columns for line in result.stdout.splitlines())
    labels, rows, marks = _rows(result.stdout)
    assert set(rows) == {"btc", "xmr", "tor", "vpn"}  # every group with events, no other
    assert "no events: eth, ltc" in result.stdout
    for row in rows.values():
        spark = row[labels:]
        assert len(row) == columns and len(spark) == columns - labels
        assert set(spark) <= GLYPHS
    # the change point (2019-05-0x of 243 daily buckets) is marked under its cell
    assert marks is not None
    cells = columns - labels
    found = re.search(r"btc→xmr (\d{4}-\d{2}-\d{2})", marks)
    assert found is not None
    index = (dt.date.fromisoformat(found.group(1)) - dt.date(2019, 1, 1)).days
    assert marks.index("▲") - labels == cell_of(index, 243, cells)
    # xmr is quiet before the switch and busy after it: the sparkline shows the whole range
    xmr = rows["xmr"][labels:]
    assert xmr[-1] in "▆▇█" and xmr[cells // 4] in " ▁"


def test_last_cell_shows_the_last_bucket(
    cli: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [dt.date(2019, 1, 1) + dt.timedelta(days=i) for i in range(300)]
    add_counts(db_url, [(d, "tor", 2, 1) for d in days[:-1]] + [(days[-1], "tor", 400, 1)])
    add_counts(db_url, [(d, "vpn", 3, 1) for d in days[:-1]])  # nothing on the last day
    monkeypatch.setenv("COLUMNS", "80")
    labels, rows, _ = _rows(cli("--db", db_url, "report").stdout)
    tor, vpn = rows["tor"][labels:], rows["vpn"][labels:]
    assert tor[-1] == "█" and set(tor[:-1]) == {"▁"}
    assert set(vpn[:-1]) == {"█"} and vpn[-1] != "█"  # its last cell holds one empty day


def test_resample_sums_every_bucket() -> None:
    values = np.arange(1, 1006, dtype=np.int64)
    for cells in (58, 178, 1005, 2000):
        sums, sizes = resample(values, cells)
        assert len(sums) == cells and len(sparkline(values, cells)) == cells
        if cells <= len(values):
            assert sums.sum() == values.sum() and sizes.sum() == len(values)
            assert sums[-1] == values[-sizes[-1] :].sum()
    few = np.array([0, 5, 0], dtype=np.int64)
    assert sparkline(few, 9) == "   ███   "  # fewer buckets than cells: each spans three
