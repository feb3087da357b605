"""The protocols chainwatch recognises, as conversations the tests write into captures: each
case has the messages each side sends, and the category and payload facts expected."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.pcap.capgen import bitcoin_message, client_hello, levin_message, version_payload
from tests.pcap.conftest import POOL_HOST

#: A Monero address (the Monero general fund's, as published): 95 base58 characters, checksum.
WALLET = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
#: A Bitcoin P2WPKH address (BIP 173's test vector).
BTC_WALLET = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
MAINNET_ID = bytes.fromhex("1230f171610441611731008216a1a110")


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def http_post(body: dict[str, Any], agent: str = "cgminer/4.10.0", path: str = "/") -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 203.0.113.20\r\nUser-Agent: {agent}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def http_answer(body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


@dataclass(frozen=True)
class Case:
    name: str
    port: int  # the protocol's usual server port
    messages: list[tuple[str, bytes]]  # ("c" | "s", bytes), in order
    category: str
    facts: dict[str, Any] = field(default_factory=dict)
    detector: str = "payload"
    confidence: float = 0.95


STRATUM_NOTIFY = line(
    {
        "id": None,
        "method": "mining.notify",
        "params": ["4f", "00" * 32, "01", "02", [], "20000000", "1d00ffff", "5916c1b0", True],
    }
)

CASES = [
    Case(
        "stratum",
        3333,
        [
            ("c", line({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]})),
            (
                "s",
                line(
                    {"id": 1, "result": [[["mining.notify", "ae68"]], "08000002", 4], "error": None}
                ),
            ),
            (
                "c",
                line(
                    {"id": 2, "method": "mining.authorize", "params": [BTC_WALLET + ".rig1", "x"]}
                ),
            ),
            (
                "s",
                line({"id": None, "method": "mining.set_difficulty", "params": [1024]})
                + STRATUM_NOTIFY,
            ),
            (
                "c",
                line(
                    {
                        "id": 4,
                        "method": "mining.submit",
                        "params": [BTC_WALLET + ".rig1", "4f", "00000000", "5916c1b0", "b2957c02"],
                    }
                ),
            ),
        ],
        "btc-pool",
        {
            "protocol": "stratum",
            "message": "mining.subscribe",
            "agent": "cgminer/4.10.0",
            "worker": BTC_WALLET + ".rig1",
            "wallet": BTC_WALLET,
            "coin_from": "wallet",
        },
    ),
    Case(
        "eth-stratum",
        4444,
        [
            (
                "c",
                line(
                    {
                        "id": 1,
                        "method": "mining.subscribe",
                        "params": ["ethminer/0.19.0", "EthereumStratum/1.0.0"],
                    }
                ),
            ),
            (
                "s",
                line(
                    {
                        "id": 1,
                        "result": [["mining.notify", "ae68", "EthereumStratum/1.0.0"], "080c"],
                        "error": None,
                    }
                ),
            ),
        ],
        "eth-pool",
        {"protocol": "eth-stratum", "agent": "ethminer/0.19.0", "coin_from": "protocol"},
        confidence=0.7,
    ),
    Case(
        "xmrig",
        3333,
        [
            (
                "c",
                line(
                    {
                        "id": 1,
                        "jsonrpc": "2.0",
                        "method": "login",
                        "params": {
                            "login": WALLET,
                            "pass": "x",
                            "agent": "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
                            "algo": ["cn/0", "rx/0", "rx/wow"],
                        },
                    }
                ),
            ),
            (
                "s",
                line(
                    {
                        "id": 1,
                        "jsonrpc": "2.0",
                        "error": None,
                        "result": {
                            "id": "7",
                            "job": {
                                "blob": "0707" * 19,
                                "job_id": "j1",
                                "target": "b88d0600",
                                "algo": "rx/0",
                                "seed_hash": "00" * 32,
                            },
                            "status": "OK",
                        },
                    }
                ),
            ),
            (
                "c",
                line(
                    {
                        "id": 2,
                        "jsonrpc": "2.0",
                        "method": "submit",
                        "params": {
                            "id": "7",
                            "job_id": "j1",
                            "nonce": "2a000000",
                            "result": "ab" * 32,
                        },
                    }
                ),
            ),
            ("c", line({"id": 3, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": "7"}})),
        ],
        "xmr-pool",
        {
            "protocol": "xmr-stratum",
            "message": "login",
            "wallet": WALLET,
            "agent": "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
            "algo": ["cn/0", "rx/0", "rx/wow"],
            "job_algo": "rx/0",
            "coin_from": "wallet",
        },
    ),
    Case(
        "xmrig-by-algorithm",
        5555,
        [
            (
                "c",
                line(
                    {
                        "id": 1,
                        "jsonrpc": "2.0",
                        "method": "login",
                        "params": {
                            "login": "alice",
                            "pass": "x",
                            "agent": "xmr-stak/2.10.8",
                            "algo": ["rx/0"],
                        },
                    }
                ),
            ),
        ],
        "xmr-pool",
        {"protocol": "xmr-stratum", "wallet": "alice", "coin_from": "algorithm"},
        confidence=0.9,
    ),
    Case(
        "getwork",
        8332,
        [
            ("c", http_post({"method": "getwork", "params": [], "id": 0}, agent="cgminer/2.3.1")),
            (
                "s",
                http_answer(
                    {
                        "result": {
                            "midstate": "00" * 32,
                            "data": "00" * 128,
                            "hash1": "00" * 64,
                            "target": "ff" * 32,
                        },
                        "error": None,
                        "id": 0,
                    }
                ),
            ),
        ],
        "pool",  # cgminer mines several coins and getwork names none
        {
            "protocol": "getwork",
            "message": "getwork",
            "agent": "cgminer/2.3.1",
            "coin_from": "none",
        },
    ),
    Case(
        "getblocktemplate",
        8332,
        [
            (
                "c",
                http_post(
                    {"method": "getblocktemplate", "params": [{"rules": ["segwit"]}], "id": 1},
                    agent="bfgminer/5.5.0",
                ),
            ),
            (
                "s",
                http_answer(
                    {
                        "result": {
                            "version": 536870912,
                            "previousblockhash": "00" * 32,
                            "coinbasevalue": 625000000,
                            "transactions": [],
                        },
                        "error": None,
                        "id": 1,
                    }
                ),
            ),
        ],
        "pool",
        {"protocol": "getblocktemplate", "agent": "bfgminer/5.5.0", "coin_from": "none"},
    ),
    Case(
        "monero-getblocktemplate",
        18081,
        [
            (
                "c",
                http_post(
                    {
                        "jsonrpc": "2.0",
                        "id": "0",
                        "method": "get_block_template",
                        "params": {"wallet_address": WALLET, "reserve_size": 60},
                    },
                    agent="xmrig-proxy",
                    path="/json_rpc",
                ),
            ),
            (
                "s",
                http_answer(
                    {
                        "jsonrpc": "2.0",
                        "id": "0",
                        "result": {
                            "blocktemplate_blob": "0e0e",
                            "difficulty": 1,
                            "seed_hash": "00" * 32,
                            "height": 3,
                        },
                    }
                ),
            ),
        ],
        "xmr-pool",
        {"protocol": "getblocktemplate", "message": "get_block_template", "wallet": WALLET},
    ),
    *(
        Case(
            f"bitcoin-{network}",
            port,
            [
                ("c", bitcoin_message(magic, "version", version_payload("/Satoshi:25.0.0/"))),
                (
                    "s",
                    bitcoin_message(magic, "version", version_payload("/Satoshi:26.1.0/"))
                    + bitcoin_message(magic, "verack", b""),
                ),
                ("c", bitcoin_message(magic, "verack", b"")),
            ],
            "btc-p2p",
            {
                "protocol": "btc-p2p",
                "network": network,
                "message": "version",
                "user_agent": "/Satoshi:25.0.0/",
                "protocol_version": 70016,
            },
        )
        for network, magic, port in [
            ("mainnet", b"\xf9\xbe\xb4\xd9", 8333),
            ("testnet3", b"\x0b\x11\x09\x07", 18333),
            ("testnet4", b"\x1c\x16\x3f\x28", 48333),
            ("signet", b"\x0a\x03\xcf\x40", 38333),
            ("regtest", b"\xfa\xbf\xb5\xda", 18444),
        ]
    ),
    Case(
        "litecoin",
        9333,
        [
            (
                "c",
                bitcoin_message(
                    b"\xfb\xc0\xb6\xdb", "version", version_payload("/LitecoinCore:0.21.2/")
                ),
            ),
            (
                "s",
                bitcoin_message(
                    b"\xfb\xc0\xb6\xdb", "version", version_payload("/LitecoinCore:0.21.3/")
                ),
            ),
        ],
        "ltc-p2p",
        {"protocol": "ltc-p2p", "network": "mainnet", "user_agent": "/LitecoinCore:0.21.2/"},
    ),
    Case(
        "monero-levin",
        18080,
        [
            (
                "c",
                levin_message(
                    1001,
                    b"\x01\x11\x01\x01\x01\x01\x02\x01\x01\x08\tnode_data\x0c\x10\nnetwork_id\n@"
                    + MAINNET_ID
                    + b"\x00" * 40,
                ),
            ),
            (
                "s",
                levin_message(
                    1001, b"\x01\x11\x01\x01\x01\x01\x02\x01\x01" + MAINNET_ID, request=False
                ),
            ),
        ],
        "xmr-p2p",
        {"protocol": "levin", "message": 1001, "network": "mainnet"},
    ),
    Case(
        "tls-sni",
        443,
        [("c", client_hello(POOL_HOST))],
        "xmr-pool",
        {"protocol": "tls", "sni": POOL_HOST},
        detector="endpoint",
        confidence=0.9,
    ),
]
