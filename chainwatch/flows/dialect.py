"""The CSV dialect of the generic and nfdump CSV readers: RFC 4180 records and fields.

A field is plain, or quoted: it starts with ``"`` and ends at the next ``"`` that is not
doubled, and may hold separators, line breaks and doubled quotes (``""``: one quote). As
Python's csv module reads (not strict), bytes after a closing quote up to the separator belong
to the field, and a quote inside a plain field is just a quote. A record ends at a line feed
outside quotes, without its trailing carriage returns (CRLF); it is numbered by the line it
starts on, and its evidence is its bytes as read, quotes and line breaks included. A quoted
field not closed within ``MAX_RECORD`` bytes of its record's start, or by the end of the
input, makes that record's first line bad (``UNCLOSED``) and reading goes on at the next
line: a stray quote costs one line, never the rest of the file.

Most lines are regular: every quote in them opens a field (at its start), closes one (before
a separator or the line's end) or is doubled, and they hold an even number of them. Such a
line is one record, and its fields are found with numpy as in unquoted text (``Quoted.seps``:
the separators outside quotes). The other lines (a field over several lines, a stray quote)
are walked in Python a record at a time; their records take the exact converters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainwatch.flows.inputs import Lines

QUOTE = ord('"')
#: Bytes a record starting with an irregular line may span before its quote counts as unclosed.
MAX_RECORD = 1 << 20
UNCLOSED = "has a quoted field that is not closed"
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.strip() removes


@dataclass
class Quoted:
    """The records of a block holding quotes. ``lines``: the data records, as ``split_lines``
    gives lines; ``seps``: where the separators outside quotes are in the block; ``plain``:
    the records whose fields these separators give (regular, without doubled quotes: each
    field is plain or just wrapped in quotes); ``unclosed``: bad records (see above);
    ``rest``: the bytes of a record the block ends inside (read again with the next block);
    ``next_line``: the number of the line after what was used."""

    lines: Lines
    seps: np.ndarray
    plain: np.ndarray
    unclosed: np.ndarray
    rest: bytes
    next_line: int


def record_end(
    block: bytes, start: int, sep: bytes, *, final: bool, max_record: int | None = None
) -> int | None:
    """Where the record starting at ``start`` ends (its line feed, or the end of a ``final``
    block); -1 when a quoted field in it is not closed (within ``max_record`` bytes, by
    default ``MAX_RECORD``); None when the block ends first."""
    limit = MAX_RECORD if max_record is None else max_record
    n, i, field_start = len(block), start, True
    newline = block.find(b"\n", start)
    while True:
        if field_start and block[i : i + 1] == b'"':
            j = i + 1
            while True:
                k = block.find(b'"', j)
                if k < 0 or k + 1 - start > limit:
                    return -1 if final or n - start > limit else None
                if block[k + 1 : k + 2] != b'"':
                    break
                j = k + 2
            i, field_start = k + 1, False
            if newline < i:
                newline = block.find(b"\n", i)
            continue
        end = n if newline < 0 else newline  # no line feed: only the input's last line
        if end - start > limit:
            return -1
        at = block.find(sep, i, end)
        if at < 0:
            return end
        i, field_start = at + 1, True


def split_record(record: bytes, sep: bytes) -> list[bytes]:
    """The fields of one record, quotes removed and doubled quotes made single."""
    fields: list[bytes] = []
    i, n = 0, len(record)
    while True:
        if record[i : i + 1] == b'"':
            parts, j = [], i + 1
            while True:
                k = record.find(b'"', j)
                if k < 0:  # not closed: the rest is the field
                    parts.append(record[j:])
                    i = n
                    break
                parts.append(record[j:k])
                if record[k + 1 : k + 2] != b'"':
                    i = k + 1
                    break
                parts.append(b'"')
                j = k + 2
            at = record.find(sep, i)
            fields.append(b"".join(parts) + record[i : n if at < 0 else at])
        else:
            at = record.find(sep, i)
            fields.append(record[i : n if at < 0 else at])
        if at < 0:
            return fields
        i = at + 1


def _trim_cr(data: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    end = end.copy()
    rows = np.flatnonzero(end > start)
    while len(rows):
        rows = rows[data[end[rows] - 1] == 13]
        end[rows] -= 1
        rows = rows[end[rows] > start[rows]]
    return end


@dataclass
class _Marks:
    """The quotes, line feeds and separators of a block, found in one pass: positions, the
    line of each quote and separator, the quotes before each separator and before each line
    (``line_quotes``, one more entry than lines: the last is every quote)."""

    quotes: np.ndarray
    newlines: np.ndarray
    seps: np.ndarray
    quote_line: np.ndarray
    sep_line: np.ndarray
    sep_quotes: np.ndarray
    line_quotes: np.ndarray


def _marks(data: np.ndarray, sep: int) -> _Marks:
    mask = data == QUOTE
    mask |= data == 10
    mask |= data == sep
    events = np.flatnonzero(mask)
    kind = data[events]
    is_quote, is_newline, is_sep = kind == QUOTE, kind == 10, kind == sep
    # running counts over the marks alone (a few per field), not over every byte
    lines_before = np.cumsum(is_newline) - is_newline
    quotes_before = np.cumsum(is_quote) - is_quote
    return _Marks(
        quotes=events[is_quote],
        newlines=events[is_newline],
        seps=events[is_sep],
        quote_line=lines_before[is_quote],
        sep_line=lines_before[is_sep],
        sep_quotes=quotes_before[is_sep],
        line_quotes=np.concatenate(([0], quotes_before[is_newline], [int(is_quote.sum())])),
    )


def _regular(
    data: np.ndarray, marks: _Marks, start: np.ndarray, end: np.ndarray, sep: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lines (``start``/``end``, the end without CRs) whose quotes each open a field, close
    one or are doubled, and are even in number; and the lines holding a doubled quote."""
    quotes, line, n = marks.quotes, marks.quote_line, len(start)
    count = np.diff(marks.line_quotes)[:n]
    rank = np.arange(len(quotes)) - marks.line_quotes[line]
    before = np.concatenate(([-2], quotes[:-1]))
    after = np.concatenate((quotes[1:], [-2]))
    prev = data[np.maximum(quotes - 1, 0)]
    nxt = data[np.minimum(quotes + 1, len(data) - 1)]
    opens = (quotes == start[line]) | (prev == sep) | (before == quotes - 1)
    closes = (quotes + 1 == end[line]) | ((quotes + 1 < end[line]) & (nxt == sep))
    closes |= after == quotes + 1
    odd = (rank & 1).astype(bool)
    wrong = np.where(odd, ~closes, ~opens)
    regular = count % 2 == 0
    regular[line[wrong]] = False
    doubled = np.zeros(n, dtype=bool)
    doubled[line[odd & (after == quotes + 1)]] = True  # a close then an open: ""
    return regular, doubled


