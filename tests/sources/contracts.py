"""One contract per source format: how to write its good, bad and empty inputs the way the
field's tools write them, and how to find record N's raw bytes again from outside chainwatch
(the evidence an event's ``source_ref`` and ``evidence_sha256`` must point at).

Every scene is the same: ``n`` connections from watched hosts (175.45.176.0/22) to
documentation addresses, every third to port 8333 (a ``btc-p2p`` event by the port rule), the
rest to 443 (watched, unclassified: rollups only), each with its own ports so that no two
records pair. Inputs hold watched records only, so that nfdump's watch filter keeps every
record of an nfcapd file and its record numbers are the file's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dpkt

from tests.conftest import require_binary
from tests.flows.pcapgen import Conn, packets
from tests.pcap.capgen import write_pcap, write_pcapng
from tests.sensors.zeeklogs import CONN_FIELDS, jsonl, tsv

#: 2019-05-06T00:00:00Z: the scenes' first record.
T0 = 1557100800
WATCHED = "175.45.176.0/22"


@dataclass(frozen=True)
class Record:
    """One connection of a scene: watched ``local`` opened it to ``remote``."""

    at: float
    local: str
    lport: int
    remote: str
    rport: int
    bytes: int


def scene(n: int, start: float = T0) -> list[Record]:
    return [
        Record(
            at=start + i * 0.001,
            local=f"175.45.{176 + (i // 250) % 4}.{i % 250 + 1}",
            lport=20000 + i % 40000,
            remote=f"198.51.100.{i % 200 + 1}" if i % 2 else f"203.0.113.{i % 200 + 1}",
            rport=8333 if i % 3 == 0 else 443,
            bytes=100 + i % 900,
        )
        for i in range(n)
    ]


def iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line_of(path: Path, number: int) -> bytes | None:
    """Line ``number`` (1-based) as it is in the file, without its line ending."""
    with path.open("rb") as handle:
        for i, line in enumerate(handle, 1):
            if i == number:
                return line.rstrip(b"\r\n")
    return None


# -- text formats ----------------------------------------------------------------------------

CSV_HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets"


def write_csv(path: Path, records: list[Record], bad: str | None) -> Path:
    lines = [CSV_HEADER]
    for i, r in enumerate(records):
        lines.append(f"{iso(r.at)},{r.local},{r.remote},{r.lport},{r.rport},tcp,{r.bytes},2")
        if bad is not None and i == 1:
            lines.append(bad)
    path.write_text("\n".join(lines) + "\n")
    return path


def uid(record: Record) -> str:
    """A connection's Zeek uid: unique to it, as Zeek's are (18 characters, "C" first)."""
    key = f"{record.at:.6f} {record.local} {record.lport}".encode()
    return "C" + hashlib.sha1(key).hexdigest()[:17]


def zeek_rows(records: list[Record]) -> list[list[object]]:
    return [
        [r.at, uid(r), r.local, r.lport, r.remote, r.rport, "tcp", "-", 1.5, r.bytes, 80,
         "SF", 2, 2]
        for r in records
    ]  # fmt: skip


def write_zeek_tsv(path: Path, records: list[Record], bad: str | None) -> Path:
    path.write_text(tsv("conn", CONN_FIELDS, zeek_rows(records), bad=bad or ""))
    return path


def write_zeek_json(path: Path, records: list[Record], bad: str | None) -> Path:
    # Zeek's JSON writer leaves a log without records empty: no header, no newline
    path.write_text(jsonl(CONN_FIELDS, zeek_rows(records), bad=bad or "") if records else "")
    return path


def eve_stamp(at: float) -> str:
    """Suricata's timestamp: microseconds and a zone without a colon."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def write_eve(path: Path, records: list[Record], bad: str | None) -> Path:
    lines = []
    for i, r in enumerate(records):
        lines.append(
            json.dumps(
                {
                    "timestamp": eve_stamp(r.at + 30),
                    "flow_id": int(uid(r)[1:14], 16),  # Suricata's: a 52-bit hash here
                    "in_iface": "eth0",
                    "event_type": "flow",
                    "src_ip": r.local,
                    "src_port": r.lport,
                    "dest_ip": r.remote,
                    "dest_port": r.rport,
                    "proto": "TCP",
                    "flow": {
                        "pkts_toserver": 1,
                        "pkts_toclient": 1,
                        "bytes_toserver": r.bytes,
                        "bytes_toclient": 80,
                        "start": eve_stamp(r.at),
                        "end": eve_stamp(r.at + 1),
                        "age": 1,
                        "state": "closed",
                        "reason": "timeout",
                        "alerted": False,
                    },
                }
            )
        )
        if bad is not None and i == 1:
            lines.append(bad)
    path.write_text("".join(line + "\n" for line in lines))
    return path


