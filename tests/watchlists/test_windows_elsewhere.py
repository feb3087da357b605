"""Dated ranges outside flow scans: node peers matched at their own time, migration 0006 on
existing data, and ``chainwatch watchlist list/show/check`` on a CSV watchlist."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from chainwatch.nodes.record import NodeSource, record_snapshot
from chainwatch.nodes.snapshot import BookEntry, NodeSnapshot, Peer
from chainwatch.store.db import alembic_config, make_engine, open_store
from chainwatch.store.models import AddressBookEntry, Event
from chainwatch.watchlists import RangeMatcher, load_watchlists

UTC = dt.UTC
SOURCE = NodeSource(name="btc-main", url="http://127.0.0.1:8332", coin="btc")
LISTS = (
    "cidr,note,source,valid_from,valid_to\n"
    '175.45.176.0/24,"Star JV, 2017",report,2017-01-01,2017-12-31\n'
    "175.45.177.0/24,,,2018-01-01,\n"
)


def _lists(directory: Path) -> Path:
    directory.mkdir()
    (directory / "kp.csv").write_text(LISTS)
    return directory


def _peer(ip: str, started: dt.datetime | None) -> Peer:
    return Peer(
        ip=ip,
        port=8333,
        node_direction="inbound",
        connection_key=ip,
        started_at=started,
        bytes_sent=1,
        bytes_received=1,
        user_agent="/Satoshi:27.0.0/",
        raw={"addr": f"{ip}:8333"},
    )


def test_node_peers_match_dated_ranges_at_their_own_time(db_url: str, tmp_path: Path) -> None:
    matcher = RangeMatcher(load_watchlists(_lists(tmp_path / "lists")).watchlists)
    poll = dt.datetime(2018, 3, 1, tzinfo=UTC)
    snapshot = NodeSnapshot(
        node={},
        peers=[
            _peer("175.45.176.5", dt.datetime(2017, 12, 31, 23, tzinfo=UTC)),  # in 2017's window
            _peer("175.45.176.6", None),  # no start time: the poll's, after the window
            _peer("175.45.177.7", None),  # the poll's time, inside the open window
            _peer("175.45.177.8", dt.datetime(2017, 6, 1, tzinfo=UTC)),  # before its window
        ],
        book=[
            BookEntry(ip="175.45.176.9", port=8333, last_seen=dt.datetime(2017, 3, 1, tzinfo=UTC)),
            BookEntry(ip="175.45.176.10", port=8333),  # poll time: outside
        ],
    )
    store = open_store(db_url)
    try:
        record_snapshot(store, matcher, snapshot, SOURCE, now=poll, scan_id=None)
        with store.session() as session:
            events = sorted((e.local_ip, e.matched_cidr) for e in session.scalars(select(Event)))
            book = sorted(e.ip for e in session.scalars(select(AddressBookEntry)))
    finally:
        store.close()
    assert events == [("175.45.176.5", "175.45.176.0/24"), ("175.45.177.7", "175.45.177.0/24")]
    assert book == ["175.45.176.9"]


def test_0006_keeps_existing_ranges_and_allows_one_cidr_per_window(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            config = alembic_config(db_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")
            connection.execute(
                text(
                    "INSERT INTO watchlists (id, name, file_sha256, loaded_at)"
                    " VALUES (1, 'kp', 'abc', :now)"
                ),
                {"now": dt.datetime(2020, 1, 1, tzinfo=UTC)},
            )
            connection.execute(
                text(
                    "INSERT INTO watch_ranges (watchlist_id, cidr, note)"
                    " VALUES (1, '175.45.176.0/22', 'Star JV')"
                )
            )
        open_store(db_url).close()  # 0005 -> head
        with engine.begin() as connection:
            kept = connection.execute(
                text("SELECT cidr, note, valid_from, valid_to, source FROM watch_ranges")
            ).all()
            assert [tuple(r) for r in kept] == [("175.45.176.0/22", "Star JV", None, None, None)]
            for start in ("2017-01-01 00:00:00", "2018-01-01 00:00:00"):
                connection.execute(
                    text(
                        "INSERT INTO watch_ranges (watchlist_id, cidr, valid_from)"
                        " VALUES (1, '175.45.176.0/22', :start)"
                    ),
                    {"start": dt.datetime.fromisoformat(start).replace(tzinfo=UTC)},
                )
            assert connection.execute(text("SELECT count(*) FROM watch_ranges")).scalar() == 3
        with engine.begin() as connection:  # and back: one row per CIDR, re-sync forced
            config = alembic_config(db_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")
            assert connection.execute(text("SELECT count(*) FROM watch_ranges")).scalar() == 1
            assert connection.execute(text("SELECT file_sha256 FROM watchlists")).scalar() == ""
    finally:
        engine.dispose()


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables to the terminal's width


def test_watchlist_commands_show_csv_lists_and_windows(
    cli: Any, tmp_path: Path, wide: None
) -> None:
    lists = _lists(tmp_path / "lists")
    shown = cli("--watchlists", lists, "watchlist", "show", "kp")
    assert shown.exit_code == 0, shown.stderr
    assert "kp.csv" in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if "175.45.176.0/24" in line)
    assert "2017-01-01..2017-12-31" in row and "Star JV, 2017" in row and "report" in row
    row = next(line for line in shown.stdout.splitlines() if "175.45.177.0/24" in line)
    assert "2018-01-01.." in row
    listed = cli("--watchlists", lists, "watchlist", "list")
    row = next(line for line in listed.stdout.splitlines() if " kp " in line)
    assert [cell.strip() for cell in row.split("│")[1:6]] == ["kp", "kp.csv", "2", "2", "512"]
    checked = cli("--watchlists", lists, "watchlist", "check")
    assert checked.exit_code == 0
    assert "1 watchlists with 2 ranges (2 dated)" in checked.stdout
    (lists / "kp.csv").write_text(LISTS + "175.45.178.0/24,,,2019-02-30,\n")
    bad = cli("--watchlists", lists, "watchlist", "check")
    assert bad.exit_code == 1
    assert f"{lists / 'kp.csv'}:4: valid_from is '2019-02-30'" in bad.stderr
