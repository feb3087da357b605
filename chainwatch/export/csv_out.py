"""CSV evidence: DESIGN.md's columns in order, one row per event, safe to open in a spreadsheet.

``detail`` and other text cells can hold attacker-controlled strings (user agents, worker
names). A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return would be
run as a formula, so it gets a leading ``'``; a text cell that already starts with ``'`` gets
one too, so that removing exactly one leading ``'`` always gives the stored value back.
Numeric columns (ports, bytes, confidence ...) are numbers, never formulas, and are left alone.

Events arrive as JSON arrays serialised by the database (``stream_json``). In the usual chunk
no string holds an escaped character or a comma, so no cell needs CSV quoting and every ``"``
is JSON's own: then a few string operations over the whole chunk give its cells (``_cells``).
Any other chunk goes value by value through the ``csv`` module, as every chunk once did; the
two write the same bytes.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from typing import IO, Any

from chainwatch.export.base import EXPORT_FIELDS, NUMERIC_FIELDS, Exporter
from chainwatch.store.evidence import JSON_GROUPS

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
_TRIGGER_SET = frozenset(_TRIGGERS)
_TEXT_INDEXES = tuple(i for i, name in enumerate(EXPORT_FIELDS) if name not in NUMERIC_FIELDS)
#: what makes the csv module quote a cell (our line terminator is "\r\n")
_NEEDS_QUOTES = re.compile('[,"\r\n]')
#: a JSON string opening with a formula character: a closing '"' is followed by ',' or ']',
#: and tab and carriage return are escaped in JSON, so they never get this far
_FORMULA = re.compile("\"(?=[=+\\-@'])")
_NO_QUOTES = str.maketrans("", "", '"')
#: the commas of one event's arrays when no string holds a comma
_COMMAS = sum(len(group) - 1 for group in JSON_GROUPS)


def neutralise(text: str) -> str:
    """The cell text a spreadsheet shows as text rather than running it."""
    return "'" + text if text.startswith(_TRIGGERS) else text


def unneutralise(cell: str) -> str:
    """The stored value of a neutralised text cell."""
    return cell[1:] if cell.startswith("'") else cell


def detail_text(detail: Any) -> str:
    return (
        ""
        if detail is None
        else json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )


def quoted(cell: str) -> str:
    """The cell as the csv module writes it: quoted, quotes doubled, only where needed."""
    return '"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES.search(cell) else cell


def _detail_cell(stored: str | None) -> str:
    return "" if stored is None else quoted(neutralise(detail_text(json.loads(stored))))


def _cells(arrays: Sequence[str], commas: int) -> list[str] | None:
    """Each JSON array's values as CSV cells joined by commas, or None when some value needs
    more care: a string holding an escaped character (quote, backslash, control character) or
    a comma, the things CSV quotes."""
    text = "\n".join(arrays)
    if "\\" in text or text.count(",") != commas:
        return None
    # Now every '"' delimits a string, and the only commas are JSON's own.
    text = _FORMULA.sub("\"'", text)
    # null comes first in an array (after "\n[") or after a comma; a string containing
    # "\n[null" would hold an escaped "\n", and one containing ",null" a comma
    text = ("\n" + text).replace("\n[null", "\n[").replace(",null", ",").translate(_NO_QUOTES)
    return text[2:-1].split("]\n[")


class CsvExporter(Exporter):
    filename = "events.csv"
    json_rows = "arrays"

    def begin(self, handle: IO[str]) -> None:
        self._writer = csv.writer(handle, lineterminator="\r\n")
        self._writer.writerow(EXPORT_FIELDS)

    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        n = len(rows)
        first, confidence, middle, detail, last, _ = zip(*rows, strict=True)
        cells = _cells(first + middle + last, n * _COMMAS)
        if cells is None:
            self._writer.writerows(map(_slow_cells, rows))
            return n
        details: Iterable[str] = (
            repeat("") if detail.count(None) == n else map(_detail_cell, detail)
        )
        lines = zip(
            cells[:n],
            repeat(","),
            map(repr, confidence),  # as the csv module writes a float
            repeat(","),
            cells[n : 2 * n],
            repeat(","),
            details,
            repeat(","),
            cells[2 * n :],
            repeat("\r\n"),
            strict=False,
        )
        handle.write("".join(chain.from_iterable(lines)))
        return n


def _slow_cells(row: tuple[Any, ...]) -> list[Any]:
    """One event's cells from its JSON, value by value, for the csv module to quote."""
    first, confidence, middle, detail, last, _ = row
    cells: list[Any] = [*json.loads(first), confidence, *json.loads(middle)]
    cells += [detail_text(None if detail is None else json.loads(detail)), *json.loads(last)]
    for i in _TEXT_INDEXES:
        value = cells[i]
        if value and value[0] in _TRIGGER_SET:
            cells[i] = "'" + value
    return cells
