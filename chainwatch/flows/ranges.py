"""Cutting one large text input into pieces at line boundaries, so that several workers can
read it at once (issue 19's Dask cluster).

A piece is a ``FlowInput`` of the same file, hash and name with ``start``, ``end`` and
``first_line`` set: its reader takes the header from the file's start (as a resumed read
does), reads only its own bytes, and numbers its lines from ``first_line``. The batches of
all pieces, in order, hold what the batches of the whole input read at once hold: the same
rows, line numbers, raw records, bad lines and byte counts.

``split`` finds the cut points and counts the lines before each in one pass over the bytes,
1 MiB at a time with ``bytes.count`` and ``bytes.find`` (no Python per line): it runs on a
worker, which then hands the pieces out. An input is one piece when cutting it could change
what is read: compressed (gzip has no byte offsets to seek to), not text (nfcapd), a format
whose records are not single lines (EVE is kept whole: its reader pairs lines), standard
input, lines ended by CR alone (read as if each CR were a line feed), a CSV with a double
quote in its data, a Zeek log whose header comes again further on (a later piece would not
know the layout it sets), or too small to be worth it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import BinaryIO

from chainwatch.errors import InputError
from chainwatch.flows.inputs import FlowInput, unreadable
from chainwatch.flows.limits import GZIP_MAGIC

#: The formats whose records are single lines after a header at the file's start.
SPLITTABLE = frozenset({"csv", "nfdump", "zeek", "zeek-json"})
_BLOCK = 1 << 20  # bytes counted at once
_HEAD = 1 << 20  # where the header must lie
_SNIFF = 1 << 16  # as ``limits``: the bytes that tell a file whose lines end in CR alone
#: Lines that end nfdump's data ("Summary" block, or "No matching flows"): no cut after one,
#: so that the piece holding it reads to the end and skips the trailer as the whole read does.
_NFDUMP_STOP = (b"Summary", b"No matching flows")
#: Zeek header lines that set the layout of the lines after them.
_ZEEK_LAYOUT = (b"#separator", b"#fields")
_CARRY = 1 + max(len(word) for word in (*_NFDUMP_STOP, *_ZEEK_LAYOUT))


def split(flow_input: FlowInput, fmt: str, *, target: int) -> list[FlowInput]:
    """The pieces of ``flow_input`` (format ``fmt``, a name of ``chainwatch.sources.FORMATS``),
    each about ``target`` bytes or more, cut just after a line feed, covering its bytes from
    ``start`` to ``end`` (else ``size``) exactly, each with ``first_line`` set; the input alone
    when it cannot be cut (see the module docstring)."""
    end = flow_input.stop
    if fmt not in SPLITTABLE or flow_input.name == "-" or end - flow_input.start < 2 * target:
        return [flow_input]
    try:
        with flow_input.path.open("rb") as handle:
            cuts = _cuts(handle, flow_input, fmt, max(target, 1), end)
    except OSError as exc:
        raise unreadable(flow_input.name, exc) from None
    if cuts is None or len(cuts) < 2:
        return [flow_input]
    bounds = [*cuts, (end, 0)]
    return [
        FlowInput(
            path=flow_input.path,
            name=flow_input.name,
            size=flow_input.size,
            sha256=flow_input.sha256,
            start=begin,
            end=stop,
            first_line=line,
        )
        for (begin, line), (stop, _) in pairwise(bounds)
    ]


def _header_end(head: bytes, fmt: str) -> int | None:
    """Where the data starts: after the header lines every piece's reader takes from the
    file's start (a CSV's first non-blank line, nfdump's when it names ``ts`` first, a Zeek
    log's lines up to ``#fields``); None when the head does not hold them."""
    if fmt == "zeek-json":
        return 0
    at = 0
    while True:
        stop = head.find(b"\n", at)
        if stop < 0:
            return None
        line, at = head[at:stop], stop + 1
        if fmt == "zeek" and line.startswith(b"#fields"):
            return at
        if fmt == "csv" and line.strip():
            return at
        if fmt == "nfdump" and line.strip():
            first = line.lstrip(b"\xef\xbb\xbf").split(b",", 1)[0].strip().strip(b'"')
            return at if first.lower() == b"ts" else 0  # no header: data from the first line


