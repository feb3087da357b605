"""Evidence export through the real store and CLI: formats, filters, manifest, verify, safety."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainwatch.export.csv_out import unneutralise
from chainwatch.export.manifest import verify
from chainwatch.export.run import run_export
from chainwatch.store.db import open_store
from chainwatch.store.evidence import EXPORT_FIELDS, EvidenceQuery
from tests.export.conftest import add_events, make_event

INTS = {"event_id", "local_port", "remote_port", "bytes", "packets"}


def parse_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert tuple(header) == EXPORT_FIELDS
        rows = []
        for cells in reader:
            row: dict[str, Any] = {}
            for name, cell in zip(header, cells, strict=True):
                if name in INTS:
                    row[name] = int(cell) if cell else None
                elif name == "confidence":
                    row[name] = float(cell)
                elif name == "detail":
                    row[name] = json.loads(unneutralise(cell)) if cell else None
                else:
                    row[name] = unneutralise(cell) if cell else None
            rows.append(row)
        return rows


def parse_jsonl(path: Path) -> list[dict[str, Any]]:
    # split on \n only: str.splitlines would also split on U+0085/U+2028 inside strings
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def expected(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, e in enumerate(events, start=1):
        row = {name: e.get(name) for name in EXPORT_FIELDS}
        row["event_id"] = i
        row["observed_at"] = e["observed_at"].isoformat().replace("+00:00", "Z")
        out.append(row)
    return out


HOSTILE = [
    "=1+2",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\tx",
    "\rx",
    "'=x",
    "plain",
    '=HYPERLINK("http://x")',
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip_with_hostile_strings_in_every_text_column(
    db_url: str, tmp_path: Path, fmt: str
) -> None:
    events = []
    for i, bad in enumerate(HOSTILE):
        events.append(
            make_event(
                # proto, direction and coin are VARCHAR(10) on PostgreSQL
                i,
                watchlist=bad,
                matched_cidr=bad,
                proto=bad[:10],
                direction=bad[:10],
                coin=bad[:10],
                detector=bad[:20],
                source=bad,
                source_ref=bad,
                category=bad[:20],
                evidence_sha256=bad,
                detail={"user_agent": bad, "worker": bad},
                local_port=None,
                bytes=None,
                remote_ip=None,
            )
        )
    store = open_store(db_url)
    add_events(store, events)
    run_export(store, EvidenceQuery(), fmt, tmp_path / "out")
    store.close()
    path = tmp_path / "out" / f"events.{fmt}"
    got = parse_csv(path) if fmt == "csv" else parse_jsonl(path)
    assert got == expected(events)
    if fmt == "csv":
        text_cols = [i for i, n in enumerate(EXPORT_FIELDS) if n not in INTS | {"confidence"}]
        with path.open(encoding="utf-8", newline="") as handle:
            for cells in list(csv.reader(handle))[1:]:
                for i in text_cols:
                    assert not cells[i].startswith(("=", "+", "-", "@", "\t", "\r")), cells[i]
    else:
        assert got[0]["watchlist"] == "=1+2"  # JSON lines keep the exact value


def test_negative_numbers_are_not_neutralised(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    add_events(store, [make_event(0, confidence=-0.5, bytes=-7)])
    run_export(store, EvidenceQuery(), "csv", tmp_path / "o")
    store.close()
    row = next(csv.DictReader((tmp_path / "o" / "events.csv").open(encoding="utf-8")))
    assert row["bytes"] == "-7" and row["confidence"] == "-0.5"


_STORES: dict[str, Any] = {}


def _prop_store(factory: pytest.TempPathFactory) -> Any:
    # one migrated SQLite store for all examples: migrating per example would dominate run time
    if "s" not in _STORES:
        _STORES["s"] = open_store(f"sqlite:///{factory.mktemp('propdb')}/db.sqlite")
    return _STORES["s"]


text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source_ref=text, worker=text, watchlist=text.filter(bool))
def test_property_round_trip(
    tmp_path_factory: pytest.TempPathFactory, source_ref: str, worker: str, watchlist: str
) -> None:
    base = tmp_path_factory.mktemp("prop")
    store = _prop_store(tmp_path_factory)
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM events")
        conn.exec_driver_sql("DELETE FROM inputs")
    events = [
        make_event(0, source_ref=source_ref or "x", watchlist=watchlist, detail={"worker": worker})
    ]
    add_events(store, events, content=repr(events).encode())
    run_export(store, EvidenceQuery(), "csv", base / "c")
    run_export(store, EvidenceQuery(), "jsonl", base / "j")
    want = expected(events)
    want[0]["event_id"] = parse_jsonl(base / "j" / "events.jsonl")[0]["event_id"]
    assert parse_csv(base / "c" / "events.csv") == want
    assert parse_jsonl(base / "j" / "events.jsonl") == want


def test_filters(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    add_events(
        store,
        [
            make_event(0),
            make_event(1, watchlist="other", category="btc-p2p", coin="btc"),
            make_event(2, detector="endpoint", confidence=0.9, category="xmr-pool"),
            make_event(300),
        ],
    )
    cases = {
        "w": (EvidenceQuery(watchlists=("other",)), [2]),
        "c": (EvidenceQuery(categories=("xmr-pool",)), [3]),
        "coin": (EvidenceQuery(coins=("btc",)), [2]),
        "d": (EvidenceQuery(detectors=("endpoint",)), [3]),
        "m": (EvidenceQuery(min_confidence=0.5), [3]),
        "t": (
            EvidenceQuery(since=make_event(1)["observed_at"], until=make_event(300)["observed_at"]),
            [2, 3],
        ),
    }
    for name, (query, ids) in cases.items():
        run_export(store, query, "jsonl", tmp_path / name)
        assert [r["event_id"] for r in parse_jsonl(tmp_path / name / "events.jsonl")] == ids, name
    store.close()


def test_manifest_lists_inputs_and_verify_detects_tampering(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    add_events(store, [make_event(0)], path="/data/a.csv", content=b"a")
    add_events(
        store, [make_event(1, category="btc-p2p", coin="btc")], path="/data/b.csv", content=b"bb"
    )
    run_export(store, EvidenceQuery(coins=("btc",)), "csv", tmp_path / "o")
    store.close()
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["query"]["coins"] == ["btc"]
    assert manifest["files"][0]["records"] == 1
    assert [(i["path"], i["size"]) for i in manifest["inputs"]] == [("/data/b.csv", 2)]
    assert verify(tmp_path / "o").ok
    data = tmp_path / "o" / "events.csv"
    data.write_bytes(data.read_bytes().replace(b"btc-p2p", b"xmr-p2p"))
    result = verify(tmp_path / "o")
    assert not result.ok and any("SHA-256" in p for p in result.problems)


def test_stix_bundle_validates(db_url: str, tmp_path: Path) -> None:
    from stix2validator import ValidationOptions, validate_file

    store = open_store(db_url)
    add_events(
        store,
        [
            make_event(0),
            make_event(
                1, local_ip="2001:db8::1", remote_ip="2001:db8::2", matched_cidr="2001:db8::/32"
            ),
            make_event(2, category="tor", coin=None, detail={"ua": "=cmd|' /C calc'!A0"}),
        ],
    )
    run_export(store, EvidenceQuery(), "stix", tmp_path / "s")
    store.close()
    path = tmp_path / "s" / "events.stix.json"
    result = validate_file(str(path), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for r in result.object_results for e in r.errors]
    objects = json.loads(path.read_text())["objects"]
    types = [o["type"] for o in objects]
    assert types.count("observed-data") == 3 and types.count("identity") == 1
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert len(indicators) == 2  # the two watched addresses with mining activity, not the tor one
    assert any(
        "175.45.176.1'" in i["pattern"] and "203.0.113.10" in i["pattern"] for i in indicators
    )
    assert "relationship" in types and "ipv6-addr" in types
    assert any(o.get("x_chainwatch_detail") == {"ua": "=cmd|' /C calc'!A0"} for o in objects)
    assert verify(tmp_path / "s").ok


def test_cli_export_refuses_non_empty_dir_and_verify(cli: Any, db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    add_events(store, [make_event(0), make_event(1)])
    store.close()
    out = tmp_path / "o"
    r = cli("--db", db_url, "export", "--format", "csv", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "exported 2 events" in r.stdout
    r = cli("--db", db_url, "export", "--format", "jsonl", "--out", out)
    assert r.exit_code == 2 and "not empty" in r.stderr
    r = cli("--db", db_url, "export", "--format", "jsonl", "--out", out, "--force")
    assert r.exit_code == 0 and sorted(p.name for p in out.iterdir()) == [
        "events.jsonl",
        "manifest.json",
    ]
    r = cli("export", "verify", out)
    assert r.exit_code == 0 and "ok:" in r.stdout
    (out / "events.jsonl").write_text("{}\n")
    r = cli("export", "verify", out)
    assert r.exit_code == 1 and "differs: events.jsonl" in r.stdout
    r = cli("--db", db_url, "export", "--format", "xml", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "--format" in r.stderr
    r = cli("--db", db_url, "export", "--since", "yesterday", "--out", tmp_path / "y")
    assert r.exit_code == 2 and "--since" in r.stderr


def test_interrupted_export_leaves_no_complete_looking_file(db_url: str, tmp_path: Path) -> None:
    from chainwatch.export import jsonl_out

    store = open_store(db_url)
    add_events(store, [make_event(0)])

    class Boom(jsonl_out.JsonlExporter):
        def write(self, handle: Any, rows: list[tuple[Any, ...]]) -> int:
            super().write(handle, rows)
            raise KeyboardInterrupt

    import chainwatch.export.run as export

    original = export.exporter_for
    export.exporter_for = lambda fmt: Boom()  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            run_export(store, EvidenceQuery(), "jsonl", tmp_path / "o")
    finally:
        export.exporter_for = original
        store.close()
    assert list((tmp_path / "o").iterdir()) == []


def test_scan_then_export_round_trip_through_cli(cli: Any, db_url: str, tmp_path: Path) -> None:
    wl = tmp_path / "wl"
    wl.mkdir()
    (wl / "kp.toml").write_text('description = "kp"\n[[ranges]]\ncidr = "175.45.176.0/22"\n')
    flows = tmp_path / "x.csv"
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"
        "2019-05-01T12:00:00Z,175.45.176.5,203.0.113.10,40000,18080,tcp,1200,10\n"
        "2019-05-01T13:00:00Z,175.45.177.9,198.51.100.7,40001,8333,tcp,900,8\n"
        "2019-05-01T14:00:00Z,192.0.2.1,198.51.100.7,1,80,tcp,1,1\n"
    )
    r = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", flows)
    assert r.exit_code == 0, r.stderr
    for fmt in ("csv", "jsonl"):
        r = cli("--db", db_url, "export", "--format", fmt, "--out", tmp_path / fmt)
        assert r.exit_code == 0, r.stderr
    got_csv = parse_csv(tmp_path / "csv" / "events.csv")
    got_jsonl = parse_jsonl(tmp_path / "jsonl" / "events.jsonl")
    store = open_store(db_url)
    from sqlalchemy import select

    from chainwatch.store.models import Event

    with store.session() as session:
        stored = session.scalars(select(Event).order_by(Event.id)).all()
        want = [
            {
                **{n: getattr(e, n) for n in EXPORT_FIELDS if n not in ("event_id", "observed_at")},
                "event_id": e.id,
                "observed_at": e.observed_at.isoformat().replace("+00:00", "Z"),
            }
            for e in stored
        ]
    store.close()
    assert len(want) == 2
    assert got_csv == want and got_jsonl == want
    manifest = json.loads((tmp_path / "csv" / "manifest.json").read_text())
    assert manifest["inputs"][0]["size"] == flows.stat().st_size
