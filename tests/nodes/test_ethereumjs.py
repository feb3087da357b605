"""Ethereum watcher against two real ``@ethereumjs/client`` nodes peered inside a network
namespace, polled through web3 by the real CLI run in the same namespace: both ends of the
connection are stored, with the direction unknown (ethereumjs's admin_peers does not say who
dialled), the enode built from the node id and the address, and later polls update the same
events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, Scan
from tests.nodes.conftest import netns_db_url, write_config
from tests.nodes.daemons import Ethereumjs, Netns
from tests.nodes.test_litecoin import rows

pytestmark = [pytest.mark.daemons]


def scan(netns: Netns, db_url: str, config: Path, watchlists: Path) -> Any:
    return netns.chainwatch(
        "--db", netns_db_url(db_url), "--config", str(config), "--watchlists", str(watchlists),
        "scan",
    )  # fmt: skip


def test_two_ethereumjs_nodes_polled_through_web3(
    netns: Netns,
    ethereumjs_pair: tuple[Ethereumjs, Ethereumjs],
    db_url: str,
    tmp_path: Path,
) -> None:
    a, b = ethereumjs_pair
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    (watchlists / "lo.txt").write_text("# both nodes' ends\n127.0.0.1/32\n127.0.0.2/32\n")
    config = write_config(
        tmp_path / "cw.toml",
        {"name": "eth-a", "kind": "ethereum", "url": a.url, "timeout": "10s"},
        {"name": "eth-b", "kind": "ethereum", "url": b.url, "timeout": "10s"},
    )
    first = scan(netns, db_url, config, watchlists)
    assert first.returncode == 0, first.stderr
    for node in ("eth-a", "eth-b"):
        url = a.url if node == "eth-a" else b.url
        assert (
            f"{node}: ethereum node at {url}: 1 peers, 1 watched (1 new, 0 still connected)"
            in first.stderr
        ), first.stderr
    assert "net_peerCount says" not in first.stderr

    events = {e.source: e for e in rows(db_url, Event)}
    assert set(events) == {"eth-a", "eth-b"}
    a_id, b_id = a.call("admin_nodeInfo")["id"], b.call("admin_nodeInfo")["id"]
    [a_peer], [b_peer] = a.call("admin_peers"), b.call("admin_peers")
    assert "inbound" not in a_peer["network"] and "enode" not in a_peer  # the shape tested

    # B dialled A at 127.0.0.2: B's peer is A's listening port there.
    at_b = events["eth-b"]
    assert (at_b.local_ip, at_b.local_port) == ("127.0.0.2", a.p2p_port)
    assert at_b.detail["enode"] == f"enode://{a_id}@127.0.0.2:{a.p2p_port}" == b.bootnode
    # A saw B's connection arrive from 127.0.0.1, on B's ephemeral port.
    at_a = events["eth-a"]
    b_port = int(a_peer["network"]["remoteAddress"].rsplit(":", 1)[1])
    assert (at_a.local_ip, at_a.local_port) == ("127.0.0.1", b_port) and b_port != b.p2p_port
    assert at_a.detail["enode"] == f"enode://{b_id}@127.0.0.1:{b_port}"
    for event, peer in ((at_a, a_peer), (at_b, b_peer)):
        # ethereumjs does not say who dialled: unknown, not guessed.
        assert event.direction is None and event.detail["node_direction"] is None
        assert (event.remote_ip, event.remote_port) == (None, None)  # no localAddress either
        assert (event.category, event.coin, event.detector) == ("eth-p2p", "eth", "node-peer")
        assert event.detail["user_agent"] == peer["name"]
        assert peer["name"].startswith("EthereumJS/")
        assert event.detail["protocols"] == ["eth"] and event.detail["raw"] == peer
        assert event.detail["observed_from"] == "first poll" and event.bytes is None

    second = scan(netns, db_url, config, watchlists)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("1 peers, 1 watched (0 new, 1 still connected)") == 2
    again = {e.source: e for e in rows(db_url, Event)}
    assert {k: e.id for k, e in again.items()} == {k: e.id for k, e in events.items()}
    assert all(again[k].last_seen_at > events[k].last_seen_at for k in events)
    assert [s.status for s in rows(db_url, Scan)] == ["ok", "ok"]
