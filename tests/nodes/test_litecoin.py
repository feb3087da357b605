"""Litecoin Core watcher against two real regtest litecoind in a network namespace, through
the real CLI: the watched peer is stored with the right coin, direction and user agent, the
unwatched one is not, later polls update the same event, a reconnection is a new event, and
address-book entries are their own observations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from chainwatch.store.models import AddressBookEntry, Event, Rollup, Scan
from tests.nodes.conftest import LTC_PASSWORD, dump_db, netns_db_url, read_tree, write_config
from tests.nodes.daemons import Litecoind, Netns, wait_for

pytestmark = [pytest.mark.daemons]


def rows(db_url: str, model: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def ltc_a_config(tmp_path: Path, a: Litecoind) -> Path:
    return write_config(
        tmp_path / "chainwatch.toml",
        {
            "name": "ltc-a",
            "kind": "litecoin",
            "url": a.url,
            "user": "chainwatch",
            "password_env": "LTC_RPC_PASSWORD",
            "timeout": "10s",
        },
    )


def scan(netns: Netns, db_url: str, config: Path, watchlists: Path, bcl: Path, *args: str) -> Any:
    return netns.chainwatch(
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(watchlists),
        "scan",
        *args,
        env={"LTC_RPC_PASSWORD": LTC_PASSWORD, "BCL_DATA_DIR": str(bcl)},
    )


def test_watched_peer_stored_once_and_updated_across_polls(
    netns: Netns,
    litecoin_pair: tuple[Litecoind, Litecoind],
    db_url: str,
    tmp_path: Path,
    watchlists: Path,
) -> None:
    a, b = litecoin_pair
    config = ltc_a_config(tmp_path, a)
    bcl = tmp_path / "bitcoinlib"
    first = scan(netns, db_url, config, watchlists, bcl)
    assert first.returncode == 0, first.stderr
    assert "ltc-a: litecoind /LitecoinCore:" in first.stderr
    assert "2 peers, 1 watched (1 new, 0 still connected)" in first.stderr

    [event] = rows(db_url, Event)
    peer = next(p for p in a.handshaken_peers() if p["addr"] == f"127.0.0.2:{b.p2p[1]}")
    assert (event.local_ip, event.local_port) == ("127.0.0.2", b.p2p[1])
    assert (event.watchlist, event.matched_cidr) == ("lo", "127.0.0.2/32")
    assert (event.category, event.coin, event.detector) == ("ltc-p2p", "ltc", "node-peer")
    assert event.confidence >= 0.8
    # A dialled the watched peer: from the watched address's side the connection is inbound.
    assert event.direction == "inbound" and event.detail["node_direction"] == "outbound"
    assert event.detail["user_agent"] == peer["subver"]
    assert peer["subver"].startswith("/LitecoinCore:")
    assert (event.remote_ip, event.remote_port) == tuple(
        [peer["addrbind"].rsplit(":", 1)[0], int(peer["addrbind"].rsplit(":", 1)[1])]
    )
    assert event.source == "ltc-a" and event.source_ref == a.url
    assert int(event.observed_at.timestamp()) == peer["conntime"]
    assert event.bytes and event.bytes >= 1
    assert event.detail["raw"]["addr"] == peer["addr"]

    # Traffic on the connection, then a second poll: the same row, later, with more bytes.
    before = peer["bytessent"] + peer["bytesrecv"]
    a.call("ping")
    wait_for(
        "the ping to be counted",
        lambda: any(
            p["addr"] == peer["addr"] and p["bytessent"] + p["bytesrecv"] > event.bytes
            for p in a.handshaken_peers()
        ),
    )
    second = scan(netns, db_url, config, watchlists, bcl)
    assert second.returncode == 0, second.stderr
    assert "1 watched (0 new, 1 still connected)" in second.stderr
    [updated] = rows(db_url, Event)
    assert updated.id == event.id and updated.observed_at == event.observed_at
    assert updated.last_seen_at > event.last_seen_at
    assert updated.bytes > event.bytes >= before
    # The connection counts once in the hourly rollups, however often it is polled.
    [rollup] = rows(db_url, Rollup)
    assert (rollup.watchlist, rollup.category, rollup.events, rollup.records) == (
        "lo",
        "ltc-p2p",
        1,
        1,
    )

    # Address book: the kp entry only, refreshed (not duplicated) by the second poll.
    [entry] = rows(db_url, AddressBookEntry)
    assert (entry.ip, entry.port, entry.watchlist, entry.coin) == (
        "175.45.176.10",
        9333,
        "kp",
        "ltc",
    )
    assert entry.list_name is None and entry.last_seen_at is not None
    assert entry.last_recorded_at > entry.first_recorded_at
    scans = rows(db_url, Scan)
    assert [s.status for s in scans] == ["ok", "ok"]
    assert scans[0].counts["stored"] == 2 and scans[1].counts["updated"] == 2

    # The password is nowhere: not in the database, the output or bitcoinlib's log.
    for text in (
        dump_db(db_url),
        first.stdout,
        first.stderr,
        second.stdout,
        second.stderr,
        read_tree(bcl),
    ):
        assert LTC_PASSWORD not in text


def test_reconnection_is_a_new_event(
    netns: Netns,
    litecoin_pair: tuple[Litecoind, Litecoind],
    db_url: str,
    tmp_path: Path,
    watchlists: Path,
) -> None:
    a, b = litecoin_pair
    config = ltc_a_config(tmp_path, a)
    target = f"127.0.0.2:{b.p2p[1]}"
    assert scan(netns, db_url, config, watchlists, tmp_path / "bcl").returncode == 0
    [old] = rows(db_url, Event)
    old_id = next(p["id"] for p in a.handshaken_peers() if p["addr"] == target)
    a.call("disconnectnode", target)
    # -connect makes A dial B again on its own.
    wait_for(
        "A to reconnect to B",
        lambda: any(p["addr"] == target and p["id"] != old_id for p in a.handshaken_peers()),
    )
    again = scan(netns, db_url, config, watchlists, tmp_path / "bcl")
    assert again.returncode == 0, again.stderr
    events = rows(db_url, Event)
    assert len(events) == 2
    assert events[0].connection_key == old.connection_key
    assert events[0].last_seen_at == old.last_seen_at  # the ended connection is not touched
    assert events[1].connection_key != old.connection_key
    assert {e.local_ip for e in events} == {"127.0.0.2"}


def test_cookie_auth_and_both_directions(
    netns: Netns,
    litecoin_pair: tuple[Litecoind, Litecoind],
    db_url: str,
    tmp_path: Path,
) -> None:
    """B authenticates with its .cookie; watching 127.0.0.1 makes both of B's connections
    (one dialled by B, one dialled by A from 127.0.0.1) watched, one per direction."""
    a, b = litecoin_pair
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "loopback.cidr").write_text("127.0.0.1/32\n")
    config = write_config(
        tmp_path / "cw.toml",
        {"name": "ltc-b", "kind": "litecoin", "url": b.url, "cookie": str(b.cookie)},
    )
    done = netns.chainwatch(
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(lists),
        "scan",
        "--watcher",
        "ltc-b",
        env={"BCL_DATA_DIR": str(tmp_path / "bcl")},
    )
    assert done.returncode == 0, done.stderr
    events = rows(db_url, Event)
    by_node_view = {e.detail["node_direction"]: e for e in events}
    assert set(by_node_view) == {"inbound", "outbound"} and len(events) == 2
    # B dialled A's P2P port: the watched side (A) received the connection.
    assert by_node_view["outbound"].direction == "inbound"
    assert by_node_view["outbound"].local_port == a.p2p[1]
    # A dialled B from 127.0.0.1: the watched side started it.
    assert by_node_view["inbound"].direction == "outbound"
    cookie_password = b.cookie.read_text().strip().partition(":")[2]
    for text in (dump_db(db_url), done.stdout, done.stderr, json.dumps([e.detail for e in events])):
        assert cookie_password not in text
