"""JSON lines evidence: one object per event with the CSV's fields and the exact stored values.

No formula neutralisation here: JSON is not run by spreadsheets, and evidence keeps its bytes.
``detail`` stays a JSON object; missing values are ``null``.

The database serialises the fields (``stream_json``) and escapes strings exactly as ``json``
does here; this module only adds ``confidence`` and ``detail``, and joins each chunk's parts
into lines in one go rather than encoding event by event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain, repeat
from operator import itemgetter
from typing import IO, Any

from chainwatch.export.base import Exporter

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=False).encode
_without_close = itemgetter(slice(None, -1))
_without_braces = itemgetter(slice(1, -1))
_without_open = itemgetter(slice(1, None))


def _floats(values: tuple[float, ...]) -> list[str]:
    # one encode for the whole chunk; a JSON number never holds a comma
    return _encode(values)[1:-1].split(",")


def _detail(stored: str | None) -> str:
    return "null" if stored is None else _encode(json.loads(stored))


class JsonlExporter(Exporter):
    filename = "events.jsonl"
    json_rows = "objects"

    def begin(self, handle: IO[str]) -> None:
        return None

    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        first, confidence, middle, detail, last, _ = zip(*rows, strict=True)
        details: Iterable[str] = (
            repeat("null") if detail.count(None) == len(rows) else map(_detail, detail)
        )
        parts = zip(
            map(_without_close, first),
            repeat(',"confidence":'),
            _floats(confidence),
            repeat(","),
            map(_without_braces, middle),
            repeat(',"detail":'),
            details,
            repeat(","),
            map(_without_open, last),
            repeat("\n"),
            strict=False,
        )
        handle.write("".join(chain.from_iterable(parts)))
        return len(rows)
