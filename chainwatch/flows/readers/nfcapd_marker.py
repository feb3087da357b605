"""The marker nfcapd file that tells one file's records from the next in one nfdump's output.

nfdump 1.7 prints no file boundary when one process reads several files (``-R``), and a
process per five-minute file costs more than nfdump's own reading. So a group of nfcapd files
is read by one nfdump with this one-record file placed after each of them and the watch
filter widened to always print its record: the marker's line ends a file's output.

The record is an IPv4 packet of protocol 255 (IANA: reserved) from 192.0.2.0 to 192.0.2.255
(the network and broadcast addresses of TEST-NET-1, RFC 5737) at 2000-01-01 00:00:00 UTC
(a time chainwatch accepts, so that the line parses as a record, to be cut out): nothing
real. Should a real record still print the same line, its group counts one marker too many
and is read file by file instead, so no record is lost or misattributed.

The file is written by the real nfpcapd from a one-packet pcap, so that its layout is the
installed nfdump's own; once per process (a few tenths of a second), removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

#: The nfdump filter matching the marker's record and (in practice) nothing else.
MARKER_FILTER = "proto 255 and src ip 192.0.2.0 and dst ip 192.0.2.255"
_AT = 946684800  # 2000-01-01 00:00:00 UTC


@dataclass(frozen=True)
class Marker:
    """The marker file and its line in nfdump's output (``fmt``, UTC, newline included)."""

    path: Path
    line: bytes


_lock = threading.Lock()
_made: dict[str, Marker | None] = {}  # per output format; None: could not be made


def marker(fmt: str) -> Marker | None:
    """The marker file, made on first use; None when nfpcapd is missing or did not make one
    that nfdump prints as one line (groups are then read file by file)."""
    with _lock:
        if fmt not in _made:
            _made[fmt] = _make(fmt)
        return _made[fmt]


def _pcap(path: Path) -> None:
    """A pcap holding the marker's one packet: Ethernet, IPv4, protocol 255, no payload."""
    frame = bytearray(14 + 20)
    frame[12:14] = b"\x08\x00"
    src, dst = 0xC0000200, 0xC00002FF  # 192.0.2.0, 192.0.2.255
    struct.pack_into("!BBHHHBBHII", frame, 14, 0x45, 0, 20, 0, 0, 64, 255, 0, src, dst)
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out.write(struct.pack("<IIII", _AT, 0, len(frame), len(frame)))
        out.write(frame)


def _make(fmt: str) -> Marker | None:
    nfpcapd, nfdump = shutil.which("nfpcapd"), shutil.which("nfdump")
    if nfpcapd is None or nfdump is None:
        return None
    where = Path(tempfile.mkdtemp(prefix="chainwatch-marker-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    _pcap(where / "marker.pcap")
    (where / "out").mkdir()
    env = dict(os.environ, TZ="UTC")
    try:
        subprocess.run(
            [nfpcapd, "-r", str(where / "marker.pcap"), "-w", str(where / "out")],
            capture_output=True,
            timeout=30,
            check=True,
        )
        (path,) = (where / "out").rglob("nfcapd.*")
        printed = subprocess.run(
            [nfdump, "-r", str(path), "-q", "-N", "-o", fmt, MARKER_FILTER],
            capture_output=True,
            timeout=30,
            check=True,
            env=env,
        ).stdout
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if printed.count(b"\n") != 1 or not printed.endswith(b"\n"):
        return None
    return Marker(path, printed)
