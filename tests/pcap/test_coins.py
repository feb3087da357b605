"""Which coin a pool or peer is, through the real CLI: one capture per coin, with its miner
logging in as that coin's miners do (a real-format wallet, the algorithm where the protocol
carries one, the miner software's user agent), and the coin each scan stores. Ethereum Classic
is told through its pool in a catalog; a pool that nothing names is ``pool`` with no coin; the
peer-to-peer magics of the other Bitcoin-family coins; and the evidence export."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, Rollup
from tests.addresses import base58check, ethereum, monero, segwit
from tests.flows.conftest import rows
from tests.pcap.capgen import Talk, bitcoin_message, frames, version_payload, write_pcap
from tests.pcap.cases import line
from tests.pcap.conftest import scan

T0 = 1558000000.0  # 2019-05-16 09:46:40 UTC
ETC_POOL = "203.0.113.61"

BTC = segwit("bc", 0, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"))
LTC = base58check(b"\x30", bytes(range(20)))
DOGE = base58check(b"\x1e", bytes(range(1, 21)))
RVN = base58check(b"\x3c", bytes(range(2, 22)))
ZEC = base58check(b"\x1c\xb8", bytes(range(3, 23)))  # t1...
ETH = ethereum(bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"))
XMR = monero(b"\x11" * 32, b"\x22" * 32)


def integrated(address: str) -> str:
    from monero.address import address as parse

    return str(parse(address).with_payment_id(0xFEEDBEEF))


def subscribe(*params: Any) -> tuple[str, bytes]:
    return ("c", line({"id": 1, "method": "mining.subscribe", "params": list(params)}))


def authorize(worker: str) -> tuple[str, bytes]:
    return ("c", line({"id": 2, "method": "mining.authorize", "params": [worker, "x"]}))


BITCOIN_NOTIFY = (
    "s",
    line({"id": None, "method": "mining.set_difficulty", "params": [1024]})
    + line(
        {
            "id": None,
            "method": "mining.notify",
            "params": ["4f", "00" * 32, "01", "02", [], "20000000", "1d00ffff", "5916c1b0", True],
        }
    ),
)
#: Zcash's stratum (ZIP 301): a target instead of a difficulty, a version-4 header.
ZCASH_NOTIFY = (
    "s",
    line({"id": None, "method": "mining.set_target", "params": ["0008" + "ff" * 30]})
    + line(
        {
            "id": None,
            "method": "mining.notify",
            "params": [
                "1f",
                "04000000",
                "00" * 32,
                "11" * 32,
                "00" * 32,
                "5916c1b0",
                "1d00ffff",
                True,
            ],
        }
    ),
)


def xmrig_login(login: str, algo: list[str]) -> tuple[str, bytes]:
    agent = "XMRig/6.21.0 (Windows NT 10.0; Win64; x64) libuv/1.44.2 msvc/2019"
    return (
        "c",
        line(
            {
                "id": 1,
                "jsonrpc": "2.0",
                "method": "login",
                "params": {"login": login, "pass": "x", "agent": agent, "algo": algo},
            }
        ),
    )


def xmrig_job(algo: str) -> tuple[str, bytes]:
    job = {"blob": "0707" * 19, "job_id": "j1", "target": "b88d0600", "algo": algo}
    return (
        "s",
        line({"id": 1, "jsonrpc": "2.0", "error": None, "result": {"id": "7", "job": job}}),
    )


@dataclass(frozen=True)
class CoinCase:
    name: str
    messages: list[tuple[str, bytes]]
    category: str
    coin: str | None
    facts: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.95
    server: str = "203.0.113.20"


CASES = [
    CoinCase(
        "btc",
        [subscribe("bmminer/2.0.0"), authorize(f"{BTC}.s9"), BITCOIN_NOTIFY],
        "btc-pool",
        "btc",
        {"wallet": BTC, "worker": f"{BTC}.s9", "agent": "bmminer/2.0.0", "coin_from": "wallet"},
    ),
    CoinCase(
        "xmr",
        [xmrig_login(f"{integrated(XMR)}+50000", ["rx/0"]), xmrig_job("rx/0")],
        "xmr-pool",
        "xmr",
        {"wallet": f"{integrated(XMR)}+50000", "job_algo": "rx/0", "coin_from": "wallet"},
    ),
    CoinCase(
        "eth",
        [
            subscribe("PhoenixMiner/6.2c", "EthereumStratum/1.0.0"),
            authorize(f"{ETH}.rig1"),
        ],
        "eth-pool",
        "eth",
        {"wallet": ETH, "protocol": "eth-stratum", "coin_from": "wallet"},
    ),
    # The Windows miner: eth-proxy's login, the rig named beside the parameters.
    CoinCase(
        "eth-proxy",
        [
            (
                "c",
                line(
                    {"id": 1, "method": "eth_submitLogin", "params": [ETH, "x"], "worker": "rig1"}
                ),
            )
        ],
        "eth-pool",
        "eth",
        {"wallet": ETH, "worker": "rig1", "message": "eth_submitLogin", "coin_from": "wallet"},
    ),
    # Ethereum Classic miners log in exactly like Ethereum's: the catalog's pool tells them.
    CoinCase(
        "etc",
        [subscribe("lolMiner 1.42", "EthereumStratum/1.0.0"), authorize(f"{ETH}.rig2")],
        "etc-pool",
        "etc",
        {"wallet": ETH, "endpoint": "2miners-etc", "coin_from": "endpoint", "payload_coin": "eth"},
        server=ETC_POOL,
    ),
    CoinCase(
        "ltc",
        [subscribe("cgminer/4.9.2"), authorize(f"{LTC}.l3"), BITCOIN_NOTIFY],
        "ltc-pool",
        "ltc",
        {"wallet": LTC, "coin_from": "wallet"},
    ),
    # The EWBF miner: Zcash's stratum, a t1 address in the worker name.
    CoinCase(
        "zec",
        [
            subscribe("EWBF 0.3.4b", None, "203.0.113.20", "3357"),
            authorize(f"{ZEC}.rig4"),
            ZCASH_NOTIFY,
        ],
        "zec-pool",
        "zec",
        {"wallet": ZEC, "worker": f"{ZEC}.rig4", "agent": "EWBF 0.3.4b", "coin_from": "wallet"},
    ),
    CoinCase(
        "zec-by-agent",
        [subscribe("EWBF 0.3.4b"), authorize("rig4"), ZCASH_NOTIFY],
        "zec-pool",
        "zec",
        {"agent": "EWBF 0.3.4b", "worker": "rig4", "coin_from": "agent"},
        confidence=0.6,
    ),
    CoinCase(
        "doge",
        [subscribe("cgminer/4.10.0"), authorize(f"{DOGE}.rig"), BITCOIN_NOTIFY],
        "doge-pool",
        "doge",
        {"wallet": DOGE, "coin_from": "wallet"},
    ),
    CoinCase(
        "rvn",
        [subscribe("T-Rex/0.26.8"), authorize(f"{RVN}.rig"), BITCOIN_NOTIFY],
        "rvn-pool",
        "rvn",
        {"wallet": RVN, "agent": "T-Rex/0.26.8", "coin_from": "wallet"},
    ),
    # XMRig offers every algorithm it knows; the pool's job names the one mined.
    CoinCase(
        "rvn-by-algorithm",
        [xmrig_login("rig12", ["rx/0", "kawpow"]), xmrig_job("kawpow")],
        "rvn-pool",
        "rvn",
        {"job_algo": "kawpow", "algo": ["rx/0", "kawpow"], "coin_from": "algorithm"},
        confidence=0.9,
    ),
    # Stratum, no wallet, no algorithm, a miner nobody knows: mining of an unknown coin.
    CoinCase(
        "unknown",
        [subscribe("acme-miner/1.0"), authorize("rig1"), BITCOIN_NOTIFY],
        "pool",
        None,
        {"agent": "acme-miner/1.0", "worker": "rig1", "coin_from": "none"},
    ),
]


@pytest.fixture
def catalog(wl: Path) -> Path:
    (wl / "endpoints" / "etc.toml").write_text(
        f'[[endpoints]]\nname = "2miners-etc"\ncategory = "etc-pool"\nips = ["{ETC_POOL}"]\n'
    )
    return wl


def capture(path: Path, cases: list[CoinCase]) -> Path:
    talks = [
        Talk(f"175.45.176.{10 + i}", case.server, 40000 + i, 4444, T0 + 10 * i, case.messages)
        for i, case in enumerate(cases)
    ]
    return write_pcap(path, [f for t in talks for f in frames(t)])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pool_coin(cli: Any, db_url: str, catalog: Path, tmp_path: Path, case: CoinCase) -> None:
    path = capture(tmp_path / f"{case.name}.pcap", [case])
    result = scan(cli, db_url, catalog, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    [event] = rows(db_url, Event)
    assert (event.category, event.coin, event.detector) == (case.category, case.coin, "payload")
    assert event.confidence == pytest.approx(case.confidence)
    assert {k: event.detail.get(k) for k in case.facts} == case.facts, event.detail
    assert [(r.category, r.events) for r in rows(db_url, Rollup)] == [(case.category, 1)]


P2P = [
    ("doge", b"\xc0\xc0\xc0\xc0", "/Shibetoshi:1.14.6/", "mainnet", 22556),
    ("doge", b"\xfa\xbf\xb5\xda", "/Shibetoshi:1.14.6/", "regtest", 18444),
    ("zec", b"\x24\xe9\x27\x64", "/MagicBean:5.4.2/", "mainnet", 8233),
    ("rvn", b"RAVN", "/Ravencoin:4.3.2.1/", "mainnet", 8767),
    ("rvn", b"RVNT", "/Ravencoin:4.3.2.1/", "testnet", 18770),
]


@pytest.mark.parametrize(("coin", "magic", "agent", "network", "port"), P2P)
def test_peer_coin_by_network_magic(
    cli: Any,
    db_url: str,
    wl: Path,
    tmp_path: Path,
    coin: str,
    magic: bytes,
    agent: str,
    network: str,
    port: int,
) -> None:
    messages = [
        ("c", bitcoin_message(magic, "version", version_payload(agent, 170100))),
        ("s", bitcoin_message(magic, "version", version_payload(agent, 170100))),
    ]
    talk = Talk("175.45.176.5", "198.51.100.9", 40001, port, T0, messages)
    result = scan(cli, db_url, wl, "--pcap", write_pcap(tmp_path / "p2p.pcap", frames(talk)))
    assert result.exit_code == 0, result.stderr
    [event] = rows(db_url, Event)
    assert (event.category, event.coin, event.detector) == (f"{coin}-p2p", coin, "payload")
    assert (event.detail["network"], event.detail["user_agent"]) == (network, agent)


def test_export_shows_the_coins(cli: Any, db_url: str, catalog: Path, tmp_path: Path) -> None:
    chosen = [c for c in CASES if c.name in ("zec", "etc", "unknown", "doge")]
    path = capture(tmp_path / "coins.pcap", chosen)
    assert scan(cli, db_url, catalog, "--pcap", path).exit_code == 0

    def export(name: str, *args: str) -> list[dict[str, str]]:
        result = cli("--db", db_url, "export", "--format", "csv", "--out", tmp_path / name, *args)
        assert result.exit_code == 0, result.stderr
        with (tmp_path / name / "events.csv").open(newline="") as handle:
            return list(csv.DictReader(handle))

    got = sorted((r["local_ip"], r["category"], r["coin"]) for r in export("all"))
    assert {c.name: c.category for c in chosen} == {
        "etc": "etc-pool",
        "zec": "zec-pool",
        "doge": "doge-pool",
        "unknown": "pool",
    }
    assert got == [(f"175.45.176.{10 + i}", c.category, c.coin or "") for i, c in enumerate(chosen)]
    assert [r["category"] for r in export("pools", "--category", "pool")] == ["pool"]
    assert [r["coin"] for r in export("zec", "--coin", "zec")] == ["zec"]
    refused = cli("--db", db_url, "export", "--coin", "bch", "--out", tmp_path / "bch")
    assert refused.exit_code == 2 and "--coin 'bch': expected one of btc, xmr" in refused.stderr

    result = cli("--db", db_url, "export", "--format", "stix", "--out", tmp_path / "stix")
    assert result.exit_code == 0, result.stderr
    objects = json.loads((tmp_path / "stix" / "events.stix.json").read_text())["objects"]
    patterns = " ".join(o["pattern"] for o in objects if o["type"] == "indicator")
    # Every address with pool activity is indicated, the unknown coin's too.
    for i in range(10, 14):
        assert f"'175.45.176.{i}'" in patterns
