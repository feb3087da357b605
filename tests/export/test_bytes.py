"""CSV and JSON lines are the same bytes as a plain, value-by-value writer would produce.

The exporters read events serialised as JSON by the database and convert whole chunks at once
(``stream_json``); ``reference`` below is the straightforward writer they replaced, reading
typed values through SQLAlchemy. Hostile values in every column, NULLs, times with and without
microseconds, awkward floats and ``detail`` shapes, and chunks mixing both paths must come out
byte for byte the same, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainwatch.export.csv_out import quoted
from chainwatch.export.run import run_export
from chainwatch.store.db import Store, open_store
from chainwatch.store.evidence import EXPORT_FIELDS, JSON_CHUNK, EvidenceQuery, stream_events
from tests.export.conftest import T0, add_events, make_event

_NUMERIC = {"event_id", "local_port", "remote_port", "confidence", "bytes", "packets"}
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def reference(store: Store, fmt: str) -> bytes:
    """The export as the value-by-value writer wrote it."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(EXPORT_FIELDS)
    for rows in stream_events(store, EvidenceQuery()):
        for row in rows:
            record = dict(zip(EXPORT_FIELDS, row, strict=False))
            record["observed_at"] = (
                record["observed_at"].astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            )
            if fmt == "jsonl":
                out.write(_ENCODE(record) + "\n")
                continue
            if record["detail"] is not None:
                record["detail"] = json.dumps(
                    record["detail"], sort_keys=True, ensure_ascii=False, separators=(",", ":")
                )
            for name, value in record.items():
                if name not in _NUMERIC and value and value[0] in "=+-@\t\r'":
                    record[name] = "'" + value
            writer.writerow(record.values())
    return out.getvalue().encode("utf-8")


def exported(store: Store, fmt: str, directory: Path) -> bytes:
    run_export(store, EvidenceQuery(), fmt, directory, force=True)
    return (directory / f"events.{fmt}").read_bytes()


HOSTILE = [
    "plain",
    "",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\rhere",
    "tab\there",
    "back\\slash",
    "=1+2",
    "+1",
    "-1",
    "@cmd",
    "\tx",
    "\rx",
    "'quoted",
    '"=not a formula after all',
    "[null",
    "x,null",
    "null",
    "\x1f\x1e\x01",
    "\u2028\u0085é漢字😀",
    " spaced ",
]
# dicts and lists as watchers store them; a str is stored as JSON text already
DETAILS: list[Any] = [
    None,
    {"ua": "=cmd|' /C calc'!A0", "n": 1.5, "z": [1, None, "a,b"], "f": 0.1 + 0.2},
    {"é": "漢字", "a": {"b": '"q"'}, "-": -5},
    '"=a JSON string"',
    "null",
    ["-", 1],
    [],
    {},
]
CONFIDENCES = [0.3, 1.0, 0.0, 0.1 + 0.2, 1e-05, 1e16, -0.5, 123456789.125]


def hostile_events(count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        bad = HOSTILE[i % len(HOSTILE)]
        events.append(
            make_event(
                i,
                observed_at=T0 + dt.timedelta(seconds=i, microseconds=(i % 3) * 250_001),
                watchlist=bad or "w",
                matched_cidr=bad,
                local_ip=bad,
                remote_ip=None if i % 5 == 0 else bad,
                proto=None if i % 7 == 0 else bad[:10],
                direction=bad[:10],
                category=bad[:20],
                coin=None if i % 4 == 0 else bad[:10],
                detector=bad[:20],
                source=bad,
                source_ref=bad,
                evidence_sha256=bad,
                local_port=None if i % 6 == 0 else 40000 + i,
                bytes=None if i % 8 == 0 else -i,
                confidence=CONFIDENCES[i % len(CONFIDENCES)],
                detail=DETAILS[i % len(DETAILS)],
            )
        )
    return events


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_same_bytes_as_a_value_by_value_writer(db_url: str, tmp_path: Path, fmt: str) -> None:
    store = open_store(db_url)
    # Chunks with nothing to quote (formulas still neutralised) around one with everything,
    # so that both ways of converting a chunk meet.
    formulas = ["kp", "=1+2", "-x", "@a", "'q", "+1", "a b"]
    plain = [
        make_event(i, detail=None, watchlist=formulas[i % 7], source_ref=formulas[i % 5])
        for i in range(JSON_CHUNK)
    ]
    add_events(store, plain + hostile_events(3 * len(HOSTILE)) + plain)
    try:
        assert exported(store, fmt, tmp_path / "out") == reference(store, fmt)
    finally:
        store.close()


def test_sqlite_times_in_other_text_forms_and_nul(tmp_path: Path) -> None:
    # SQLite keeps times as text; forms with no, fewer or more fractional digits read the way
    # SQLAlchemy (datetime.fromisoformat) reads them. SQLite text, unlike PostgreSQL's, may
    # hold NUL.
    store = open_store(f"sqlite:///{tmp_path}/db.sqlite")
    add_events(store, [make_event(i, watchlist="a\x00b", source_ref="\x00") for i in range(5)])
    forms = [
        "2019-05-01 12:00:00",
        "2019-05-01 12:00:00.5",
        "2019-05-01 12:00:00.123",
        "2019-05-01 12:00:00.123456789",
        "2019-05-01 12:00:00.000000",
    ]
    with store.write() as conn:
        for event_id, form in enumerate(forms, start=1):
            conn.exec_driver_sql("UPDATE events SET observed_at = ? WHERE id = ?", (form, event_id))
    try:
        for fmt in ("csv", "jsonl"):
            assert exported(store, fmt, tmp_path / fmt) == reference(store, fmt)
    finally:
        store.close()


_STORES: dict[str, Store] = {}

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.tuples(text, text, text), min_size=1, max_size=4),
    detail=st.none() | st.dictionaries(text, text | st.integers() | st.floats(), max_size=3),
    confidence=st.floats(allow_nan=False, allow_infinity=False),
)
def test_property_same_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    values: list[tuple[str, str, str]],
    detail: dict[str, Any] | None,
    confidence: float,
) -> None:
    if "s" not in _STORES:
        _STORES["s"] = open_store(f"sqlite:///{tmp_path_factory.mktemp('bytesdb')}/db.sqlite")
    store = _STORES["s"]
    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM events")
        conn.exec_driver_sql("DELETE FROM inputs")
    events = [
        make_event(
            i,
            watchlist=a,
            source_ref=b,
            remote_ip=c or None,
            detail=detail,
            confidence=confidence,
        )
        for i, (a, b, c) in enumerate(values)
    ]
    add_events(store, events, content=repr(events).encode())
    base = tmp_path_factory.mktemp("out")
    for fmt in ("csv", "jsonl"):
        assert exported(store, fmt, base / fmt) == reference(store, fmt)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_quoted_is_how_the_csv_module_writes_a_cell(cell: str) -> None:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow([cell, ""])
    assert out.getvalue() == quoted(cell) + ",\r\n"
