"""Hostile and broken captures: truncated files, absurd lengths, bad checksums, garbage that
looks like JSON, endless lines, unknown link types, random bytes. Each is skipped with a count
and a reason (file:packet), never a crash, and memory stays bounded."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainwatch.classify import Classifier
from chainwatch.errors import InputError
from chainwatch.flows.inputs import describe
from chainwatch.pcap import reader
from chainwatch.pcap.capture import is_capture
from chainwatch.store.models import Event, Input, Rollup
from chainwatch.watchlists import RangeMatcher, load_watchlists
from tests.flows.conftest import rows
from tests.pcap.capgen import Talk, frames, write_pcap, write_pcapng
from tests.pcap.cases import CASES
from tests.pcap.conftest import scan

T0 = 1558000000.0
STRATUM = CASES[0]


def stratum_frames(
    at: float = T0, client: str = "175.45.176.5", cport: int = 40001
) -> list[tuple[float, bytes]]:
    return frames(Talk(client, "203.0.113.20", cport, 3333, at, STRATUM.messages))


def test_truncated_capture_keeps_what_came_before(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = write_pcap(tmp_path / "cut.pcap", stratum_frames())
    path.write_bytes(path.read_bytes()[:-30])  # the last packet (an ACK) is cut short
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert f"{path}:11: the capture ends inside a packet (truncated)" in result.stderr
    assert f"{path}: 1 unusable packet skipped" in result.stderr
    assert [(e.category, e.packets) for e in rows(db_url, Event)] == [("btc-pool", 10)]


def test_absurd_record_length_stops_framing(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = write_pcap(tmp_path / "absurd.pcap", stratum_frames())
    data = bytearray(path.read_bytes())
    data += struct.pack("<IIII", 1, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"x" * 100
    path.write_bytes(bytes(data))
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert "packet length 4,294,967,280 is above 262,144" in result.stderr
    assert len(rows(db_url, Event)) == 1


def _corrupt(frame: bytes, at: int) -> bytes:
    return frame[:at] + bytes([frame[at] ^ 0xFF]) + frame[at + 1 :]


def _offloaded(frame: bytes) -> bytes:
    """The frame as a sender with checksum offload captures it: the TCP checksum field holds
    only the pseudo-header's sum."""
    eth = dpkt.ethernet.Ethernet(frame)
    ip = eth.data
    segment = bytes(ip.data)
    pseudo = ip.src + ip.dst + struct.pack("!HH", 6, len(segment))
    total = sum(struct.unpack("!6H", pseudo))
    total = (total >> 16) + (total & 0xFFFF)
    total = (total + (total >> 16)) & 0xFFFF
    return frame[: 14 + 20 + 16] + struct.pack("!H", total) + frame[14 + 20 + 18 :]


