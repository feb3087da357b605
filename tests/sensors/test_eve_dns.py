"""Suricata's dns events as passive DNS answers: version 1 (one answer record per event, CNAMEs
as events of their own), version 2 (``answers`` and ``grouped``), version 3 (``queries``);
only A and AAAA answers count, for the asked name and every name of the CNAME chain; errors
and queries give none. Through the CLI, into the passive DNS store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainwatch.store.models import Event, HostResolution
from tests.flows.conftest import rows
from tests.sensors.conftest import POOL_HOST, RESOLVER, event, flow, lines, tuple_of

DNS_FIVE = tuple_of(RESOLVER, 53, "175.45.176.5", 41000, "UDP")


def dns(seconds: float, flow_id: int, **fields: Any) -> dict[str, Any]:
    return event("dns", seconds, flow_id, **DNS_FIVE, dns=fields)


def test_answer_forms(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    records = [
        # version 1: the query, then one event per answer record (CNAME first)
        dns(0, 1, type="query", id=1, rrname="v1.example.com", rrtype="A", tx_id=0),
        dns(
            0.1,
            1,
            type="answer",
            id=1,
            flags="8180",
            qr=True,
            rrname="v1.example.com",
            rrtype="CNAME",
            ttl=300,
            rdata="edge.example.net",
            rcode="NOERROR",
        ),
        dns(
            0.1,
            1,
            type="answer",
            id=1,
            flags="8180",
            qr=True,
            rrname="edge.example.net",
            rrtype="A",
            ttl=60,
            rdata="203.0.113.1",
            rcode="NOERROR",
        ),
        dns(
            0.2,
            2,
            type="answer",
            id=2,
            rrname="v1-ipv6.example.com",
            rrtype="AAAA",
            ttl=60,
            rdata="2001:0db8:0000:0000:0000:0000:0000:0001",
            rcode="NOERROR",
        ),
        # version 2, detailed answers: a chain of two CNAMEs, and a TXT record that is no address
        dns(
            1,
            3,
            version=2,
            type="answer",
            id=3,
            flags="8180",
            qr=True,
            rd=True,
            ra=True,
            rrname="V2.Example.COM.",
            rrtype="A",
            rcode="NOERROR",
            answers=[
                {
                    "rrname": "v2.example.com",
                    "rrtype": "CNAME",
                    "ttl": 300,
                    "rdata": "a.example.net",
                },
                {
                    "rrname": "a.example.net",
                    "rrtype": "CNAME",
                    "ttl": 300,
                    "rdata": "b.example.org",
                },
                {"rrname": "b.example.org", "rrtype": "A", "ttl": 60, "rdata": "203.0.113.2"},
                {"rrname": "b.example.org", "rrtype": "A", "ttl": 60, "rdata": "203.0.113.3"},
                {"rrname": "v2.example.com", "rrtype": "TXT", "ttl": 60, "rdata": "v=spf1 -all"},
            ],
        ),
        # version 2, grouped answers
        dns(
            2,
            4,
            version=2,
            type="answer",
            id=4,
            rrname="grouped.example.com",
            rrtype="A",
            rcode="NOERROR",
            grouped={"CNAME": ["g.example.net"], "A": ["203.0.113.4"]},
        ),
        # an error, and an answer with nothing in it
        dns(
            3,
            5,
            version=2,
            type="answer",
            id=5,
            rrname="missing.example.com",
            rrtype="A",
            rcode="NXDOMAIN",
        ),
        dns(
            3.1,
            6,
            version=2,
            type="answer",
            id=6,
            rrname="empty.example.com",
            rrtype="A",
            rcode="NOERROR",
        ),
        # version 3 (Suricata 8): the asked name in queries
        dns(
            4,
            7,
            version=3,
            type="response",
            id=7,
            rcode="NOERROR",
            queries=[{"rrname": "v3.example.com", "rrtype": "A"}],
            answers=[
                {"rrname": "v3.example.com", "rrtype": "A", "ttl": 60, "rdata": "203.0.113.5"}
            ],
        ),
    ]
    path.write_text(lines(records))
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "read 0, watched 0" in result.stdout and "bad 0" in result.stdout
    got = sorted(
        (r.host, r.address, r.seen_in.rsplit(":", 1)[1]) for r in rows(db_url, HostResolution)
    )
    assert got == [
        ("a.example.net", "203.0.113.2", "5"),
        ("a.example.net", "203.0.113.3", "5"),
        ("b.example.org", "203.0.113.2", "5"),
        ("b.example.org", "203.0.113.3", "5"),
        ("edge.example.net", "203.0.113.1", "3"),
        ("g.example.net", "203.0.113.4", "6"),
        ("grouped.example.com", "203.0.113.4", "6"),
        ("v1-ipv6.example.com", "2001:db8::1", "4"),
        ("v1.example.com", "203.0.113.1", "3"),
        ("v2.example.com", "203.0.113.2", "5"),
        ("v2.example.com", "203.0.113.3", "5"),
        ("v3.example.com", "203.0.113.5", "9"),
    ]


def test_answer_attributes_later_flows_within_the_horizon(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """A flow to the address a pool's name resolved to is the pool's, near the answer's time;
    eight days later (past the 7-day horizon) it is not."""
    path = tmp_path / "eve.json"
    answer = dns(
        0,
        1,
        version=2,
        type="answer",
        rrname=POOL_HOST,
        rrtype="A",
        rcode="NOERROR",
        answers=[{"rrname": POOL_HOST, "rrtype": "A", "ttl": 60, "rdata": "203.0.113.77"}],
    )
    near = flow(100, 2, 60, tuple_of("175.45.176.5", 40001, "203.0.113.77", 3333, "TCP"))
    far = flow(
        8 * 86400 + 100, 3, 8 * 86400, tuple_of("175.45.176.6", 40002, "203.0.113.77", 3333, "TCP")
    )
    path.write_text(lines([answer, near, far]))
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert "read 2, watched 2, classified 1, stored 1" in result.stdout, (
        result.stdout + result.stderr
    )
    (only,) = rows(db_url, Event)
    assert (only.local_ip, only.category, only.detail["resolution"]["seen_in"]) == (
        "175.45.176.5",
        "xmr-pool",
        f"{path}:1",
    )
