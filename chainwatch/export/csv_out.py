"""CSV evidence: DESIGN.md's columns in order, one row per event, safe to open in a spreadsheet.

``detail`` and other text cells can hold attacker-controlled strings (user agents, worker
names). A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return would be
run as a formula, so it gets a leading ``'``; a text cell that already starts with ``'`` gets
one too, so that removing exactly one leading ``'`` always gives the stored value back.
Numeric columns (ports, bytes, confidence ...) are numbers, never formulas, and are left alone.
"""

from __future__ import annotations

import csv
import json
from typing import IO, Any

from chainwatch.export.base import EXPORT_FIELDS, NUMERIC_FIELDS, Exporter, utc_text

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
_TRIGGER_SET = frozenset(_TRIGGERS)
_TEXT_INDEXES = tuple(i for i, name in enumerate(EXPORT_FIELDS) if name not in NUMERIC_FIELDS)
_OBSERVED = EXPORT_FIELDS.index("observed_at")
_DETAIL = EXPORT_FIELDS.index("detail")


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


class CsvExporter(Exporter):
    filename = "events.csv"

    def begin(self, handle: IO[str]) -> None:
        self._writer = csv.writer(handle, lineterminator="\r\n")
        self._writer.writerow(EXPORT_FIELDS)

    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        out = []
        for row in rows:
            cells: list[Any] = list(row[: len(EXPORT_FIELDS)])
            cells[_OBSERVED] = utc_text(cells[_OBSERVED])
            cells[_DETAIL] = detail_text(cells[_DETAIL])
            for i in _TEXT_INDEXES:
                value = cells[i]
                # the first-character test inline: this loop runs for every text cell
                if value and value[0] in _TRIGGER_SET:
                    cells[i] = "'" + value
            out.append(cells)
        self._writer.writerows(out)
        return len(out)
