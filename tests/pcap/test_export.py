"""Payload events exported like any other: attacker-controlled user agents and worker names
from a capture come back exactly from CSV and JSON lines, the STIX bundle validates and
indicates the mining addresses, and the manifest names the capture."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stix2validator import ValidationOptions, validate_file

from tests.export.test_export import parse_csv, parse_jsonl
from tests.pcap.capgen import Talk, frames, write_pcap
from tests.pcap.cases import WALLET, line
from tests.pcap.conftest import scan

T0 = 1558000000.0
AGENT = "=cmd|' /C calc'!A0"
WORKER = '@SUM(1+1)*cmd|"/C calc"!A0\t\r'


def test_payload_events_export_exactly(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    talks = [
        Talk(
            "175.45.176.5",
            "203.0.113.20",
            40001,
            3333,
            T0,
            [
                ("c", line({"id": 1, "method": "mining.subscribe", "params": [AGENT]})),
                ("c", line({"id": 2, "method": "mining.authorize", "params": [WORKER, "x"]})),
            ],
        ),
        Talk(
            "175.45.176.6",
            "203.0.113.21",
            40002,
            443,
            T0 + 5,
            [
                (
                    "c",
                    line(
                        {
                            "id": 1,
                            "method": "login",
                            "params": {"login": WALLET, "agent": "+XMRig", "algo": ["rx/0"]},
                        }
                    ),
                ),
            ],
        ),
    ]
    capture = write_pcap(tmp_path / "hostile.pcap", [f for t in talks for f in frames(t)])
    assert scan(cli, db_url, wl, "--pcap", capture).exit_code == 0
    for fmt in ("csv", "jsonl", "stix"):
        result = cli("--db", db_url, "export", "--format", fmt, "--out", tmp_path / fmt)
        assert result.exit_code == 0, result.stderr
        assert cli("export", "verify", tmp_path / fmt).exit_code == 0

    from_csv = parse_csv(tmp_path / "csv" / "events.csv")
    from_jsonl = parse_jsonl(tmp_path / "jsonl" / "events.jsonl")
    assert from_csv == from_jsonl
    facts = {(r["category"], r["detector"]): r["detail"] for r in from_jsonl}
    # Nothing in the hostile login tells the coin: mining of an unknown coin.
    assert facts[("pool", "payload")]["agent"] == AGENT
    assert facts[("pool", "payload")]["worker"] == WORKER
    assert facts[("xmr-pool", "payload")]["wallet"] == WALLET
    assert facts[("xmr-pool", "payload")]["agent"] == "+XMRig"
    # Every cell a spreadsheet could run is neutralised in the CSV text itself.
    for cells in (tmp_path / "csv" / "events.csv").read_text().splitlines():
        assert not any(cell.startswith(("=", "+", "@")) for cell in cells.split(","))

    manifest = json.loads((tmp_path / "csv" / "manifest.json").read_text())
    assert [i["sha256"] for i in manifest["inputs"]] == [
        hashlib.sha256(capture.read_bytes()).hexdigest()
    ]
    bundle = tmp_path / "stix" / "events.stix.json"
    report = validate_file(str(bundle), ValidationOptions(version="2.1"))
    assert report.is_valid, [str(e) for r in report.object_results for e in r.errors]
    indicators = [o for o in json.loads(bundle.read_text())["objects"] if o["type"] == "indicator"]
    assert {
        ("175.45.176.5" in i["pattern"], "175.45.176.6" in i["pattern"]) for i in indicators
    } == {
        (True, False),
        (False, True),
    }
