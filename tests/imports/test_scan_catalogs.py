"""The real path: catalogs imported through the CLI, then ``chainwatch scan --flows`` of a
generic flow CSV classifies exactly the records whose time lies inside the imported windows
(as ``endpoint`` detections), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from chainwatch.store.models import Event
from tests.flows.conftest import rows
from tests.imports.helpers import make_tar
from tests.imports.test_lists import NETSET
from tests.imports.test_onionoo import DETAILS
from tests.imports.test_tor import PRESENT, hourly
from tests.imports.tordocs import Exit, exit_list

WATCHED = "175.45.176.0/22\n2001:db8:ffff::/48\n"
V4, V6 = "175.45.176.5", "2001:db8:ffff::5"
# (time, local, remote, port, expected (category, detector) or None)
FLOWS = [
    # tor-consensus: beta (192.0.2.2:443) is listed 00:00-05:00 and 09:00-12:00
    ("2019-01-01T04:00:00Z", V4, "192.0.2.2", 443, ("tor", "endpoint")),
    ("2019-01-01T07:00:00Z", V4, "192.0.2.2", 443, None),  # in the lapse
    ("2019-01-01T10:00:00Z", V4, "192.0.2.2", 443, ("tor", "endpoint")),
    ("2019-01-01T11:00:00Z", V4, "192.0.2.1", 9030, ("tor", "endpoint")),  # alpha's DirPort
    ("2019-01-01T05:00:00Z", V4, "192.0.2.1", 8080, None),  # not one of alpha's ports
    ("2019-01-01T06:00:00Z", V6, "2001:db8::1", 9001, ("tor", "endpoint")),  # alpha's 'a' line
    ("2019-01-02T06:00:00Z", V6, "2001:db8::1", 9001, ("tor", "port")),  # later: port rule only
    # tor-exit-list: 192.0.2.50 seen 2019-03-01 10:00 and 22:00, so until 03-02 22:00, any port
    ("2019-03-02T21:00:00Z", V4, "192.0.2.50", 80, ("tor", "endpoint")),
    ("2019-03-03T00:00:00Z", V4, "192.0.2.50", 80, None),
    # onionoo: 198.51.100.20:443 from 2019-04-01 to 2019-05-01
    ("2019-04-15T00:00:00Z", V4, "198.51.100.20", 443, ("tor", "endpoint")),
    ("2019-05-02T00:00:00Z", V4, "198.51.100.20", 443, None),
    # netset as xmr-pool from its Source File Date, 2019-11-04T18:40:06Z
    ("2019-11-05T00:00:00Z", V4, "198.51.100.77", 3333, ("xmr-pool", "endpoint")),
    ("2019-11-04T18:40:05Z", V4, "198.51.100.77", 3333, None),
    # list as vpn for June 2019 (a date valid_to is the whole day)
    ("2019-06-30T23:59:59Z", V4, "203.0.113.99", 1234, ("vpn", "endpoint")),
    ("2019-07-01T00:00:00Z", V4, "203.0.113.99", 1234, None),
]


def import_all(cli: Any, tmp_path: Path, lists: Path) -> None:
    t0 = dt.datetime(2019, 3, 1, 10)
    later = t0 + dt.timedelta(hours=12)
    (tmp_path / "exits-1").write_bytes(exit_list(t0, [Exit("x1", t0, [("192.0.2.50", t0)])]))
    (tmp_path / "exits-2").write_bytes(
        exit_list(later, [Exit("x1", later, [("192.0.2.50", later)])])
    )
    (tmp_path / "details.json").write_text(json.dumps(DETAILS))
    (tmp_path / "pools.netset").write_text(NETSET)
    (tmp_path / "vpn.txt").write_text("# a VPN's exits\n203.0.113.99\n")
    imports = [
        (
            "tor-consensus",
            make_tar(tmp_path / "c.tar.xz", hourly(range(10), PRESENT)),
            "--name",
            "tor",
        ),
        ("tor-exit-list", tmp_path / "exits-1", tmp_path / "exits-2", "--name", "exits"),
        ("onionoo", tmp_path / "details.json", "--name", "onionoo"),
        ("netset", tmp_path / "pools.netset", "--name", "pools", "--category", "xmr-pool"),
        (
            "list",
            tmp_path / "vpn.txt",
            "--name",
            "vpn",
            "--category",
            "vpn",
            "--valid-from",
            "2019-06-01",
            "--valid-to",
            "2019-06-30",
        ),
    ]
    for args in imports:
        result = cli("--watchlists", lists, "catalog", "import", *args)
        assert result.exit_code == 0, (args, result.stderr)


def test_scan_classifies_inside_the_windows_only(cli: Any, db_url: str, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "kp.txt").write_text(WATCHED)
    import_all(cli, tmp_path, lists)
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes\n"
        + "".join(
            f"{ts},{local},{remote},40000,{port},tcp,100\n" for ts, local, remote, port, _ in FLOWS
        )
    )
    result = cli("--db", db_url, "--watchlists", lists, "scan", "--flows", flows)
    assert result.exit_code == 0, result.stderr
    stored = sorted(
        (
            e.observed_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            e.remote_ip,
            e.remote_port,
            e.category,
            e.detector,
        )
        for e in rows(db_url, Event)
    )
    expected = sorted((ts, remote, port, *want) for ts, _, remote, port, want in FLOWS if want)
    assert stored == expected


def test_every_import_loads(cli: Any, tmp_path: Path) -> None:
    """What each format writes, the catalog loader reads (host rows and *.suffix patterns too)."""
    from tests.imports.test_lists import HOSTS

    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "kp.txt").write_text(WATCHED)
    import_all(cli, tmp_path, lists)
    (tmp_path / "hosts").write_bytes(HOSTS.encode())
    (tmp_path / "mixed.txt").write_text("*.edge.example.net\npool.example.org\n192.0.2.60\n")
    for args in (
        ("hosts", tmp_path / "hosts", "--name", "coinblocker", "--category", "pool"),
        (
            "list",
            tmp_path / "mixed.txt",
            "--name",
            "mixed",
            "--category",
            "xmr-pool",
            "--coin",
            "xmr",
        ),
        ("csv", lists / "endpoints" / "tor.csv", "--name", "tor-copy", "--valid-to", "2019-01-01"),
    ):
        result = cli("--watchlists", lists, "catalog", "import", *args)
        assert result.exit_code == 0, (args, result.stderr)
    # A copy of a catalog repeats its endpoint names, which must be unique across catalogs:
    # the loader says so, naming the line.
    result = cli("--watchlists", lists, "watchlist", "check")
    assert result.exit_code == 1
    assert (
        "tor.csv:6: duplicate endpoint name" in result.stderr
        and "(also in tor-copy.csv)" in result.stderr
    )
    (lists / "endpoints" / "tor-copy.csv").unlink()
    result = cli("--watchlists", lists, "watchlist", "check")
    assert result.exit_code == 0, result.stderr
    assert "7 catalogs with" in result.stdout and ": OK" in result.stdout