def test_bad_checksums_skipped_offload_accepted(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    packets = stratum_frames()
    packets[4] = (packets[4][0], _corrupt(packets[4][1], 60))  # a payload byte: TCP checksum
    packets[5] = (packets[5][0], _corrupt(packets[5][1], 22))  # the TTL: IPv4 header checksum
    packets[6] = (packets[6][0], _offloaded(packets[6][1]))  # genuine, checksum offloaded
    path = write_pcap(tmp_path / "sums.pcap", packets)

    strict = scan(cli, db_url, wl, "--strict", "--pcap", path)
    assert strict.exit_code == 1
    assert f"error: {path}:5: bad TCP checksum" in strict.stderr, strict.stderr
    assert rows(db_url, Event) == [] and rows(db_url, Input) == []

    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert f"{path}:5: bad TCP checksum" in result.stderr
    assert f"{path}:6: bad IPv4 header checksum" in result.stderr
    assert f"{path}: 2 unusable packets skipped" in result.stderr
    [event] = rows(db_url, Event)
    assert event.packets == len(packets) - 2
    # Packet 5 (the subscribe) was thrown away; the stream waits for a retransmission that
    # never comes, so nothing after the gap is read: the pool's side proves it instead, and
    # names no coin.
    assert event.category == "pool"


def test_garbage_that_looks_like_json_and_endless_lines(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    garbage = [
        b'{"method": "mining.subscribe", "params": [' + b"x" * 100 + b"\n",  # unterminated
        b"[" * 3000 + b"]" * 3000 + b"\n",  # nesting deeper than the parser's recursion
        b'{"method": 5, "params": {}}\n{"method": "login", "params": {"login": 7}}\n',
        b'{"id": 1, "method": "mining.subscribe", "params": "cgminer"}\n',
        b"{" + b"a" * (1 << 20),  # a megabyte without a newline
        b'{"\xff\xfe": "\x00"}\n',
        b"\x16\x03\x01\x00\x05hello",  # a TLS record that is no handshake
        b"\x16\x03\x01\xff\xff\x01\x00",  # a TLS record far longer than what follows
        b"\xf9\xbe\xb4\xd9version\x00\x00\x00\x00\x00\xff\xff\xff\xff",  # BTC magic, short
    ]
    talks = [
        Talk("175.45.176.5", "203.0.113.20", 42000 + i, 3333, T0 + i, [("c", g)])
        for i, g in enumerate(garbage)
    ]
    path = write_pcap(tmp_path / "garbage.pcap", [f for t in talks for f in frames(t)])
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"read {len(garbage)}, watched {len(garbage)}, classified 0, stored 0, skipped 0, bad 0"
        in result.stdout
    )
    assert sum(r.records for r in rows(db_url, Rollup)) == len(garbage)


def test_strings_no_database_stores_are_escaped(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """JSON may spell NUL and lone surrogates (\\u0000, \\ud800), which neither SQLite's
    UTF-8 nor PostgreSQL's text can hold: they are stored as visible escapes."""
    message = (
        b'{"id":1,"method":"mining.subscribe","params":["\\ud800agent\\u0000"]}\n'
        b'{"id":2,"method":"mining.authorize","params":["w\\udfff",""]}\n'
    )
    talk = Talk("175.45.176.5", "203.0.113.20", 40001, 3333, T0, [("c", message)])
    path = write_pcap(tmp_path / "escapes.pcap", frames(talk))
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    [event] = rows(db_url, Event)
    assert event.detail["agent"] == "\\ud800agent\\x00"
    assert event.detail["worker"] == "w\\udfff"


def test_unknown_link_type_and_not_a_capture(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    odd = write_pcap(tmp_path / "user0.pcap", stratum_frames(), linktype=147)
    result = scan(cli, db_url, wl, "--pcap", odd)
    assert result.exit_code == 3, result.stderr  # not one packet could be used: partial
    assert "scan 1 partial:" in result.stdout and f"{odd}: not one record could be used" in (
        result.stderr
    )
    assert f"{odd}:1: link type 147 is not supported" in result.stderr
    assert f"{odd}: 11 unusable packets skipped" in result.stderr
    assert rows(db_url, Event) == []

    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    bad = scan(cli, db_url, wl, "--pcap", text)
    assert bad.exit_code == 1
    assert (
        f"{text}: is not a packet capture; expected pcap or pcapng, optionally gzip-compressed"
        in bad.stderr
    )
    assert "Traceback" not in bad.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    none = scan(cli, db_url, wl, "--pcap", empty)
    assert none.exit_code == 1
    assert f"{empty}: holds no capture files; expected pcap or pcapng files" in none.stderr


def test_unwatched_traffic_with_one_malformed_packet_is_ok(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """Packets of unwatched hosts were usable, so one malformed packet beside them does not
    make the capture "not one record could be used"."""
    talk = frames(Talk("192.0.2.70", "198.51.100.70", 40001, 443, T0, STRATUM.messages))
    broken = (T0 + 5, talk[0][1][:20])  # an Ethernet frame cut inside its IPv4 header
    path = write_pcap(tmp_path / "unwatched.pcap", [*talk, broken])
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert "scan 1 ok:" in result.stdout and "bad 1" in result.stdout
    assert "not one record could be used" not in result.stderr
    assert rows(db_url, Event) == []


def test_full_connection_table_writes_out_oldest_first(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for 10 connections and a tiny buffer budget, 60 concurrent stratum sessions
    are all recorded and recognised: bounded memory does not lose evidence."""
    monkeypatch.setattr(reader, "MAX_CONNECTIONS", 10)
    monkeypatch.setattr(reader, "BUDGET", 4096)
    monkeypatch.setattr(reader, "CHUNK", 16)
    packets = [
        f
        for i in range(60)
        for f in stratum_frames(T0 + i * 0.001, f"175.45.176.{i + 1}", 43000 + i)
    ]
    path = write_pcap(tmp_path / "many.pcap", packets)
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    events = rows(db_url, Event)
    assert sorted(e.local_ip for e in events) == sorted(f"175.45.176.{i + 1}" for i in range(60))
    # Buffers let go after the first message: the subscribe proves mining, no wallet was read.
    assert {e.category for e in events} == {"pool"}
    # Evicted connections come back as new records of the same connection: one event each,
    # but every record counts in the rollups.
    assert sum(r.records for r in rows(db_url, Rollup)) >= 60


@pytest.fixture(scope="module")
def matcher_and_classifier(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RangeMatcher, Classifier]:
    directory = tmp_path_factory.mktemp("wl")
    (directory / "kp.toml").write_text('[[ranges]]\ncidr = "175.45.176.0/22"\n')
    watchlists = load_watchlists(directory)
    return RangeMatcher(watchlists.watchlists), Classifier(watchlists.endpoints, {})


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_damage_never_crashes(
    matcher_and_classifier: tuple[RangeMatcher, Classifier], tmp_path: Path, data: st.DataObject
) -> None:
    """Random bytes flipped, cut or inserted anywhere in a valid capture (pcap or pcapng):
    the reader ends normally, and what it counts adds up."""
    kind = data.draw(st.sampled_from(["pcap", "pcapng"]))
    base = tmp_path / f"base.{kind}"
    if not base.exists():
        (write_pcap if kind == "pcap" else write_pcapng)(base, stratum_frames())
    raw = bytearray(base.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at : at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    path = tmp_path / "damaged.pcap"
    path.write_bytes(bytes(raw))
    matcher, classifier = matcher_and_classifier
    capture_reader = reader.CaptureReader(describe(path), matcher, classifier)
    try:
        batches = list(capture_reader.batches())
    except InputError:
        assert not is_capture(bytes(raw[:4]))  # the watcher refuses such a file up front
        return
    records = sum(b.table.num_rows for b in batches)
    assert records <= 16
    assert capture_reader.reassembler.buffered == 0  # every buffer was let go
    assert capture_reader.table == {}
