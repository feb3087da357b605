"""Tor relays from the Tor project's own archives: network-status consensuses and TorDNSEL
exit lists, as CollecTor publishes them, parsed with ``stem``.

``tor-consensus``: every router entry's IPv4 address with its ORPort, with its DirPort when
that is not 0, and its IPv6 ``a`` lines (ORPorts) is valid from the consensus's
``valid-after`` to its ``valid-until``; the windows of one relay, address and port merge into
intervals (``intervals``), so a relay listed in every hourly consensus for a month is one row.
A relay whose windows lapse for longer than the gap (``--gap``) gets a new row when it comes
back. Both flavours are read: the full consensus and the microdescriptor consensus.

``tor-exit-list``: every ``ExitAddress IP TIME`` of a TorDNSEL exit list is an address the
exit was seen using at that time (any destination port), valid ``EXIT_MARGIN`` either side;
windows merge the same way.

Rows are named after the relay in Tor's "long name" form ``$FINGERPRINT~nickname`` (exit
lists carry no nickname: ``$FINGERPRINT``), scoped by the catalog (``tor-2019/$FP~nickname``).

stem parses a document lazily and, without validation, turns a damaged line into missing
values; such an entry is skipped and named with its line, and a document without a readable
``valid-after``/``valid-until`` is an error (it cannot be dated). stem needs a seekable file,
so each document (a few MB) is read into memory, one at a time: a year of hourly consensuses
streams through.
"""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Iterator

import stem.descriptor
from stem.descriptor import DocumentHandler
from stem.descriptor.tordnsel import TorDNSEL

from chainwatch.errors import InputError
from chainwatch.imports.entries import Options, Report, Row, relay_name, seconds_of, stamp
from chainwatch.imports.intervals import Intervals
from chainwatch.imports.sources import SourceMember

CONSENSUS = "network-status-consensus-3 1.0"
MICRODESC = "network-status-microdesc-consensus-3 1.0"
TORDNSEL = "tordnsel 1.0"
#: An exit address observed at time t is taken as the exit's from t - 24 h to t + 24 h:
#: TorDNSEL tests each exit about once a day, and exits keep their addresses for days.
EXIT_MARGIN = 24 * 3600
_EXPECTED = (
    "'@type network-status-consensus-3 1.0' or '@type network-status-microdesc-consensus-3 1.0'"
)


def _line_of(data: bytes, needle: bytes) -> int | None:
    at = data.find(needle)
    if at < 0:
        return None
    at += needle.startswith(b"\n")  # the line of the keyword, not of the line end before it
    return data.count(b"\n", 0, at) + 1


def _other_descriptor(member: SourceMember, first: bytes, report: Report) -> bool:
    """CollecTor's archives mix types (``microdescs-2019-01.tar.xz`` holds the microdesc
    consensuses and the microdescriptors themselves): a document annotated as another Tor
    descriptor type is skipped, and said so."""
    if not first.startswith(b"@type "):
        return False
    shown = first[6:66].decode("utf-8", "replace")
    report.skip(f"{member.name}:1", f"a {shown} document, not what this format reads: skipped")
    return True


def _consensus_type(member: SourceMember, data: bytes, report: Report) -> str | None:
    first = data.split(b"\n", 1)[0].strip()
    if first.startswith(b"@type network-status-consensus-3 "):
        return CONSENSUS
    if first.startswith(b"@type network-status-microdesc-consensus-3 "):
        return MICRODESC
    if first == b"network-status-version 3":  # tor's own cached-consensus, no annotation
        return CONSENSUS
    if first == b"network-status-version 3 microdesc":
        return MICRODESC
    if _other_descriptor(member, first, report):
        return None
    shown = first[:60].decode("utf-8", "replace")
    raise InputError(
        member.name, f"not a Tor consensus (first line {shown!r})", line=1, expected=_EXPECTED
    )


class _Addresses:
    """Canonical address text, remembered: the same few thousand addresses come back in every
    hourly document, and ``ipaddress`` is the slow part of reading them."""

    def __init__(self) -> None:
        self.known: dict[str, str | None] = {}

    def __call__(self, text: str) -> str | None:
        try:
            return self.known[text]
        except KeyError:
            pass
        try:
            canonical: str | None = str(ipaddress.ip_address(text))
        except ValueError:
            canonical = None
        if len(self.known) < 1_000_000:
            self.known[text] = canonical
        return canonical


def _window(member: SourceMember, data: bytes, document: object) -> tuple[int, int]:
    valid_after = getattr(document, "valid_after", None)
    valid_until = getattr(document, "valid_until", None)
    for keyword, value in (("valid-after", valid_after), ("valid-until", valid_until)):
        if value is None:
            raise InputError(
                member.name,
                f"no readable {keyword} line",
                line=_line_of(data, b"\n" + keyword.encode() + b" "),
                expected=f"{keyword} YYYY-MM-DD HH:MM:SS",
            )
    start, end = seconds_of(valid_after), seconds_of(valid_until)  # type: ignore[arg-type]
    if end < start:
        raise InputError(
            member.name,
            "valid-until is before valid-after",
            line=_line_of(data, b"\nvalid-until "),
        )
    return start, end


