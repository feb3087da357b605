"""Reading delimited text a block at a time: blocks of whole lines under the record-length
limit, quoted records carried across blocks, the header line, resuming a grown file or
reading one piece of a large one (``resumed``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, BinaryIO

import numpy as np

from chainwatch.flows import dialect
from chainwatch.flows.inputs import FlowInput, split_lines, unreadable
from chainwatch.flows.limits import Bounded, Limits, Overlong, blocks, read_line
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.convert import convert
from chainwatch.observations import Batch, empty

BLOCK = 4 << 20  # bytes of text per batch: bounds memory whatever the input's size
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark, as Excel writes it


def _line_starting(block: bytes, word: bytes) -> int:
    """Where the first line of ``block`` starting with ``word`` (perhaps quoted, as a
    spreadsheet saves it) starts, or -1. Every place the word occurs is looked at, not only
    the first: a record that mentions it must not hide the line that starts with it (which
    made the answer depend on where blocks began). numpy finds a rare first byte (as "S" is in
    nfdump's CSV) faster than bytes.find reads a block of digits (about 2.5 GB/s)."""
    data = np.frombuffer(block, dtype=np.uint8)
    firsts = np.flatnonzero(data[: max(len(block) - len(word) + 1, 0)] == word[0])
    if len(firsts) > 64:  # a common first byte: the line feed before the word instead
        found = [at for at in (0,) if block.startswith((word, b'"' + word))]
        found += [at + 1 for at in (block.find(b"\n" + word), block.find(b'\n"' + word)) if at >= 0]
        return min(found, default=-1)
    for at in firsts.tolist():
        if block.startswith(word, at):
            begin = at - 1 if at > 0 and block[at - 1 : at] == b'"' else at
            if begin == 0 or block[begin - 1 : begin] == b"\n":
                return begin
    return -1


def delimited(
    handle: IO[bytes],
    name: str,
    layout: Layout,
    *,
    first_line: int,
    stop: tuple[bytes, ...] = (),
) -> Iterator[Batch]:
    """The batches of delimited text (CSV, nfdump's output) from ``handle``, a block at a
    time; a line too long is one bad line (``overlong``); ``stop``: a line starting with
    one of these words ends the data (nfdump's trailing "Summary")."""
    number, rest = first_line, b""
    begin, counted = _tell(handle), 0  # bytes_read so far: a trailer's batch has the rest
    for chunk in blocks(handle, BLOCK, layout.limits.max_record_bytes):
        if isinstance(chunk, Overlong):
            if rest:  # a quoted record left open runs into the long line: it is not closed
                batch, number, rest = quoted_batch(rest, number, layout, final=True)
                yield batch
            counted += chunk.size
            yield overlong(chunk, number, layout.limits)
            number += 1
            continue
        size = len(chunk)
        block = rest + chunk if rest else chunk
        stopped = False
        ends = [at for at in (_line_starting(block, word) for word in stop) if at >= 0]
        if ends:  # nfdump's trailing "Summary" (or "No matching flows") is not data
            block, stopped = block[: min(ends)], True
        if layout.quoting and (rest or b'"' in block):
            final = stopped or not block.endswith(b"\n")
            batch, number, rest = quoted_batch(block, number, layout, final=final)
        else:
            lines, number = split_lines(block, number)
            batch = convert(lines, layout) if len(lines) else empty()
        batch.bytes_read = size
        if stopped:  # the trailer counts as read, to the end, wherever the blocks ended
            if begin is not None:  # a file (not nfdump's pipe): all of it, the trailer too
                while handle.read(BLOCK):
                    pass
                batch.bytes_read = handle.tell() - begin - counted
            yield batch
            return
        counted += size
        yield batch
    if rest:  # a quoted field still open at the end of the input
        yield quoted_batch(rest, number, layout, final=True)[0]


def _tell(handle: IO[bytes]) -> int | None:
    """Where ``handle`` is, or None for a stream that cannot tell (nfdump's output)."""
    seekable = getattr(handle, "seekable", None)
    return handle.tell() if seekable is not None and seekable() else None


def overlong(skipped: Overlong, number: int, limits: Limits) -> Batch:
    """The batch standing for one line too long to read: one bad line."""
    batch = empty()
    batch.bad = 1
    batch.bad_examples = [(number, f"is longer than {limits.max_record_bytes:,} bytes")]
    batch.bytes_read = skipped.size
    return batch


def quoted_batch(
    block: bytes, number: int, layout: Layout, *, final: bool
) -> tuple[Batch, int, bytes]:
    """A batch of a block holding quotes, the next line's number, and the bytes of a record
    the block ends inside."""
    quoted = dialect.split_quoted(
        block, number, layout.sep, final=final, max_record=layout.limits.max_record_bytes
    )
    lines = quoted.lines
    batch = convert(lines, layout, quoted=quoted) if len(lines) else empty()
    return batch, quoted.next_line, quoted.rest


def read_header(handle: BinaryIO, name: str, limits: Limits) -> tuple[bytes, int]:
    """The first non-blank line and the number of lines it took."""
    count = 0
    while True:
        line = read_line(handle, limits.max_record_bytes, name)
        if not line:
            return b"", count
        count += 1
        if line.strip():
            return line.rstrip(b"\r\n").lstrip(BOM), count


@contextmanager
def resumed(handle: IO[bytes], flow_input: FlowInput, first_line: int) -> Iterator[Reading]:
    """The stream to read the data from, and the number of its first line: ``handle`` as it is
    (past the header, the header's next line ``first_line``), or moved to ``flow_input.start``
    when that lies further on. There the start is where an earlier round stopped reading a
    grown file, or a piece's (``chainwatch.flows.ranges``): a piece knows its ``first_line``,
    so a plain file is opened anew at its start rather than read up to it."""
    start = flow_input.start
    if start <= handle.tell():
        yield Reading(handle, first_line)
        return
    raw = getattr(handle, "raw", None)
    plain = not getattr(raw, "gzipped", True) and not getattr(raw, "cr_only", True)
    if flow_input.first_line is None or not plain:
        yield Reading(handle, resume(handle, start, first_line))
        return
    try:
        fresh = flow_input.path.open("rb", buffering=0)
    except OSError as exc:
        raise unreadable(flow_input.name, exc) from None
    with io.BufferedReader(Bounded(fresh, flow_input.stop, flow_input.name), 1 << 16) as piece:
        piece.seek(start)
        yield Reading(piece, flow_input.first_line)


@dataclass(frozen=True)
class Reading:
    """Where a reader's data comes from (``resumed``): the stream and its first line's number."""

    handle: IO[bytes]
    first_line: int


def resume(handle: IO[bytes], start: int, first_line: int) -> int:
    """Skip to byte ``start`` (where an earlier round stopped reading a file that has grown
    since), counting the lines skipped; returns the line number found there."""
    position = handle.tell()
    if start <= position:
        return first_line
    skipped = 0
    while position < start:
        chunk = handle.read(min(BLOCK, start - position))
        if not chunk:
            break
        skipped += chunk.count(b"\n")
        position += len(chunk)
    return first_line + skipped
