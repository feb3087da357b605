"""Reading a big CSV file (a catalog of a million rows) into dictionary-coded columns.

Each column comes back as the codes of its rows and its distinct values, so the loader checks
and converts each distinct value once (a million rows repeat a few categories, ports and
dates). Two readers give the same result:

- pyarrow's CSV reader, when the file is plain: no blank lines and no line breaks inside
  quoted fields, so that row i starts on line ``first + i``. Measured on the 1,000,000-row
  catalog of ``benchmarks/catalog.py`` (9 columns, 63 MiB): 0.6 s to parse and 0.6 s to
  dictionary-encode, against about 5 s for the ``csv`` module's rows alone.
- the ``csv`` module otherwise (RFC 4180 as ``csvlist.py`` reads it: quoted line breaks,
  blank lines skipped, and a broken row named by the line it starts on). Any file pyarrow
  refuses goes this way too, so every error is the ``csv`` module's, with its line.

Leading ``#`` lines (the importers' provenance header) are skipped and still counted as lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.csvlist import _rows_with_lines, _skip_comments


@dataclass(frozen=True)
class Column:
    """One column: ``values[codes[i]]`` is row i's text."""

    codes: np.ndarray
    values: list[str]

    def first_rows(self) -> np.ndarray:
        """Per distinct value, the first row holding it."""
        first = np.full(len(self.values), len(self.codes), np.int64)
        np.minimum.at(first, self.codes, np.arange(len(self.codes)))
        return first

    def empty(self) -> np.ndarray:
        """Per row: whether the cell is empty (or only blanks)."""
        blank = np.array([not v.strip() for v in self.values], bool)
        return blank[self.codes] if len(self.values) else np.ones(len(self.codes), bool)


def read_columns(
    path: Path, raw: bytes, text: str, columns: Sequence[str], required: Sequence[str]
) -> tuple[dict[str, Column], np.ndarray]:
    """The columns named in the header (among ``columns``; ``required`` must be there) and
    the line each row starts on, from a file's bytes and its text (BOM dropped). Raises
    ``WatchlistError`` with file and line."""
    skipped, body = _skip_comments(text)
    names, header_lines = _header(path, body, skipped, columns, required)
    # pyarrow reads the bytes after the header in place: no copy of a big file's text.
    head = text[: len(text) - len(body) + _line_end(body, header_lines)]
    offset = len(head.encode()) + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
    fast = _arrow(memoryview(raw)[offset:], names, skipped + header_lines + 1)
    pa.default_memory_pool().release_unused()  # hand the parse's buffers back at once
    if fast is not None:
        return fast
    return _rows(path, body, skipped, names)


def _header(
    path: Path, body: str, skipped: int, columns: Sequence[str], required: Sequence[str]
) -> tuple[list[str], int]:
    # The header is near the start: reading it from a copy of the whole text costs seconds.
    head = body[: _line_end(body, 100)]
    reader = csv.reader(io.StringIO(head, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise WatchlistError(path, f"not CSV: {exc}", line=skipped + 1) from None
    expected = f"a header row of {','.join(columns)}"
    if header is None:
        raise WatchlistError(path, "empty file", expected=expected)
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in columns]
    missing = [name for name in required if name not in names]
    if unknown or missing or len(set(names)) != len(names):
        problem = (
            f"unknown column {unknown[0]!r}"
            if unknown
            else f"header has no {missing[0]} column"
            if missing
            else "a column is named twice"
        )
        raise WatchlistError(path, problem, line=skipped + 1, expected=expected)
    return names, reader.line_num


def _line_end(text: str, lines: int) -> int:
    """Where the text after its first ``lines`` lines starts."""
    position = 0
    for _ in range(lines):
        found = text.find("\n", position)
        if found < 0:
            return len(text)
        position = found + 1
    return position


def _arrow(
    body: memoryview, names: list[str], first: int
) -> tuple[dict[str, Column], np.ndarray] | None:
    """The columns by pyarrow, or None when the file is not plain (see the docstring)."""
    data = pa.py_buffer(body)
    lines = body.tobytes().count(b"\n") if len(body) < 1 << 16 else _newlines(data)
    lines += 0 if not len(body) or body[-1] == ord("\n") else 1
    if lines == 0:
        return None
    try:
        table = pacsv.read_csv(
            data,
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeError):
        return None
    if table.num_rows != lines:  # blank lines or quoted line breaks: rows and lines differ
        return None
    columns = {}
    for name in names:
        encoded = table.column(name).combine_chunks().dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        columns[name] = Column(codes, encoded.dictionary.to_pylist())
    return columns, np.arange(first, first + lines, dtype=np.int64)


def _newlines(data: pa.Buffer) -> int:
    """Line breaks in a buffer, counted without copying it."""
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == ord("\n")))


def _rows(
    path: Path, body: str, skipped: int, names: list[str]
) -> tuple[dict[str, Column], np.ndarray]:
    """The columns by the ``csv`` module, row by row, with the line each row starts on."""
    rows, lines = _rows_with_lines(path, body, skipped)
    width = len(names)
    wrong = [i for i, row in enumerate(rows) if len(row) != width]
    if any(rows[i] for i in wrong):
        i = next(i for i in wrong if rows[i])
        raise WatchlistError(
            path,
            f"{len(rows[i])} fields",
            line=lines[i],
            expected=f"{width} fields as in the header ({','.join(names)})",
        )
    if wrong:  # blank lines
        keep = [i for i, row in enumerate(rows) if row]
        rows, lines = [rows[i] for i in keep], [lines[i] for i in keep]
    columns = {}
    for k, name in enumerate(names):
        distinct: dict[str, int] = {}
        codes = [distinct.setdefault(row[k], len(distinct)) for row in rows]
        columns[name] = Column(np.array(codes, np.int64), list(distinct))
    return columns, np.array([line or 0 for line in lines], np.int64)