# -- captures --------------------------------------------------------------------------------


def conns(records: list[Record]) -> list[Conn]:
    return [Conn(r.local, r.remote, r.lport, r.rport, r.at) for r in records]


def frames(records: list[Record], bad: bool) -> list[tuple[float, bytes]]:
    out = [frame for conn in conns(records) for frame in packets(conn)]
    if bad:  # an Ethernet frame cut inside its IPv4 header, between the first records
        out.append((records[1].at + 0.001, out[0][1][:20]))
    return sorted(out, key=lambda f: f[0])


def write_pcap_file(path: Path, records: list[Record], bad: str | None) -> Path:
    return write_pcap(path, frames(records, bad is not None))


def write_pcapng_file(path: Path, records: list[Record], bad: str | None) -> Path:
    return write_pcapng(path, frames(records, bad is not None))


def packet_of(path: Path, number: int) -> bytes | None:
    """Packet ``number`` (1-based) of a pcap or pcapng file, as captured."""
    with path.open("rb") as handle:
        reader = (
            dpkt.pcapng.Reader(handle) if path.suffix == ".pcapng" else dpkt.pcap.Reader(handle)
        )
        for i, (_, data) in enumerate(reader, 1):
            if i == number:
                return bytes(data)
    return None


def tshark_addresses(path: Path, number: int) -> set[str]:
    """The IP addresses tshark reads in packet ``number``: a cross-check of the framing."""
    tshark = require_binary("tshark")
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-Y", f"frame.number == {number}", "-T", "fields",
         "-e", "ip.src", "-e", "ip.dst"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return {a for a in out.split() if a}


# -- nfdump ----------------------------------------------------------------------------------

#: The fields chainwatch asks nfdump for when it reads an nfcapd file: each printed line is
#: the record as read, the evidence of its event.
NFDUMP_FIELDS = "fmt:%ts,%te,%sa,%da,%sp,%dp,%pr,%pkt,%byt"


def nfcapd_files(directory: Path, records: list[Record]) -> list[Path]:
    """nfcapd files as nfpcapd writes them from a capture of ``records``."""
    nfpcapd = require_binary("nfpcapd")
    directory.mkdir(parents=True, exist_ok=True)
    pcap = write_pcap(directory.parent / f"{directory.name}.pcap", frames(records, False))
    done = subprocess.run(
        [nfpcapd, "-r", str(pcap), "-w", str(directory)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pcap.unlink()
    files = sorted(p for p in directory.rglob("nfcapd.*") if ".current." not in p.name)
    assert files, "nfpcapd wrote no files"
    return files


def write_nfcapd(path: Path, records: list[Record], bad: str | None) -> Path:
    [made] = nfcapd_files(path.parent / f"{path.name}.d", records)
    made.rename(path)
    shutil.rmtree(path.parent / f"{path.name}.d")
    if bad is not None:  # damaged as a disk or a copy damages it: the file's end cut off
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 40])
    return path