def split_quoted(
    block: bytes, first_line: int, sep: str, *, final: bool, max_record: int | None = None
) -> Quoted:
    """The records of ``block`` (whose first line is ``first_line``). Unless ``final``, a
    record the block ends inside is left in ``rest``. ``max_record``: see ``record_end``."""
    data = np.frombuffer(block, dtype=np.uint8)
    sep_byte = sep.encode()
    marks = _marks(data, sep_byte[0])
    newlines = marks.newlines
    count = len(newlines) + (1 if block and block[-1:] != b"\n" else 0)
    start = np.concatenate(([0], newlines[: count - 1] + 1)).astype(np.int64)[:count]
    end = _trim_cr(data, start, np.append(newlines, len(block))[:count].astype(np.int64))
    regular, doubled = _regular(data, marks, start, end, sep_byte[0])
    used = np.ones(count, dtype=bool)  # lines that start a record (not inside another)
    walked = np.zeros(count, dtype=bool)
    unclosed = np.zeros(count, dtype=bool)
    cut, rest = count, b""
    done = 0
    for row in np.flatnonzero(~regular).tolist():
        if row < done:
            continue
        found = record_end(block, int(start[row]), sep_byte, final=final, max_record=max_record)
        if found is None:  # the block ends inside this record: read it with the next
            cut, rest = row, block[start[row] :]
            break
        walked[row] = True
        if found < 0:
            unclosed[row] = True
            done = row + 1
            continue
        last = row if found >= len(block) else int(np.searchsorted(newlines, found))
        used[row + 1 : last + 1] = False
        end[row] = _trim_cr(data, start[last : last + 1], np.array([found]))[0]
        done = last + 1
    rows = np.flatnonzero(used[:cut])
    starts, ends = start[rows], end[rows]
    keep = ends > starts
    for at in np.flatnonzero(keep & _SPACE[data[np.minimum(starts, len(data) - 1)]]).tolist():
        keep[at] = bool(block[starts[at] : ends[at]].strip())  # rare: maybe only white space
    limit = int(start[cut]) if cut < count else len(block)
    nul = np.zeros(len(rows), dtype=bool)
    if b"\x00" in block:
        zeros = np.flatnonzero(data[:limit] == 0)
        nul[np.searchsorted(starts, zeros, side="right") - 1] = True
    high = np.zeros(len(rows), dtype=bool)
    if len(rows) and not block[:limit].isascii():
        high = np.maximum.reduceat(data[:limit], starts) >= 0x80
    take = rows[keep]
    lines = Lines(block, data, starts[keep], ends[keep], take + first_line, nul[keep], high[keep])
    used[cut:] = False
    line = marks.sep_line
    inside = (marks.sep_quotes - marks.line_quotes[line]) & 1
    seps = marks.seps[(inside == 0) & regular[line] & used[line]]
    plain = ~walked & ~doubled
    return Quoted(lines, seps, plain[take], unclosed[take], rest, first_line + cut)
