"""Ethereum watcher through web3 against a real HTTP JSON-RPC server on 127.0.0.1 serving
geth's documented admin_peers and net_peerCount replies (no geth is installed here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, Scan, WatcherRun
from tests.nodes.conftest import write_config
from tests.nodes.fakes import (
    BESU_PEERS,
    ETHEREUMJS_PEERS,
    GETH_PEERS,
    NETHERMIND_LEGACY_PEERS,
    FakeNode,
    geth,
)
from tests.nodes.test_litecoin import rows
from tests.nodes.test_monero import one_line


def doc_watchlist(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    directory.mkdir(exist_ok=True)
    (directory / "doc.txt").write_text("203.0.113.0/24\n")
    return directory


def test_geth_peers_stored_and_updated(cli: Any, db_url: str, tmp_path: Path) -> None:
    with FakeNode(geth()) as node:
        config = write_config(
            tmp_path / "cw.toml", {"name": "eth-a", "kind": "ethereum", "url": node.url}
        )
        args = ("--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path), "scan")
        before = dt.datetime.now(dt.UTC)
        first = cli(*args)
        assert first.exit_code == 0, first.stderr
        assert "eth-a: ethereum node at " in first.stderr
        assert "2 peers, 1 watched (1 new, 0 still connected)" in first.stderr
        second = cli(*args)
        assert second.exit_code == 0, second.stderr
        assert node.methods() == ["net_peerCount", "admin_peers"] * 2

    [event] = rows(db_url, Event)
    assert (event.local_ip, event.local_port) == ("203.0.113.7", 30303)
    assert (event.remote_ip, event.remote_port) == ("192.0.2.10", 51234)
    assert (event.category, event.coin, event.detector) == ("eth-p2p", "eth", "node-peer")
    assert event.direction == "inbound"  # the node dialled the watched peer
    assert event.detail["user_agent"] == GETH_PEERS[0]["name"]
    assert event.detail["protocols"] == ["eth", "snap"]
    # geth gives no connection start: the event starts when a poll first saw it.
    assert event.detail["observed_from"] == "first poll"
    assert before <= event.observed_at < event.last_seen_at
    assert event.bytes is None and event.source_ref == node.url
    assert [s.status for s in rows(db_url, Scan)] == ["ok", "ok"]


def test_node_without_admin_api(cli: Any, db_url: str, tmp_path: Path) -> None:
    with FakeNode(geth(admin=False)) as bare, FakeNode(geth()) as full:
        config = write_config(
            tmp_path / "cw.toml",
            {"name": "eth-bare", "kind": "ethereum", "url": bare.url},
            {"name": "eth-full", "kind": "ethereum", "url": full.url},
        )
        done = cli(
            "--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path), "scan"
        )
    message = (
        f"watcher 'eth-bare': ethereum node at {bare.url} does not serve admin_peers: the "
        "method admin_peers does not exist/is not available; it reports 2 "
        "peers but not who they are; start geth with --http.api including admin (on a trusted "
        "interface only: the admin API controls the node)"
    )
    assert done.exit_code == 3
    assert f"failed: {message}" in one_line(done.stderr)
    [scan] = rows(db_url, Scan)
    assert scan.status == "partial" and scan.errors == [message]
    runs = {run.watcher: run for run in rows(db_url, WatcherRun)}
    assert runs["eth-bare"].ok is False and runs["eth-full"].ok is True
    assert [e.source for e in rows(db_url, Event)] == ["eth-full"]


@pytest.mark.parametrize(
    ("client", "reply"),
    [
        ("besu", BESU_PEERS),
        ("nethermind<1.20", NETHERMIND_LEGACY_PEERS),
        ("ethereumjs", ETHEREUMJS_PEERS),
    ],
)
def test_peers_without_direction_stored_as_unknown(
    cli: Any, db_url: str, tmp_path: Path, client: str, reply: list[dict[str, Any]]
) -> None:
    """Clients whose admin_peers does not say who dialled: the event is stored with direction
    unknown (None, an empty cell in exports), not guessed."""
    with FakeNode(geth(reply)) as node:
        config = write_config(
            tmp_path / "cw.toml", {"name": "eth-x", "kind": "ethereum", "url": node.url}
        )
        done = cli(
            "--db", db_url, "--config", config, "--watchlists", doc_watchlist(tmp_path), "scan"
        )
    assert done.exit_code == 0, done.stderr
    assert "1 peers, 1 watched (1 new, 0 still connected)" in done.stderr
    [event] = rows(db_url, Event)
    assert event.direction is None and event.detail["node_direction"] is None
    assert event.local_ip == reply[0].get("host") or reply[0]["network"][
        "remoteAddress"
    ].startswith(f"{event.local_ip}:")
    assert event.detail["enode"].startswith("enode://") and event.detail["raw"] == reply[0]