def consensus_rows(
    members: Iterator[SourceMember], options: Options, report: Report
) -> Iterator[Row]:
    """Rows of ``tor-consensus`` (see the module docstring)."""
    intervals: Intervals[tuple[str, str, int]] = Intervals(options.gap)
    canonical = _Addresses()
    for member in report.members(members):
        data = member.data.read()
        kind = _consensus_type(member, data, report)
        if kind is None:
            continue
        tag = len(report.sources) - 1
        document: object = None
        window = (0, 0)
        entries = stem.descriptor.parse_file(
            io.BytesIO(data), kind, validate=False, document_handler=DocumentHandler.ENTRIES
        )
        try:
            for entry in entries:
                if entry.document is not document:
                    document = entry.document
                    window = _window(member, data, document)
                address = canonical(entry.address) if entry.address else None
                if address is None or entry.or_port is None or entry.fingerprint is None:
                    _skip_entry(report, member, data, entry.get_bytes(), "damaged 'r' line")
                    continue
                name = relay_name(options.name, entry.fingerprint, entry.nickname)
                report.names.add(name)
                report.addresses.add(address)
                intervals.add((name, address, entry.or_port), *window, tag)
                if entry.dir_port:
                    intervals.add((name, address, entry.dir_port), *window, tag)
                raw = entry.get_bytes()
                if b"\na " not in raw:
                    continue
                good = []
                for text, port, _ in entry.or_addresses:
                    extra = canonical(text)
                    if extra is not None:
                        good.append((text, port))
                        report.addresses.add(extra)
                        intervals.add((name, extra, port), *window, tag)
                if raw.count(b"\na ") != len(good):
                    _skip_a_lines(report, member, data, raw, good)
        except (ValueError, TypeError) as exc:  # stem gave up on the document as a whole
            raise InputError(member.name, f"not a readable consensus: {exc}") from None
    yield from _rows(intervals, options, report)


def _skip_entry(report: Report, member: SourceMember, data: bytes, raw: bytes, why: str) -> None:
    line = _line_of(data, raw.split(b"\n", 1)[0])
    report.skip(f"{member.name}:{line}" if line else member.name, why)


def _skip_a_lines(
    report: Report, member: SourceMember, data: bytes, raw: bytes, good: list[tuple[str, int]]
) -> None:
    """Name the ``a`` lines of an entry that stem dropped or that hold no IP address."""
    first = _line_of(data, raw.split(b"\n", 1)[0])
    read = {f"[{a}]:{p}" for a, p in good} | {f"{a}:{p}" for a, p in good}
    for offset, line in enumerate(raw.split(b"\n")):
        text = line[2:].decode("utf-8", "replace").strip()
        if line.startswith(b"a ") and text not in read:
            where = f"{member.name}:{first + offset}" if first else member.name
            report.skip(where, f"damaged 'a' line {text!r}; expected [IPv6]:PORT or IPv4:PORT")


def exit_list_rows(
    members: Iterator[SourceMember], options: Options, report: Report
) -> Iterator[Row]:
    """Rows of ``tor-exit-list`` (see the module docstring)."""
    intervals: Intervals[tuple[str, str, int]] = Intervals(options.gap)
    canonical = _Addresses()
    for member in report.members(members):
        data = member.data.read()
        first = data.split(b"\n", 1)[0].strip()
        if not first.startswith(b"@type tordnsel ") and _other_descriptor(member, first, report):
            continue
        if not (first.startswith(b"@type tordnsel ") or first.startswith(b"ExitNode ")):
            raise InputError(
                member.name,
                f"not a TorDNSEL exit list (first line {first[:60].decode('utf-8', 'replace')!r})",
                line=1,
                expected="'@type tordnsel 1.0' (CollecTor's exit lists)",
            )
        tag = len(report.sources) - 1
        try:
            for exit_node in stem.descriptor.parse_file(io.BytesIO(data), TORDNSEL):
                _exit_node(exit_node, member, data, intervals, canonical, report, tag, options.name)
        except ValueError as exc:  # an ExitAddress line without a time ends stem's reading
            raise InputError(member.name, f"not a readable exit list: {exc}") from None
    yield from _rows(intervals, options, report, port=False)


def _exit_node(
    node: TorDNSEL,
    member: SourceMember,
    data: bytes,
    intervals: Intervals[tuple[str, str, int]],
    canonical: _Addresses,
    report: Report,
    tag: int,
    catalog: str,
) -> None:
    raw = node.get_bytes()
    line = _line_of(data, raw.split(b"\n", 1)[0])
    where = f"{member.name}:{line}" if line else member.name
    fingerprint = node.fingerprint or ""
    if len(fingerprint) != 40 or not all(c in "0123456789ABCDEFabcdef" for c in fingerprint):
        report.skip(where, f"bad ExitNode fingerprint {fingerprint!r}")
        return
    name = relay_name(catalog, fingerprint)
    if raw.count(b"\nExitAddress ") + raw.startswith(b"ExitAddress ") != len(node.exit_addresses):
        try:  # stem's validating parse says what is wrong with the entry
            TorDNSEL(raw, validate=True)
            why = "damaged ExitAddress line"
        except ValueError as exc:
            why = str(exc)
        report.skip(where, why)
    for text, when in node.exit_addresses:
        address = canonical(text)
        if address is None:
            report.skip(where, f"bad ExitAddress {text!r}")
            continue
        report.names.add(name)
        report.addresses.add(address)
        seen = seconds_of(when)
        intervals.add((name, address, 0), seen - EXIT_MARGIN, seen + EXIT_MARGIN, tag)


def _rows(
    intervals: Intervals[tuple[str, str, int]],
    options: Options,
    report: Report,
    *,
    port: bool = True,
) -> Iterator[Row]:
    """The merged intervals as rows, clipped to ``--valid-from``/``--valid-to``."""
    lo, hi = options.start, options.end
    coin = options.coin or ""
    for (name, address, number), start, end, tag in intervals.items():
        if lo is not None:
            start = max(start, lo)
        if hi is not None:
            end = min(end, hi)
        if start > end:
            continue
        yield (
            name,
            options.category,
            coin,
            address,
            "",
            str(number) if port else "",
            stamp(start),
            stamp(end),
            report.sources[tag].name,
        )
