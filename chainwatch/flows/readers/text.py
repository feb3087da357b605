"""Reading delimited text a block at a time: blocks of whole lines under the record-length
limit, quoted records carried across blocks, the header line, resuming a grown file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, BinaryIO

import numpy as np

from chainwatch.flows import dialect
from chainwatch.flows.inputs import split_lines
from chainwatch.flows.limits import Limits, Overlong, blocks, read_line
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.convert import convert
from chainwatch.observations import Batch, empty

BLOCK = 4 << 20  # bytes of text per batch: bounds memory whatever the input's size
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark, as Excel writes it


def _find(block: bytes, word: bytes) -> int:
    """``block.find(word)``, quicker where the word's first byte is rare (as "S" is in nfdump's
    CSV): bytes.find reads a block of digits at about 2.5 GB/s, numpy finds a byte faster."""
    data = np.frombuffer(block, dtype=np.uint8)
    firsts = np.flatnonzero(data[: max(len(block) - len(word) + 1, 0)] == word[0])
    if len(firsts) > 64:
        return block.find(word)
    return next((int(at) for at in firsts.tolist() if block.startswith(word, at)), -1)


def _line_starting(block: bytes, word: bytes) -> int:
    """Where the first line of ``block`` starting with ``word`` (perhaps quoted, as a
    spreadsheet saves it) starts, or -1."""
    at = _find(block, word)
    if at > 0 and block[at - 1 : at] == b'"':
        at -= 1
    return at if at >= 0 and (at == 0 or block[at - 1 : at] == b"\n") else -1


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
    for chunk in blocks(handle, BLOCK, layout.limits.max_record_bytes):
        if isinstance(chunk, Overlong):
            if rest:  # a quoted record left open runs into the long line: it is not closed
                batch, number, rest = quoted_batch(rest, number, layout, final=True)
                yield batch
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
        yield batch
        if stopped:
            return
    if rest:  # a quoted field still open at the end of the input
        yield quoted_batch(rest, number, layout, final=True)[0]


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
