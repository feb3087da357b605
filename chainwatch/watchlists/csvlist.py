"""The CSV watchlist form, ``watchlists/NAME.csv``: what importers write, for millions of rows.

Columns (DESIGN.md): ``cidr,note,source,valid_from,valid_to``; a header row names them, in any
order; only ``cidr`` is required and unknown columns are refused (a misspelt ``valid_to``
must not silently widen a window). RFC 4180 as the stdlib ``csv`` module reads it: quoted
fields, doubled quotes, separators and line breaks inside quotes; a UTF-8 BOM and CRLF line
ends are accepted; blank lines are skipped. Empty cells are absent values: no note, an
unbounded window end. Errors name the file and the line where the row starts. Leading ``#``
lines before the header are the provenance header importers write (``imports/output.py``)
and are skipped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.builder import RangeBuilder
from chainwatch.watchlists.ranges import RangeTable

COLUMNS = ("cidr", "note", "source", "valid_from", "valid_to")


def load_csv_ranges(path: Path, text: str) -> RangeTable:
    """The ranges of a CSV watchlist whose text (BOM removed) is ``text``."""
    skipped, text = _skip_comments(text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise WatchlistError(path, f"not CSV: {exc}", line=skipped + 1) from None
    if header is None:
        raise WatchlistError(path, "empty file", expected=f"a header row: {','.join(COLUMNS)}")
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or "cidr" not in names or len(set(names)) != len(names):
        problem = f"unknown column {unknown[0]!r}" if unknown else "header has no cidr column"
        if not unknown and "cidr" in names:
            problem = "a column is named twice"
        raise WatchlistError(
            path, problem, line=skipped + 1, expected=f"a header row of {','.join(COLUMNS)}"
        )
    width = len(names)
    at = {name: names.index(name) for name in names}
    first = skipped + reader.line_num + 1  # the line of the first row
    try:
        rows = list(reader)
    except csv.Error:
        rows = []  # the slow pass below says where
    if rows and skipped + reader.line_num - first + 1 == len(rows):
        lines: list[int | None] = list(
            range(first, first + len(rows))
        )  # one line per row: no line breaks in quotes
    else:
        rows, lines = _rows_with_lines(path, text, skipped)
    wrong = [i for i, row in enumerate(rows) if len(row) != width]
    if wrong and any(rows[i] for i in wrong):
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
    if not rows:
        raise WatchlistError(path, "no ranges", expected="one row per range after the header")
    # One comprehension per column: zip(*rows) over a million rows is 20 times slower.
    columns = {name: [row[k] for row in rows] for name, k in at.items()}
    builder = RangeBuilder(path)
    builder.extend(
        columns["cidr"],
        lines,
        notes=columns.get("note"),
        sources=columns.get("source"),
        valid_from=columns.get("valid_from"),
        valid_to=columns.get("valid_to"),
    )
    return builder.build()


def _skip_comments(text: str) -> tuple[int, str]:
    """How many leading ``#`` lines ``text`` has, and the text after them."""
    skipped = start = 0
    while text.startswith("#", start):
        end = text.find("\n", start)
        start = len(text) if end < 0 else end + 1
        skipped += 1
    return skipped, text[start:]


def _rows_with_lines(
    path: Path, text: str, skipped: int
) -> tuple[list[list[str]], list[int | None]]:
    """The rows after the header and the line each starts on (after ``skipped`` comment
    lines), read row by row: the slow pass, for quoted line breaks and for saying where the
    CSV is broken."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int | None] = []
    line = skipped + 1
    try:
        for row in reader:
            rows.append(row)
            lines.append(line)
            line = skipped + reader.line_num + 1
    except csv.Error as exc:
        raise WatchlistError(path, f"not CSV: {exc}", line=line) from None
    return rows[1:], lines[1:]
