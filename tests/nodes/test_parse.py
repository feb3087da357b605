"""Parsing node answers: the quirks each daemon is known for, and refusals that name the
method, the entry and the field."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chainwatch.nodes import parse_bitcoin, parse_ethereum, parse_monero
from chainwatch.nodes.faults import ShapeError
from chainwatch.nodes.http import public_url
from chainwatch.nodes.snapshot import normalise_ip, split_host_port, utc_from_epoch
from tests.nodes.fakes import (
    BESU_PEERS,
    ERIGON_PEERS,
    ETHEREUMJS_PEERS,
    GETH_PEERS,
    NETHERMIND_LEGACY_PEERS,
    NETHERMIND_PEERS,
)

NOW = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_monero_omitted_lists_string_ports_and_host_not_ip() -> None:
    assert parse_monero.peers({"status": "OK"}, NOW) == ([], 0)
    assert parse_monero.address_book({"status": "OK"}) == []
    connection = {
        "address": "203.0.113.5:18080",
        "host": "203.0.113.5",
        "ip": "203.0.113.5",
        "port": "18080",
        "incoming": True,
        "live_time": 90,
        "connection_id": "ab12",
        "state": "normal",
        "recv_count": 100,
        "send_count": 50,
        "peer_id": "9f",
    }
    waiting = connection | {"connection_id": "cd34", "state": "before_handshake"}
    peers, skipped = parse_monero.peers({"connections": [connection, waiting]}, NOW)
    assert skipped == 1
    [peer] = peers
    assert (peer.ip, peer.port, peer.node_direction) == ("203.0.113.5", 18080, "inbound")
    assert peer.started_at == NOW - dt.timedelta(seconds=90)
    assert (peer.bytes_sent, peer.bytes_received, peer.bytes) == (50, 100, 150)
    assert peer.connection_key == "203.0.113.5:18080|ab12"
    book = parse_monero.address_book(
        {
            "gray_list": [
                {"host": "175.45.176.3", "ip": 3, "port": 18080, "last_seen": 0, "id": 2**64 - 1},
                {"host": "198.51.100.4", "ip": 4, "port": "28080", "last_seen": 1700000000},
            ]
        }
    )
    assert [(e.ip, e.port, e.list_name) for e in book] == [
        ("175.45.176.3", 18080, "gray"),
        ("198.51.100.4", 28080, "gray"),
    ]
    assert book[0].last_seen is None  # 0 means never, not 1970
    assert book[1].last_seen == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert book[0].detail["id"] == str(2**64 - 1)


def test_monero_refuses_shapes_it_does_not_know() -> None:
    with pytest.raises(ShapeError, match=r"connection #1 has no 'host'"):
        parse_monero.peers({"connections": [{"port": "1", "incoming": False}]}, NOW)
    with pytest.raises(ShapeError, match=r"white_list is an object, expected a list"):
        parse_monero.address_book({"white_list": {}})
    with pytest.raises(ShapeError, match=r"port is 'x', expected a number 0-65535"):
        parse_monero.address_book({"white_list": [{"host": "192.0.2.1", "port": "x"}]})


def test_bitcoin_handshake_ipv6_and_onion() -> None:
    base = {
        "version": 70016,
        "inbound": False,
        "conntime": 1700000000,
        "id": 3,
        "subver": "/Satoshi:27.0.0/",
        "bytessent": 1,
        "bytesrecv": 2,
    }
    raw = [
        base | {"addr": "[2001:db8::7]:8333", "addrbind": "[2001:db8::1]:50000"},
        base
        | {
            "addr": "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuv.onion:8333",
            "inbound": True,
        },
        base | {"addr": "203.0.113.4:8333", "version": 0},  # handshake not finished
    ]
    peers, skipped = parse_bitcoin.peers(raw)
    assert skipped == 1
    assert (peers[0].ip, peers[0].port, peers[0].node_ip, peers[0].node_port) == (
        "2001:db8::7",
        8333,
        "2001:db8::1",
        50000,
    )
    assert peers[0].connection_key == "[2001:db8::7]:8333|1700000000|3"
    assert peers[1].ip.endswith(".onion") and peers[1].node_direction == "inbound"
    assert peers[0].started_at == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)


def test_bitcoin_refusals_name_the_field() -> None:
    with pytest.raises(ShapeError, match=r"getpeerinfo: peer #1 has no 'addr'"):
        parse_bitcoin.peers([{"version": 1}])
    with pytest.raises(ShapeError, match=r"getnodeaddresses: entry #2: port is None"):
        parse_bitcoin.address_book(
            [{"address": "192.0.2.1", "port": 8333}, {"address": "192.0.2.2"}]
        )
    with pytest.raises(ShapeError, match=r"getnetworkinfo: the answer has no 'subversion'"):
        parse_bitcoin.node_info({})
    with pytest.raises(ShapeError, match=r"port '99999' is not a number 0-65535"):
        parse_bitcoin.peers(
            [{"addr": "192.0.2.1:99999", "version": 1, "inbound": True, "conntime": 1}]
        )


def test_ethereum_documented_reply_and_refusals() -> None:
    peers = parse_ethereum.peers(GETH_PEERS)
    assert [(p.ip, p.port, p.node_direction) for p in peers] == [
        ("203.0.113.7", 30303, "outbound"),
        ("198.51.100.20", 41822, "inbound"),
    ]
    assert peers[0].user_agent == GETH_PEERS[0]["name"]
    assert peers[0].started_at is None and peers[0].bytes is None
    assert parse_ethereum.peer_count("0x19") == 25 and parse_ethereum.peer_count(3) == 3
    with pytest.raises(ShapeError, match=r"peer #1: 'id' is 'x', expected 64 or 128 hex digits"):
        parse_ethereum.peers([{"id": "x"}])
    with pytest.raises(ShapeError, match=r"peer #1 network is null, expected an object"):
        parse_ethereum.peers([{"id": "ab" * 32}])
    with pytest.raises(ShapeError, match=r"peer #2 network has no 'remoteAddress' \(nor an"):
        parse_ethereum.peers([*GETH_PEERS[:1], {"id": "ab" * 32, "network": {}}])
    with pytest.raises(ShapeError, match=r"peer #1 has neither 'id' nor an enode URL"):
        parse_ethereum.peers([{"network": {"remoteAddress": "203.0.113.1:30303"}}])
    with pytest.raises(ShapeError, match=r"net_peerCount: 'many' is not a number"):
        parse_ethereum.peer_count("many")


ENODE_ID = {
    "besu": BESU_PEERS[0]["id"][2:],
    "ethereumjs": ETHEREUMJS_PEERS[0]["id"],
}


@pytest.mark.parametrize(
    ("client", "reply", "expected"),
    [
        # (ip, port, node's direction, node side, connection key's id, enode's address)
        ("besu", BESU_PEERS, ("203.0.113.30", 40303, None, ("192.0.2.10", 50115), "30303")),
        (
            "nethermind",
            NETHERMIND_PEERS,
            ("203.0.113.31", 51712, "inbound", ("192.0.2.10", 30303), "30303"),
        ),
        (
            "nethermind<1.20",
            NETHERMIND_LEGACY_PEERS,
            ("203.0.113.32", 30303, None, (None, None), "30303"),
        ),
        (
            "erigon",
            ERIGON_PEERS,
            ("203.0.113.33", 30303, "outbound", ("192.0.2.10", 30303), "30303"),
        ),
        ("ethereumjs", ETHEREUMJS_PEERS, ("203.0.113.34", 43636, None, (None, None), "43636")),
    ],
)
def test_ethereum_clients_documented_replies(
    client: str, reply: list[dict[str, Any]], expected: tuple[Any, ...]
) -> None:
    """Each client's documented admin_peers shape: a missing inbound is an unknown direction
    (never "outbound"), ids of 64 or 128 hex digits with or without 0x, an enode built from a
    128-digit id and the remote address when the client sends none."""
    ip, port, direction, node_side, enode_port = expected
    [peer] = parse_ethereum.peers(reply)
    assert (peer.ip, peer.port, peer.node_direction) == (ip, port, direction)
    assert (peer.node_ip, peer.node_port) == node_side
    assert peer.user_agent == reply[0].get("name", reply[0].get("clientId"))
    enode = peer.detail["enode"]
    assert enode.startswith("enode://") and enode.endswith(f"@{ip}:{enode_port}")
    node_id = enode[len("enode://") : enode.index("@")]
    assert len(node_id) == 128 and node_id == node_id.lower()
    if client in ENODE_ID:
        assert node_id == ENODE_ID[client]
    key_id = peer.connection_key.split("|")[0]
    assert len(key_id) in {64, 128} and not key_id.startswith("0x")
    assert peer.raw == reply[0] and peer.started_at is None and peer.bytes is None


def test_addresses_and_urls() -> None:
    assert split_host_port("192.0.2.1:8333") == ("192.0.2.1", 8333)
    assert split_host_port("[2001:db8::1]:30303") == ("2001:db8::1", 30303)
    assert split_host_port("2001:db8::1") == ("2001:db8::1", None)
    assert normalise_ip("::ffff:192.0.2.9") == "192.0.2.9"
    assert normalise_ip("2001:DB8:0::1") == "2001:db8::1"
    assert normalise_ip("fe80::1%eth0") == "fe80::1"  # a zone is not part of the address
    assert utc_from_epoch(0) is None and utc_from_epoch(True) is None
    assert public_url("http://user:secret@127.0.0.1:8332/?x=secret#frag") == (
        "http://127.0.0.1:8332"
    )
    assert public_url("https://[2001:db8::1]:8545/rpc/") == "https://[2001:db8::1]:8545/rpc"


def test_bitcoin_watcher_module_does_not_import_bitcoinlib(tmp_path: Path) -> None:
    """Importing the watcher (as `chainwatch scan --help` does) leaves ~/.bitcoinlib alone;
    only polling a node imports bitcoinlib."""
    env = {k: v for k, v in os.environ.items() if k != "BCL_DATA_DIR"} | {"HOME": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, chainwatch.watchers.bitcoin, chainwatch.cli; "
            "print('bitcoinlib' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == "False"
    assert not (tmp_path / ".bitcoinlib").exists()