def _cuts(
    handle: BinaryIO, flow_input: FlowInput, fmt: str, target: int, end: int
) -> list[tuple[int, int]] | None:
    """Each piece's start and first line number, or None when the input cannot be cut."""
    head = handle.read(min(_HEAD, end))
    sniff = head[:_SNIFF]
    if head[:2] == GZIP_MAGIC or (b"\n" not in sniff and b"\r" in sniff):
        return None
    header_end = _header_end(head, fmt)
    if header_end is None:
        return None
    start = flow_input.start
    if flow_input.first_line is not None:
        first = flow_input.first_line
    else:  # the lines before a resumed input's start: counted in the same pass
        handle.seek(0)
        first = 1 + _count(handle, start, flow_input.name)
    handle.seek(start)
    checked = max(start, header_end)  # the data: the header's quotes or lines do not count
    cuts = [(start, first)]
    position, newlines = start, first - 1  # line feeds before ``position``
    want = max(header_end, start + target) - 1  # the next cut follows the first LF from here
    last = end  # no cut after the line that ends nfdump's data (its trailer)
    carry = b""  # the bytes before the block: a word may start there, its line after an LF
    while position < end:
        block = handle.read(min(_BLOCK, end - position))
        if not block:
            raise _shrank(flow_input.name, position, end)
        text, offset = carry + block, position - len(carry)
        if fmt in ("csv", "nfdump") and block.find(b'"', max(checked - position, 0)) >= 0:
            # RFC 4180: a quoted field may hold line feeds, so a line feed need not end a
            # record, and only a read from the start knows which do.
            return None
        # A line that starts with a word may begin in the bytes carried over (the word cut
        # by the block's end): from there, but never in the header.
        frm = max(checked - offset, 1 if carry else 0)
        if fmt == "zeek" and any(_line_start(text, w, frm) >= 0 for w in _ZEEK_LAYOUT):
            return None
        if fmt == "nfdump" and last == end:
            found = [at for at in (_line_start(text, w, frm) for w in _NFDUMP_STOP) if at >= 0]
            last = offset + min(found) if found else end
        at = 0
        while want < min(position + len(block), last):
            lf = block.find(b"\n", max(want - position, 0))
            if lf < 0:
                break
            newlines += block.count(b"\n", at, lf)
            at, cut = lf, position + lf + 1
            if end - cut < target or cut > last:  # the rest joins this piece
                want = end
                break
            cuts.append((cut, newlines + 2))  # after this line feed: the line after it
            want = cut + target - 1
        newlines += block.count(b"\n", at)
        carry = block[-_CARRY:]
        position += len(block)
    return cuts


def _count(handle: BinaryIO, stop: int, name: str) -> int:
    """The line feeds before byte ``stop``."""
    count, position = 0, 0
    while position < stop:
        block = handle.read(min(_BLOCK, stop - position))
        if not block:
            raise _shrank(name, position, stop)
        count += block.count(b"\n")
        position += len(block)
    return count


def _line_start(text: bytes, word: bytes, frm: int) -> int:
    """Where the first line of ``text`` at or after ``frm`` that starts with ``word`` starts
    (``text`` starts a line, or is the byte before one), or -1."""
    if frm == 0 and text.startswith(word):
        return 0
    at = text.find(b"\n" + word, max(frm - 1, 0))
    return at + 1 if at >= 0 else -1


def _shrank(name: str, position: int, end: int) -> InputError:
    return InputError(
        name,
        f"shrank while it was read (it ends at byte {position:,}, {end:,} were hashed)",
        expected="a file that only grows while it is read; scan again",
    )
