"""CSV catalogs through ``chainwatch scan`` on SQLite and PostgreSQL: a catalog row counts
only for flows inside its window, Tor relays from a catalog are ``tor`` by ``endpoint`` (high
confidence) while the port rule stays the low-confidence fallback, and a pool's coin is the
catalog's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainwatch.store.models import Event, Rollup
from tests.flows.conftest import rows

CATALOG = (
    "# chainwatch catalog relays\n"
    "# span 2019-01-01T00:00:00Z 2019-01-31T23:59:59Z\n"
    "name,category,coin,address,host,port,valid_from,valid_to,source\n"
    'relay-a,tor,,198.51.100.7,,9001,2019-01-01T00:00:00Z,2019-01-10T12:00:00Z,"consensus, Jan"\n'
    "relay-a,tor,,198.51.100.7,,9001,2019-01-20,2019-01-31,consensus\n"
    "relay-b,tor,,2001:db8::7,,,2019-01-01,2019-01-31,consensus\n"
    "minepool,pool,xmr,203.0.113.0/28,,3333,2019-01-01,,list\n"
)
FLOWS = [  # (time, local, remote, remote port, expected category, detector, endpoint)
    ("2019-01-05T00:00:00Z", "175.45.176.1", "198.51.100.7", 9001, "tor", "endpoint", "relay-a"),
    ("2019-01-10T12:00:00Z", "175.45.176.2", "198.51.100.7", 9001, "tor", "endpoint", "relay-a"),
    # Between the relay's two intervals: only the port rule speaks (low confidence).
    ("2019-01-10T12:00:01Z", "175.45.176.3", "198.51.100.7", 9001, "tor", "port", None),
    ("2019-01-31T23:59:59Z", "175.45.176.4", "198.51.100.7", 9001, "tor", "endpoint", "relay-a"),
    ("2019-02-01T00:00:00Z", "175.45.176.5", "198.51.100.7", 9001, "tor", "port", None),
    # Not the relay's port: no catalog row fits, no port rule either.
    ("2019-01-05T00:00:00Z", "175.45.176.6", "198.51.100.7", 443, None, None, None),
    ("2019-01-15T00:00:00Z", "175.45.176.7", "2001:db8::7", 443, "tor", "endpoint", "relay-b"),
    ("2019-02-15T00:00:00Z", "175.45.176.8", "2001:db8::7", 443, None, None, None),
    (
        "2019-03-01T00:00:00Z",
        "175.45.176.9",
        "203.0.113.5",
        3333,
        "xmr-pool",
        "endpoint",
        "minepool",
    ),
    ("2018-12-31T23:59:59Z", "175.45.176.10", "203.0.113.5", 3333, None, None, None),
]


def test_csv_catalog_classifies_flows_inside_its_windows(
    cli: Any, db_url: str, tmp_path: Path
) -> None:
    lists = tmp_path / "lists"
    (lists / "endpoints").mkdir(parents=True)
    (lists / "kp.txt").write_text("175.45.176.0/22\n")
    (lists / "endpoints" / "relays.csv").write_text(CATALOG)
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
        + "".join(
            f"{ts},{local},{remote},40000,{port},tcp\n" for ts, local, remote, port, *_ in FLOWS
        )
    )
    result = cli("--db", db_url, "--watchlists", lists, "scan", "--flows", flows)
    assert result.exit_code == 0, result.stderr
    stored = {
        e.local_ip: (e.category, e.detector, (e.detail or {}).get("endpoint"), e.coin, e.confidence)
        for e in rows(db_url, Event)
    }
    expected = {
        local: (category, detector, endpoint)
        for _, local, _, _, category, detector, endpoint in FLOWS
        if category is not None
    }
    assert {k: v[:3] for k, v in stored.items()} == expected
    assert stored["175.45.176.1"][4] >= 0.8 > stored["175.45.176.3"][4]  # endpoint high, port low
    assert stored["175.45.176.9"][3] == "xmr"  # the catalog's coin
    # Unclassified records still count in the rollups, as "other".
    assert sum(r.records for r in rows(db_url, Rollup) if r.category == "other") == 3
