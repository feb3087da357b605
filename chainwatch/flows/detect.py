"""Telling flow formats apart by their first bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from chainwatch.errors import InputError
from chainwatch.flows.dialect import split_record
from chainwatch.flows.inputs import FlowInput, head
from chainwatch.flows.readers.zeek_logs import kind_of_fields, log_kind
from chainwatch.sources import FORMATS

#: nfcapd files start with the little-endian magic 0xA50C.
NFCAPD_MAGIC = b"\x0c\xa5"
_NFDUMP_HEADER = ["ts", "te", "td", "sa", "da", "sp", "dp", "pr"]
_NFDUMP_ROW = re.compile(rb'^\s*"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?"?,')
#: Each flow format's title (``chainwatch.sources.FORMATS``), for "detected ..." messages.
NAMES = {name: f.title for name, f in FORMATS.items() if f.watcher == "flows"}


def detect(head: bytes) -> str | None:
    """The flow format (a name of ``chainwatch.sources.FORMATS``) of a file's first bytes, or
    None when unknown."""
    if head.startswith(NFCAPD_MAGIC):
        return "nfcapd"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    ending = b"\n" if b"\n" in text or b"\r" not in text else b"\r"  # CR alone: old Mac
    first = text.split(ending, 1)[0].rstrip(b"\r")
    if first.startswith((b"#separator", b"#fields", b"#path")):
        kind = log_kind(text)
        return "zeek" if kind in (None, "conn") else f"zeek-{kind}"
    if first.startswith(b"{"):
        try:
            record = json.loads(first)
        except ValueError:
            # An EVE line longer than the head read (an alert with its payload): by its keys.
            cut = ending not in text
            return "eve" if cut and b'"event_type"' in first and b'"timestamp"' in first else None
        if not isinstance(record, dict):
            return None
        # Suricata's EVE: every event names its type and time
        if {"event_type", "timestamp"} <= set(record):
            return "eve"
        kind = kind_of_fields(set(record))
        if kind is None:
            return None
        return "zeek-json" if kind == "conn" else f"zeek-{kind}-json"
    names = [
        c.decode("utf-8", "replace").strip().strip('"').lower() for c in split_record(first, b",")
    ]
    if names[: len(_NFDUMP_HEADER)] == _NFDUMP_HEADER or _NFDUMP_ROW.match(first):
        return "nfdump"
    if {"src_ip", "dst_ip"} <= set(names):  # CSV as spreadsheets write it may quote them
        return "csv"
    return None


#: The file layouts nfdump reads (LAYOUT_VERSION_1 and _2 of its nffileV2.h).
NFCAPD_LAYOUTS = (1, 2)


def readable_nfcapd(first: bytes) -> bool:
    """Whether a file's first 4 bytes open an nfcapd file of a layout nfdump reads."""
    return first[:2] == NFCAPD_MAGIC and int.from_bytes(first[2:4], "little") in NFCAPD_LAYOUTS


def check_nfcapd(flow_input: FlowInput) -> None:
    """Refuse, before nfdump runs, a file given as nfcapd that is not one: nfdump only
    complains on stderr and exits 0, which would record the input as read with nothing in it
    (and a corrected rescan would then skip it)."""
    first = head(flow_input, 4)
    if readable_nfcapd(first):
        return
    found = detect(head(flow_input))
    looks = (
        f"it looks like {FORMATS[found].title}"
        if found and found != "nfcapd"
        else f"its header is {first.hex()}, not the nfcapd magic 0ca5 and layout 1 or 2"
    )
    raise InputError(
        flow_input.name,
        f"is not an nfcapd file ({looks})",
        expected="a file written by nfcapd or nfpcapd, or the right --format",
    )


def format_of(configured: str, flow_input: FlowInput, note: Callable[[str], None]) -> str:
    """An input's format: the ``configured`` one (a family, ``zeek``, made exact by the
    first bytes), or with ``auto`` the one its first bytes show (said through ``note``)."""
    if configured == "auto":
        found = detect(head(flow_input))
        if found is None:
            raise InputError(
                flow_input.name,
                "is not a flow format chainwatch knows",
                line=1,
                expected="nfcapd, nfdump CSV, a Zeek conn/dns/ssl/http log, Suricata eve.json "
                "or CSV with a header (or give --format)",
            )
        if found == "nfcapd":
            check_nfcapd(flow_input)
        note(f"{flow_input.name}: detected {NAMES[found]}")
        return found
    if configured == "zeek":
        found = detect(head(flow_input))
        return found if found is not None and found.startswith("zeek") else "zeek"
    if configured == "nfcapd":
        check_nfcapd(flow_input)
    return configured
