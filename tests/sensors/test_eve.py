"""Suricata eve.json through the CLI: a coin-miner alert, a DNS answer for a catalog pool and a
TLS connection with that pool's server name give the expected events and evidence (issue 18's
"Done when"), on SQLite and PostgreSQL, down to the exported CSV."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from chainwatch.store.models import Event, HostResolution, Input, Rollup
from tests.flows.conftest import rows
from tests.sensors.conftest import (
    POOL_ADDRESS,
    POOL_HOST,
    RESOLVER,
    alert,
    event,
    flow,
    lines,
    tuple_of,
)

MINER_LOGIN = (2022886, 4, "ET COINMINER Crypto Coin Miner Login")
MINING = "Crypto Currency Mining Activity Detected"
XMRIG = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"


def dns_v2() -> dict[str, Any]:
    """A version 2 answer: the pool's name is a CNAME of the address's owner."""
    return event(
        "dns",
        0,
        11,
        **tuple_of(RESOLVER, 53, "175.45.176.5", 41000, "UDP"),
        dns={
            "version": 2,
            "type": "answer",
            "id": 4660,
            "flags": "8180",
            "qr": True,
            "rd": True,
            "ra": True,
            "rrname": POOL_HOST,
            "rrtype": "A",
            "rcode": "NOERROR",
            "answers": [
                {"rrname": POOL_HOST, "rrtype": "CNAME", "ttl": 300, "rdata": "lb.supportxmr.com"},
                {"rrname": "lb.supportxmr.com", "rrtype": "A", "ttl": 60, "rdata": POOL_ADDRESS},
            ],
        },
    )


def scenario() -> list[dict[str, Any] | str]:
    tls_five = tuple_of("175.45.176.5", 50000, POOL_ADDRESS, 443, "TCP")
    return [
        dns_v2(),  # 1
        event(  # 2: stratum over TLS to the pool, its name in the SNI (any case)
            "tls",
            10.5,
            1001,
            **tls_five,
            tls={
                "subject": "CN=pool.supportxmr.com",
                "issuerdn": "C=US, O=Let's Encrypt, CN=R3",
                "sni": "Pool.SupportXMR.com",
                "version": "TLS 1.2",
            },
        ),
        alert(
            30,
            1002,
            tuple_of("175.45.176.6", 40000, "198.51.100.20", 3333, "TCP"),
            *MINER_LOGIN,
            MINING,
        ),  # 3
        alert(
            31,
            1005,
            tuple_of("198.51.100.7", None, "175.45.176.9", None, "ICMP"),
            2100366,
            8,
            "GPL ICMP_INFO PING *NIX",
            "Misc activity",
        ),  # 4: not counted
        event("stats", 40, None, stats={"uptime": 40, "capture": {"kernel_packets": 1200}}),  # 5
        event(
            "anomaly",
            41,
            1006,
            **tuple_of("175.45.176.7", 1, "198.51.100.8", 2, "UDP"),
            anomaly={"type": "decode", "event": "ipv4.trunc_pkt"},
        ),  # 6
        flow(70, 1001, 10, tls_five),  # 7: the TLS connection's flow record
        flow(
            80, 1003, 20, tuple_of("175.45.176.9", 50001, POOL_ADDRESS, 9000, "TCP")
        ),  # 8: to the pool's address, no SNI seen
        event(  # 9: a miner's user agent over HTTP
            "http",
            90,
            1004,
            **tuple_of("175.45.176.10", 50002, "198.51.100.30", 80, "TCP"),
            http={
                "hostname": "198.51.100.30",
                "url": "/",
                "http_user_agent": XMRIG,
                "http_method": "GET",
                "protocol": "HTTP/1.1",
                "status": 200,
                "length": 10,
            },
        ),
        flow(
            100, 1007, 95, tuple_of("192.0.2.1", 50003, "198.51.100.7", 443, "TCP")
        ),  # 10: not watched
        "not json",  # 11
        '{"event_type": "flow", "src_ip": "175.45.176.5"}',  # 12: no timestamp
    ]


def scan(cli: Any, db_url: str, wl: Path, *args: Any) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *args)


def test_eve_through_the_cli(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    text = lines(scenario())
    path.write_text(text)
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "detected Suricata eve.json" in result.stderr
    # rows: tls, alert, flow 1001, flow 1003, http, unwatched flow; bad: lines 11 and 12
    assert "read 8, watched 5, classified 5, stored 4, skipped 0, bad 2" in result.stdout
    assert f"{path}:11: is not a JSON object" in result.stderr
    assert f"{path}:12: timestamp is missing" in result.stderr
    assert f"{path}: 1 alert of other signatures ignored" in result.stderr
    assert f"{path}: event types not read, skipped: anomaly 1, stats 1" in result.stderr

    raw = text.splitlines()
    events = {e.source_ref.rsplit(":", 1)[1]: e for e in rows(db_url, Event)}
    assert sorted(events, key=int) == ["3", "7", "8", "9"]

    # The TLS connection: one event, its flow record's (bytes, start), with the SNI's facts.
    tls = events["7"]
    assert (tls.local_ip, tls.remote_ip, tls.remote_port, tls.direction) == (
        "175.45.176.5",
        POOL_ADDRESS,
        443,
        "outbound",
    )
    assert (tls.category, tls.coin, tls.detector, tls.bytes, tls.packets) == (
        "xmr-pool",
        "xmr",
        "endpoint",
        3000,
        22,
    )
    assert tls.detail["sni"] == "Pool.SupportXMR.com"
    assert tls.detail["matched_host"] == POOL_HOST
    assert tls.detail["endpoint"] == "supportxmr"
    assert tls.detail["uid"] == "1001" and tls.connection_key == "zeek:1001"
    assert tls.detail["verdict_ref"] == f"{path}:2"
    assert tls.evidence_sha256 == hashlib.sha256(raw[6].encode()).hexdigest()
    assert tls.observed_at.isoformat().startswith("2019-05-06T08:00:10")

    # The coin-miner alert: payload, the rule's facts.
    login = events["3"]
    assert (login.category, login.coin, login.detector, login.confidence) == (
        "pool",
        None,
        "payload",
        0.95,
    )
    assert {
        k: login.detail[k] for k in ("signature_id", "signature", "rev", "gid", "category", "rule")
    } == {
        "signature_id": 2022886,
        "signature": "ET COINMINER Crypto Coin Miner Login",
        "rev": 4,
        "gid": 1,
        "category": MINING,
        "rule": "miner-login",
    }
    assert login.bytes is None  # an alert's counts are its flow's so far: the flow record has them
    assert login.evidence_sha256 == hashlib.sha256(raw[2].encode()).hexdigest()

    # The pool's address, reached without a name: attributed through the DNS answer.
    by_answer = events["8"]
    assert (by_answer.category, by_answer.detector, by_answer.remote_port) == (
        "xmr-pool",
        "endpoint",
        9000,
    )
    assert by_answer.detail["resolution"] == {
        "host": POOL_HOST,
        "address": POOL_ADDRESS,
        "seen_at": "2019-05-06T08:00:00Z",
        "seen_in": f"{path}:1",
    }

    # The miner's user agent: Monero by its agent.
    agent = events["9"]
    assert (agent.category, agent.detector, agent.confidence) == ("xmr-pool", "payload", 0.6)
    assert agent.detail["user_agent"] == XMRIG and agent.detail["coin_from"] == "agent"

    # The answer is in the passive DNS store, for the name asked and its CNAME target.
    answers = sorted((r.host, r.address, r.seen_in) for r in rows(db_url, HostResolution))
    assert answers == [
        ("lb.supportxmr.com", POOL_ADDRESS, f"{path}:1"),
        (POOL_HOST, POOL_ADDRESS, f"{path}:1"),
    ]
    assert [(i.format, i.records, i.watched, i.bad) for i in rows(db_url, Input)] == [
        ("eve", 6, 5, 2)
    ]
    rollups = {r.category: (r.records, r.bytes) for r in rows(db_url, Rollup)}
    # The TLS record and the flow record are both counted; only the flow record has bytes.
    assert rollups == {"xmr-pool": (4, 6000), "pool": (1, 0)}

    # Read again: skipped whole.
    again = scan(cli, db_url, wl, "--flows", path)
    assert "skipped 1" in again.stdout and len(rows(db_url, Event)) == 4

    # The exported CSV carries the same evidence.
    out = tmp_path / "export"
    exported = cli("--db", db_url, "export", "--format", "csv", "--out", out)
    assert exported.exit_code == 0, exported.stderr
    with (out / "events.csv").open(newline="") as handle:
        table = {r["source_ref"].rsplit(":", 1)[1]: r for r in csv.DictReader(handle)}
    assert table["3"]["detector"] == "payload"
    assert json.loads(table["3"]["detail"]) == login.detail
    assert json.loads(table["7"]["detail"]) == tls.detail
    assert json.loads(table["7"]["detail"])["matched_host"] == POOL_HOST
    assert table["7"]["evidence_sha256"] == tls.evidence_sha256


def test_sensor_record_after_its_flow_record(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """Where the alert comes in a later input than its connection's flow record (a rotated
    eve.json), the connection is still one event."""
    five = tuple_of("175.45.176.6", 40000, "198.51.100.20", 3333, "TCP")
    first, second = tmp_path / "eve.json.1", tmp_path / "eve.json.2"
    first.write_text(lines([alert(30, 1002, five, *MINER_LOGIN, MINING)]))
    second.write_text(lines([flow(70, 1002, 28, five)]))
    assert scan(cli, db_url, wl, "--format", "eve", "--flows", first).exit_code == 0
    result = scan(cli, db_url, wl, "--format", "eve", "--flows", second)
    assert "read 1, watched 1, classified 0, stored 0" in result.stdout, result.stdout
    assert [e.category for e in rows(db_url, Event)] == ["pool"]


def test_csv_catalog_suffix_pattern(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """A CSV catalog naming a pool by ``*.suffix`` (coin given, category plain pool): a TLS
    server name below it is that pool, with the pattern that matched."""
    (wl / "endpoints" / "vaults.csv").write_text(
        "name,category,coin,address,host,port,valid_from,valid_to,source\n"
        "hashvault,pool,xmr,,*.hashvault.pro,,2019-01-01,2019-12-31,test\n"
    )
    five = tuple_of("175.45.176.5", 40000, "198.51.100.40", 443, "TCP")
    path = tmp_path / "eve.json"
    path.write_text(
        lines(
            [
                event("tls", 1, 1, **five, tls={"sni": "eu.hashvault.pro", "version": "TLS 1.3"}),
                event("tls", 2, 2, **five, tls={"sni": "hashvault.pro", "version": "TLS 1.3"}),
            ]
        )
    )
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    (only,) = rows(db_url, Event)
    assert (only.category, only.coin, only.detector, only.source_ref) == (
        "xmr-pool",
        "xmr",
        "endpoint",
        f"{path}:1",
    )
    assert (
        only.detail["matched_host"] == "*.hashvault.pro" and only.detail["endpoint"] == "hashvault"
    )
