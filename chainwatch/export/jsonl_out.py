"""JSON lines evidence: one object per event with the CSV's fields and the exact stored values.

No formula neutralisation here: JSON is not run by spreadsheets, and evidence keeps its bytes.
``detail`` stays a JSON object; missing values are ``null``.
"""

from __future__ import annotations

import json
from typing import IO, Any

from chainwatch.export.base import EXPORT_FIELDS, Exporter, utc_text

_OBSERVED = EXPORT_FIELDS.index("observed_at")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=False).encode


class JsonlExporter(Exporter):
    filename = "events.jsonl"

    def begin(self, handle: IO[str]) -> None:
        return None

    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        lines = []
        for row in rows:
            record = dict(zip(EXPORT_FIELDS, row, strict=False))
            record["observed_at"] = utc_text(row[_OBSERVED])
            lines.append(_encode(record))
        if lines:
            handle.write("\n".join(lines) + "\n")
        return len(lines)