def nfdump_lines(path: Path, fmt: str) -> list[bytes]:
    nfdump = require_binary("nfdump")
    return subprocess.run(
        [nfdump, "-r", str(path), "-q", "-N", "-o", fmt],
        capture_output=True, env=dict(os.environ, TZ="UTC"), timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip


def write_nfdump_csv(path: Path, records: list[Record], bad: str | None) -> Path:
    """``nfdump -o csv`` of the nfcapd file nfpcapd made from the capture."""
    nfcapd = write_nfcapd(path.parent / f"{path.name}.nfcapd", records, None)
    nfdump = require_binary("nfdump")
    text = subprocess.run(
        [nfdump, "-r", str(nfcapd), "-o", "csv"],
        capture_output=True, env=dict(os.environ, TZ="UTC"), timeout=60, check=True,
    ).stdout  # fmt: skip
    nfcapd.unlink()
    lines = text.splitlines(keepends=True)
    if bad is not None:
        lines.insert(2, bad.encode() + b"\n")
    path.write_bytes(b"".join(lines))
    return path


def nfcapd_record(path: Path, number: int) -> bytes | None:
    lines = nfdump_lines(path, NFDUMP_FIELDS)
    return lines[number - 1] if 0 < number <= len(lines) else None


# -- the table -------------------------------------------------------------------------------

Writer = Callable[[Path, list[Record], "str | None"], Path]


@dataclass(frozen=True)
class Contract:
    """How one source format is written and read back.

    ``write(path, records, bad)`` writes an input of ``records`` (``bad``: with the format's
    broken record after the second one); ``raw(path, n)`` gives record ``n``'s raw bytes as
    ``source_ref`` names it (a line without its ending, a packet, nfdump's line for a record);
    ``bad`` is the broken record the writer puts in (None where the format has no records to
    break one by one: a damaged nfcapd file fails as a whole) and ``is_bad`` recognises its raw
    bytes; ``names(raw, ip)`` says whether a raw record holds an address.
    """

    name: str
    suffix: str
    write: Writer
    raw: Callable[[Path, int], bytes | None]
    option: str = "--flows"
    format: str | None = None
    bad: str | None = None
    is_bad: Callable[[bytes], bool] = lambda raw: False
    names: Callable[[bytes, str], bool] = lambda raw, ip: ip.encode() in raw
    tools: tuple[str, ...] = ()
    #: Several inputs may share one write transaction (nfcapd files read as a group).
    grouped: bool = False

    def input(self, directory: Path, stem: str, records: list[Record], bad: bool = False) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        return self.write(directory / f"{stem}{self.suffix}", records, self.bad if bad else None)

    def scan_args(self, path: Path) -> list[str]:
        return [*(["--format", self.format] if self.format else []), self.option, str(path)]

    def records_of(self, path: Path) -> list[bytes]:
        """Every raw record of ``path``, record 1 first."""
        out = []
        while (raw := self.raw(path, len(out) + 1)) is not None:
            out.append(raw)
        return out

    def bad_number(self, path: Path) -> int:
        """Where the writer put the broken record: its line or packet number."""
        [number] = [n for n, raw in enumerate(self.records_of(path), 1) if self.is_bad(raw)]
        return number


def _line(text: str) -> Callable[[bytes], bool]:
    return lambda raw: raw == text.encode()


def _cut_frame(raw: bytes) -> bool:
    return len(raw) == 20


def _in_frame(raw: bytes, ip: str) -> bool:
    return socket.inet_aton(ip) in raw


CONTRACTS = [
    Contract("csv", ".csv", write_csv, line_of, bad="garbage", is_bad=_line("garbage")),
    Contract("nfdump", ".csv", write_nfdump_csv, line_of, format="nfdump",
             bad="2019-05-06 00:00:00,garbage", is_bad=_line("2019-05-06 00:00:00,garbage"),
             tools=("nfpcapd", "nfdump")),
    Contract("nfcapd", "", write_nfcapd, nfcapd_record, format="nfcapd",
             tools=("nfpcapd", "nfdump"), grouped=True),
    Contract("zeek", ".log", write_zeek_tsv, line_of, bad="too\tfew\tfields",
             is_bad=_line("too\tfew\tfields")),
    Contract("zeek-json", ".log", write_zeek_json, line_of, bad='{"ts": 1557100800.0, "uid": ',
             is_bad=_line('{"ts": 1557100800.0, "uid": ')),
    Contract("eve", ".json", write_eve, line_of, bad="{not json", is_bad=_line("{not json")),
    Contract("pcap", ".pcap", write_pcap_file, packet_of, option="--pcap", bad="cut",
             is_bad=_cut_frame, names=_in_frame, tools=("tshark",)),
    Contract("pcapng", ".pcapng", write_pcapng_file, packet_of, option="--pcap", bad="cut",
             is_bad=_cut_frame, names=_in_frame, tools=("tshark",)),
]  # fmt: skip


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
