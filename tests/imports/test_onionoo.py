"""``chainwatch catalog import onionoo``: an Onionoo details document through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.imports.helpers import table

FP1 = "9695DFC35FFEB861329B9F1AB04C46397020CE31"
FP2 = "A" * 40
DETAILS = {  # the shape of https://onionoo.torproject.org/details (protocol version 8)
    "version": "8.0",
    "build_revision": "1a2b3c4",
    "relays_published": "2019-06-01 12:00:00",
    "relays": [
        {
            "nickname": "exitone",
            "fingerprint": FP1,
            "or_addresses": ["192.0.2.10:9001", "[2001:db8::10]:9001"],
            "exit_addresses": ["192.0.2.11", "192.0.2.10"],
            "dir_address": "192.0.2.10:9030",
            "last_seen": "2019-06-01 12:00:00",
            "last_changed_address_or_port": "2019-01-01 00:00:00",
            "first_seen": "2018-03-04 05:00:00",
            "running": True,
            "flags": ["Exit", "Fast", "Running", "Valid"],
        },
        {
            "nickname": "middle",
            "fingerprint": FP2,
            "or_addresses": ["198.51.100.20:443"],
            "last_seen": "2019-05-01 00:00:00",
            "first_seen": "2019-04-01 00:00:00",
            "running": False,
        },
        {"nickname": "undated", "fingerprint": "B" * 40, "or_addresses": ["198.51.100.30:443"]},
        {
            "nickname": "odd",
            "fingerprint": "C" * 40,
            "or_addresses": ["not-an-address"],
            "first_seen": "2019-01-01 00:00:00",
            "last_seen": "2019-01-02 00:00:00",
        },
    ],
    "bridges_published": "2019-06-01 12:00:00",
    "bridges": [
        {"nickname": "br", "hashed_fingerprint": "D" * 40, "or_addresses": ["10.1.2.3:443"]}
    ],
}


def test_details_relays_dated_by_first_and_last_seen(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "details.json"
    path.write_text(json.dumps(DETAILS, indent=1))
    result = cli(
        "--watchlists", tmp_path, "catalog", "import", "onionoo", path, "--name", "onionoo"
    )
    assert result.exit_code == 0, result.stderr
    one, two = f"onionoo/${FP1}~exitone", f"onionoo/${FP2}~middle"
    first, last = "2018-03-04T05:00:00Z", "2019-06-01T12:00:00Z"
    assert table(
        tmp_path / "endpoints" / "onionoo.csv",
        "name",
        "address",
        "port",
        "valid_from",
        "valid_to",
        "category",
    ) == sorted(
        [
            (one, "192.0.2.10", "9001", first, last, "tor"),
            (one, "2001:db8::10", "9001", first, last, "tor"),
            (one, "192.0.2.10", "9030", first, last, "tor"),
            (one, "192.0.2.11", "", first, last, "tor"),  # exit addresses: any port
            (one, "192.0.2.10", "", first, last, "tor"),
            (two, "198.51.100.20", "443", "2019-04-01T00:00:00Z", "2019-05-01T00:00:00Z", "tor"),
        ]
    )
    assert (
        f"{path} (relays[2]): first_seen/last_seen missing or not 'YYYY-MM-DD hh:mm:ss'"
        in result.stdout
    )
    assert (
        f"{path} (relays[3]): bad address 'not-an-address'; expected ADDRESS:PORT" in result.stdout
    )
    assert "entries    2" in result.stdout


def test_not_onionoo(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "details.json"
    path.write_text('{"version": "8.0",\n "relays": [1, 2,]}')
    result = cli("--watchlists", tmp_path, "catalog", "import", "onionoo", path, "--name", "o")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"chainwatch: error: {path}:2: not JSON: Expecting value; expected an Onionoo details document"
    )
    path.write_text('{"version": "8.0"}')
    result = cli("--watchlists", tmp_path, "catalog", "import", "onionoo", path, "--name", "o")
    assert result.exit_code == 1 and "no 'relays' list" in result.stderr
    assert not (tmp_path / "endpoints" / "o.csv").exists()
