"""Zeek conn.log, TSV and JSON lines: missing values stay missing, uid identifies a connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from chainwatch.store.models import Event, Rollup
from tests.flows.conftest import rows

FIELDS = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "orig_pkts",
    "resp_pkts",
]
RECORDS = [
    [
        "1495015200.123456",
        "CAbc1",
        "175.45.176.5",
        "40001",
        "198.51.100.7",
        "8333",
        "tcp",
        "-",
        "1.5",
        "100",
        "200",
        "SF",
        "2",
        "3",
    ],
    [
        "1495015210.000000",
        "CAbc2",
        "175.45.176.6",
        "40002",
        "203.0.113.10",
        "3333",
        "tcp",
        "-",
        "-",
        "-",
        "-",
        "S0",
        "1",
        "-",
    ],
    [
        "1495015220.000000",
        "CAbc3",
        "198.51.100.99",
        "50000",
        "175.45.176.7",
        "443",
        "tcp",
        "ssl",
        "2.0",
        "10",
        "20",
        "SF",
        "1",
        "1",
    ],
    [
        "1495015230.000000",
        "CAbc4",
        "175.45.176.8",
        "40004",
        "192.0.2.50",
        "443",
        "tcp",
        "(empty)",
        "2.0",
        "10",
        "20",
        "SF",
        "1",
        "1",
    ],
    [
        "1495015240.000000",
        "CAbc5",
        "192.0.2.1",
        "40005",
        "198.51.100.7",
        "8333",
        "tcp",
        "-",
        "2.0",
        "10",
        "20",
        "SF",
        "1",
        "1",
    ],
]


def tsv() -> str:
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        "#open\t2017-05-17-10-00-00",
        "#fields\t" + "\t".join(FIELDS),
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tcount\tcount",
    ]
    body = ["\t".join(r) for r in RECORDS]
    return "\n".join([*header, *body, "#close\t2017-05-17-11-00-00"]) + "\n"


def jsonl() -> str:
    out = []
    for record in RECORDS:
        item: dict[str, Any] = {}
        for name, value in zip(FIELDS, record, strict=True):
            if value in ("-", "(empty)"):
                continue  # Zeek's JSON leaves unset fields out
            item[name] = (
                float(value)
                if name in ("ts", "duration")
                else int(value)
                if name.endswith(("_p", "bytes", "pkts"))
                else value
            )
        out.append(json.dumps(item))
    return "\n".join(out) + "\n"


def check(db_url: str, fmt: str) -> None:
    events = rows(db_url, Event)
    got = [
        (e.local_ip, e.remote_port, e.category, e.direction, e.bytes, e.packets, e.connection_key)
        for e in events
    ]
    assert got == [
        ("175.45.176.5", 8333, "btc-p2p", "outbound", 300, 5, "zeek:CAbc1"),
        (
            "175.45.176.6",
            3333,
            "xmr-pool",
            "outbound",
            None,
            1,
            "zeek:CAbc2",
        ),  # bytes unknown: None, not 0
        ("175.45.176.7", 50000, "tor", "inbound", 30, 2, "zeek:CAbc3"),
    ]
    assert events[0].observed_at.timestamp() == 1495015200.123456
    assert all(e.detail["format"] == fmt for e in events)
    other = [r for r in rows(db_url, Rollup) if r.category == "other"]
    assert [(r.records, r.bytes) for r in other] == [(1, 30)]


def test_zeek_tsv(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "conn.log"
    path.write_text(tsv())
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "detected Zeek conn.log (TSV)" in result.stderr
    assert "read 5, watched 4, classified 3, stored 3, skipped 0, bad 0" in result.stdout
    check(db_url, "zeek")


def test_zeek_json(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "conn.json"
    path.write_text(jsonl() + '{"ts": "yesterday"}\nnot json\n')
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--format", "zeek", "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "read 7, watched 4, classified 3, stored 3, skipped 0, bad 2" in result.stdout
    assert f"{path}:7: is not a JSON object" in result.stderr
    check(db_url, "zeek-json")


def test_growing_log_read_from_where_it_stopped(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """A Zeek log that grows between scans: only the new lines are read, the header is kept,
    and line numbers go on counting from the top of the file."""
    text = tsv().replace("#close\t2017-05-17-11-00-00\n", "")
    lines = text.splitlines(keepends=True)
    head, tail = "".join(lines[:-2]), "".join(lines[-2:])
    path = tmp_path / "conn.log"
    path.write_text(head)
    first = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert "read 3, watched 3, classified 3, stored 3" in first.stdout, first.stdout + first.stderr
    with path.open("a") as handle:
        handle.write(tail)
    second = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert second.exit_code == 0, second.stderr
    assert "grew since it was read" in second.stderr
    assert "read 2, watched 1, classified 0, stored 0" in second.stdout
    other = [r for r in rows(db_url, Rollup) if r.category == "other"]
    assert [(r.records, r.bytes) for r in other] == [(1, 30)]  # counted once, not re-read
    path.write_text(head.replace("CAbc1", "CZzz1"))  # rewritten, not grown: read as new
    third = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert "grew" not in third.stderr and "read 3," in third.stdout


def test_uids_that_need_json_escapes(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """A uid is the file's text: quotes, backslashes, control-like and non-ASCII characters
    reach ``detail`` as valid JSON (written as ``json.dumps`` writes it), and a uid seen twice
    is one connection."""
    uids = ['C"q1', "C\\b2", "Cé3", "C\u20284", "C/5", "plain6", 'C"q1']
    rest = "tcp\t-\t1.0\t10\t20\tSF\t1\t1"
    body = [
        f"{1495015200 + i}.0\t{uid}\t175.45.176.5\t{40000 + i}\t198.51.100.7\t8333\t{rest}"
        for i, uid in enumerate(uids)
    ]
    path = tmp_path / "conn.log"
    path.write_text(
        "#separator \\x09\n#fields\t" + "\t".join(FIELDS) + "\n" + "\n".join(body) + "\n",
        encoding="utf-8",
    )
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "read 7, watched 7, classified 7, stored 6" in result.stdout
    events = rows(db_url, Event)
    assert [e.detail for e in events] == [{"format": "zeek", "uid": u} for u in uids[:6]]
    assert [e.connection_key for e in events] == [f"zeek:{u}" for u in uids[:6]]
    if db_url.startswith("sqlite"):
        engine = create_engine(db_url)
        with engine.connect() as conn:
            texts = conn.exec_driver_sql("SELECT detail FROM events ORDER BY id").scalars().all()
        engine.dispose()
        assert texts == [json.dumps({"format": "zeek", "uid": u}) for u in uids[:6]]
