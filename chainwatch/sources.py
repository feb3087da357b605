"""Source formats: every input format chainwatch reads, the watcher kind that reads it and the
reader that turns it into observation batches.

``FORMATS`` is the one list: format auto-detection (``flows.detect``) names what it found from
it, ``--help`` and error messages list it, the config validator checks ``format`` against it
and ``tests/test_docs.py`` checks that the README and DESIGN.md mention each format. Readers
are named as ``"module:attr"`` and imported only by ``reader``, so reading the list costs no
pyarrow import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chainwatch.errors import InputError
from chainwatch.registry import load

#: The format meaning "detect it from the file's first bytes" (the default).
AUTO = "auto"


@dataclass(frozen=True)
class SourceFormat:
    """One input format.

    Attributes:
        name: the format's name (``--format``, a watcher's ``format`` key, ``inputs.format``).
        title: what it is called in messages ("nfdump CSV").
        watcher: the watcher kind that reads it (``chainwatch.watchers.REGISTRY``).
        reader: ``"module:attr"`` of the function (or reader class) that reads it.
        choosable: whether ``--format`` and ``format =`` accept it; Zeek's JSON and
            dns/ssl/http logs are told apart from ``zeek`` by their first bytes instead.
    """

    name: str
    title: str
    watcher: str
    reader: str
    choosable: bool = True

    @property
    def description(self) -> str:
        return self.title


_READERS = "chainwatch.flows.readers"
_ZEEK_LOGS = ("dns", "ssl", "http")

FORMATS: dict[str, SourceFormat] = {
    f.name: f
    for f in (
        SourceFormat("nfdump", "nfdump CSV", "flows", f"{_READERS}.csv_readers:read_nfdump_csv"),
        SourceFormat(
            "nfcapd", "nfcapd (read with nfdump)", "flows", f"{_READERS}.nfcapd:read_nfcapd"
        ),
        SourceFormat("zeek", "Zeek conn.log (TSV)", "flows", f"{_READERS}.zeek:read_zeek"),
        SourceFormat(
            "zeek-json",
            "Zeek conn.log (JSON lines)",
            "flows",
            f"{_READERS}.zeek:read_zeek_json",
            choosable=False,
        ),
        *(
            SourceFormat(
                f"zeek-{k}",
                f"Zeek {k}.log (TSV)",
                "flows",
                f"{_READERS}.zeek_join:Join",
                choosable=False,
            )
            for k in _ZEEK_LOGS
        ),
        *(
            SourceFormat(
                f"zeek-{k}-json",
                f"Zeek {k}.log (JSON lines)",
                "flows",
                f"{_READERS}.zeek_join:Join",
                choosable=False,
            )
            for k in _ZEEK_LOGS
        ),
        SourceFormat("csv", "generic CSV", "flows", f"{_READERS}.csv_readers:read_csv"),
        SourceFormat("eve", "Suricata eve.json", "flows", "chainwatch.sensors.eve:EveReader"),
        SourceFormat(
            "pcap",
            "pcap or pcapng capture",
            "pcap",
            "chainwatch.pcap.reader:CaptureReader",
        ),
    )
}


def choices(kind: str = "flows") -> tuple[str, ...]:
    """What ``--format`` and a watcher's ``format =`` accept for a kind: ``auto`` first."""
    return (AUTO, *(f.name for f in FORMATS.values() if f.watcher == kind and f.choosable))


def titles(kind: str = "flows") -> str:
    """``"nfdump CSV, nfcapd (read with nfdump), ..."``: what a kind reads, for messages."""
    return ", ".join(dict.fromkeys(f.title for f in FORMATS.values() if f.watcher == kind))


def reader(fmt: str, name: str = "--format") -> Callable[..., Iterator[Any]]:
    """The reader of a format: a function yielding observation batches, or (eve, pcap, Zeek's
    dns/ssl/http logs) the reader class whose ``batches`` yields them. Imported now.

    An unknown format is an ``InputError`` of ``name`` (the input being read) naming the known
    formats."""
    found = FORMATS.get(fmt)
    if found is None:
        raise InputError(
            name, f"format {fmt!r} is not known", expected=f"one of {', '.join(FORMATS)}"
        )
    target: Callable[..., Iterator[Any]] = load(found.reader)
    return target


def formats_of(kind: str) -> list[str]:
    """The formats a watcher kind reads (``flows``: nfdump, nfcapd, zeek, ...; ``pcap``)."""
    return [f.name for f in FORMATS.values() if f.watcher == kind]
