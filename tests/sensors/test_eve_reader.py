"""eve.json read like the other text formats: bad lines named with file:line, unknown event
types skipped, a growing file read from where it stopped, gzip, directories, stdin, the flows
watcher, and times in any zone."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from chainwatch.store.models import Event, Rollup
from tests.flows.conftest import rows
from tests.sensors.conftest import alert, event, flow, lines, stamp, tuple_of

LOGIN = (
    2022886,
    4,
    "ET COINMINER Crypto Coin Miner Login",
    "Crypto Currency Mining Activity Detected",
)


def scan(cli: Any, db_url: str, wl: Path, *args: Any) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *args)


def good(i: int) -> dict[str, Any]:
    """A coin-miner alert of local address .i (each its own connection)."""
    return alert(
        10 * i,
        2000 + i,
        tuple_of(f"175.45.176.{i}", 40000 + i, "198.51.100.20", 3333, "TCP"),
        *LOGIN,
    )


def test_malformed_lines_and_unknown_event_types(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = tmp_path / "eve.json"
    bad_flow = flow(70, 3001, 60, tuple_of("175.45.176.5", 40001, "198.51.100.20", 3333, "TCP"))
    bad_flow["src_port"] = "40001"
    naive = good(3)
    naive["timestamp"] = "2019-05-06T08:00:30.000000"
    records: list[Any] = [
        good(1),  # 1
        "[1, 2]",  # 2: JSON, not an object
        '{"timestamp": "2019-05-06T08:00:00.000000+0000", "src_ip": "175.45.176.1"}',  # 3
        bad_flow,  # 4: a port as text
        naive,  # 5: no zone
        event(
            "alert",
            50,
            3002,
            **tuple_of("175.45.176.5", 1, "198.51.100.20", 2, "TCP"),
            alert={"signature_id": 1},
        ),  # 6
        event(
            "flow", 60, 3003, **tuple_of("175.45.176.5", 1, "198.51.100.20", 2, "TCP")
        ),  # 7: no flow object
        event(
            "dns",
            61,
            3004,
            dns={
                "version": 2,
                "type": "answer",
                "rrname": "x.example",
                "rcode": "NOERROR",
                "answers": [{"rrname": "x.example", "rrtype": "A", "rdata": "not-an-ip"}],
            },
        ),  # 8
        event("fileinfo", 62, 3005, fileinfo={"filename": "/a", "size": 1}),  # 9
        event("netflow", 63, 3006, netflow={"pkts": 1}),  # 10
        event("stats", 64, None, stats={"uptime": 64}),  # 11
        event("stats", 65, None, stats={"uptime": 65}),  # 12
        good(2),  # 13
    ]
    text = (
        lines(records).encode() + b'{"event_type": "flow", "timestamp": "\xff"}\n'
    )  # 14: not UTF-8
    path.write_bytes(text)
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "read 10, watched 2, classified 2, stored 2, skipped 0, bad 8" in result.stdout
    problems = result.stderr
    assert f"{path}:2: is not a JSON object" in problems
    assert f"{path}:3: has no event_type" in problems
    assert f"{path}:4: src_port '40001' is not a port number" in problems
    assert f"{path}:5:" not in problems  # the first three are shown, the rest counted
    assert f"{path}: 8 malformed lines skipped" in problems
    assert f"{path}: event types not read, skipped: fileinfo 1, netflow 1, stats 2" in problems
    assert [e.source_ref for e in rows(db_url, Event)] == [f"{path}:1", f"{path}:13"]


def test_each_malformed_reason(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """Every kind of bad line, alone in a file with one good line, is named with its reason
    (and --strict stops at it)."""
    bad_port = flow(70, 3001, 60, tuple_of("175.45.176.5", 40001, "198.51.100.20", 3333, "TCP"))
    bad_port["dest_port"] = 70000
    no_zone = good(3)
    no_zone["timestamp"] = "2019-05-06T08:00:30.000000"
    cases = {
        "src_port": (bad_port, "dest_port 70000 is not a port number"),
        "zone": (no_zone, "timestamp '2019-05-06T08:00:30.000000' has no time zone"),
        "signature": (
            event("alert", 1, 1, alert={"signature_id": 1}),
            "alert event has no alert.signature",
        ),
        "flow": (
            event("flow", 1, 1, **tuple_of("175.45.176.5", 1, "198.51.100.20", 2, "TCP")),
            "flow event has no flow object",
        ),
        "addresses": (flow(2, 9, 1, {"proto": "TCP"}), "src_ip or dest_ip is missing"),
        "rdata": (
            event(
                "dns",
                1,
                1,
                dns={
                    "version": 2,
                    "type": "answer",
                    "rrname": "x.example",
                    "rcode": "NOERROR",
                    "answers": [{"rrname": "x.example", "rrtype": "A", "rdata": "not-an-ip"}],
                },
            ),
            "dns rdata 'not-an-ip' is not an address",
        ),
        "time": (
            event("flow", 1, 1, flow={"start": "yesterday"}),
            "flow.start 'yesterday' is not an ISO 8601 time",
        ),
        "early": (
            {
                **good(1),
                "timestamp": "1970-01-01T00:00:00.000000+0000",
                "flow": {"start": "1970-01-01T00:00:00+00:00"},
            },
            "time is before 1990-01-01",
        ),
    }
    for name, (record, reason) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(lines([good(1), record]))
        strict = scan(cli, db_url, wl, "--strict", "--format", "eve", "--flows", path)
        assert strict.exit_code == 1 and f"{path}:2: {reason}" in strict.stderr, name
        result = scan(cli, db_url, wl, "--format", "eve", "--flows", path)
        assert result.exit_code == 0, (name, result.stderr)
        assert f"{path}:2: {reason}" in result.stderr, (name, result.stderr)


def test_nothing_usable_is_partial(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_text('{"event_type": "flow", "timestamp": "x"}\n{"event_type": 3}\n')
    result = scan(cli, db_url, wl, "--format", "eve", "--flows", path)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert f"{path}: not one record could be used" in result.stderr
    # An eve.json of nothing but statistics was read fine: nothing to store is not a failure.
    stats = tmp_path / "stats.json"
    stats.write_text(lines([event("stats", 1, None, stats={"uptime": 1})]))
    assert scan(cli, db_url, wl, "--format", "eve", "--flows", stats).exit_code == 0


def test_growing_file_read_from_where_it_stopped(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = tmp_path / "eve.json"
    first = [good(1), event("stats", 11, None, stats={"uptime": 11}), good(2)]
    path.write_text(lines(first))
    one = scan(cli, db_url, wl, "--flows", path)
    assert "read 2, watched 2, classified 2, stored 2" in one.stdout, one.stdout + one.stderr
    with path.open("a") as handle:
        handle.write(lines([good(3), "oops"]))
    two = scan(cli, db_url, wl, "--flows", path)
    assert "grew since it was read" in two.stderr
    assert "read 2, watched 1, classified 1, stored 1, skipped 0, bad 1" in two.stdout
    assert f"{path}:5: is not a JSON object" in two.stderr  # lines count from the top
    assert [e.source_ref for e in rows(db_url, Event)] == [f"{path}:1", f"{path}:3", f"{path}:4"]
    assert sum(r.records for r in rows(db_url, Rollup)) == 3  # nothing counted twice


def test_gzip_directory_stdin_and_zones(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    directory = tmp_path / "suricata"
    directory.mkdir()
    with gzip.open(directory / "eve.json.1.gz", "wt") as handle:
        handle.write(lines([good(1)]))
    later = good(2)
    later["timestamp"] = stamp(20, "-0500")  # the sensor's local time, as Suricata writes it
    later["flow"]["start"] = stamp(18, "+0530")
    (directory / "eve.json").write_text(lines([later]))
    result = scan(cli, db_url, wl, "--flows", directory)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("detected Suricata eve.json") == 2
    events = rows(db_url, Event)
    assert [e.source_ref.rsplit("/", 1)[1] for e in events] == ["eve.json:1", "eve.json.1.gz:1"]
    assert events[0].observed_at.isoformat().startswith("2019-05-06T08:00:18")

    piped = cli(
        "--db",
        db_url,
        "--watchlists",
        wl,
        "scan",
        "--format",
        "eve",
        "--flows",
        "-",
        input=lines([good(3)]),
    )
    assert piped.exit_code == 0 and "stored 1" in piped.stdout, piped.stderr


def test_flows_watcher_reads_eve(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_text(lines([good(1)]))
    config = tmp_path / "chainwatch.toml"
    config.write_text(
        f'[[watchers]]\nname = "suricata"\nkind = "flows"\npath = "{path}"\nformat = "eve"\n'
    )
    result = cli(
        "--db", db_url, "--config", config, "--watchlists", wl, "scan", "--watcher", "suricata"
    )
    assert result.exit_code == 0, result.stderr
    assert [(e.source, e.category) for e in rows(db_url, Event)] == [("suricata", "pool")]
    config.write_text(config.read_text().replace('"eve"', '"suricata"'))
    refused = cli("--db", db_url, "--config", config, "scan", "--watcher", "suricata")
    assert refused.exit_code != 0 and "format is 'suricata'" in refused.stderr
    usage = cli("--db", db_url, "scan", "--format", "eve.json", "--flows", path)
    assert usage.exit_code == 2 and "eve" in usage.stderr


def test_other_json_lines_are_not_eve(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"timestamp": "2019-05-06T08:00:00Z", "type": "flow"}) + "\n")
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code != 0 and "is not a flow format chainwatch knows" in result.stderr
    assert "Suricata eve.json" in result.stderr


def test_long_first_line_is_detected(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """An alert with its payload (Suricata's payload-printable) longer than the 64 KiB that
    detection reads is still recognised."""
    first = good(1)
    first["payload_printable"] = "A" * 100_000
    path = tmp_path / "eve.json"
    path.write_text(lines([first, good(2)]))
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "detected Suricata eve.json" in result.stderr and "stored 2" in result.stdout
