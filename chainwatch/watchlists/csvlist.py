"""The CSV watchlist form, ``watchlists/NAME.csv``: what importers write, for millions of rows.

Columns (DESIGN.md): ``cidr,note,source,valid_from,valid_to``; a header row names them, in any
order; only ``cidr`` is required and unknown columns are refused (a misspelt ``valid_to``
must not silently widen a window). RFC 4180 as the stdlib ``csv`` module reads it: quoted
fields, doubled quotes, separators and line breaks inside quotes; a UTF-8 BOM and CRLF line
ends are accepted; blank lines are skipped. Empty cells are absent values: no note, an
unbounded window end. Errors name the file and the line where the row starts.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.ranges import RangeBuilder, RangeTable

COLUMNS = ("cidr", "note", "source", "valid_from", "valid_to")


def load_csv_ranges(path: Path, text: str) -> RangeTable:
    """The ranges of a CSV watchlist whose text (BOM removed) is ``text``."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise WatchlistError(path, f"not CSV: {exc}", line=1) from None
    if header is None:
        raise WatchlistError(path, "empty file", expected=f"a header row: {','.join(COLUMNS)}")
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or "cidr" not in names or len(set(names)) != len(names):
        problem = f"unknown column {unknown[0]!r}" if unknown else "header has no cidr column"
        if not unknown and "cidr" in names:
            problem = "a column is named twice"
        raise WatchlistError(path, problem, line=1, expected=f"a header row of {','.join(COLUMNS)}")
    width = len(names)
    at = {name: names.index(name) for name in names}
    cidr, note, source = at["cidr"], at.get("note"), at.get("source")
    start, end = at.get("valid_from"), at.get("valid_to")
    builder = RangeBuilder(path)
    line = reader.line_num + 1  # where the next row starts
    try:
        for row in reader:
            if not row:
                line = reader.line_num + 1
                continue
            if len(row) != width:
                raise WatchlistError(
                    path,
                    f"{len(row)} fields",
                    line=line,
                    expected=f"{width} fields as in the header ({','.join(names)})",
                )
            builder.add(
                row[cidr],
                line=line,
                note=(row[note] or None) if note is not None else None,
                source=(row[source] or None) if source is not None else None,
                valid_from=row[start] if start is not None else None,
                valid_to=row[end] if end is not None else None,
            )
            line = reader.line_num + 1
    except csv.Error as exc:
        raise WatchlistError(path, f"not CSV: {exc}", line=line) from None
    if not len(builder):
        raise WatchlistError(path, "no ranges", expected="one row per range after the header")
    return builder.build()
