"""The streaming evidence query behind ``chainwatch export``.

Events are read in ``id`` order in bounded chunks, never all at once: PostgreSQL streams them
through a server-side cursor, SQLite pages by keyset (``id > last``), so memory stays flat for
any number of events. Only this module writes the SQL; exporters get plain tuples.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Select, select

from chainwatch.store.db import Store
from chainwatch.store.models import Event, Input

#: Exported event fields, in the order of DESIGN.md's CSV columns.
EXPORT_FIELDS: tuple[str, ...] = (
    "event_id",
    "observed_at",
    "watchlist",
    "matched_cidr",
    "local_ip",
    "local_port",
    "remote_ip",
    "remote_port",
    "proto",
    "direction",
    "category",
    "coin",
    "detector",
    "confidence",
    "source",
    "source_ref",
    "bytes",
    "packets",
    "detail",
    "evidence_sha256",
)
_COLUMNS = (Event.id, *(getattr(Event, name) for name in EXPORT_FIELDS[1:]))
CHUNK = 20_000


@dataclass(frozen=True)
class EvidenceQuery:
    """Which events to export; recorded verbatim in the manifest."""

    watchlists: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    categories: tuple[str, ...] = ()
    coins: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()
    min_confidence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        for key in ("since", "until"):
            if data[key] is not None:
                data[key] = data[key].isoformat().replace("+00:00", "Z")
        for key in ("watchlists", "categories", "coins", "detectors"):
            data[key] = list(data[key])
        data["until_is_exclusive"] = True
        return data

    def statement(self) -> Select[Any]:
        statement = select(*_COLUMNS, Event.input_id)
        if self.watchlists:
            statement = statement.where(Event.watchlist.in_(self.watchlists))
        if self.since is not None:
            statement = statement.where(Event.observed_at >= self.since)
        if self.until is not None:
            statement = statement.where(Event.observed_at < self.until)
        if self.categories:
            statement = statement.where(Event.category.in_(self.categories))
        if self.coins:
            statement = statement.where(Event.coin.in_(self.coins))
        if self.detectors:
            statement = statement.where(Event.detector.in_(self.detectors))
        if self.min_confidence is not None:
            statement = statement.where(Event.confidence >= self.min_confidence)
        return statement


def stream_events(
    store: Store, query: EvidenceQuery, chunk: int = CHUNK
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield chunks of event rows (``EXPORT_FIELDS`` then ``input_id``) in ``id`` order."""
    base = query.statement()
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
                base.order_by(Event.id)
            )
            for part in result.partitions(chunk):
                yield [tuple(row) for row in part]
            return
        last = None
        while True:
            statement = base if last is None else base.where(Event.id > last)
            rows = [tuple(r) for r in conn.execute(statement.order_by(Event.id).limit(chunk))]
            if not rows:
                return
            yield rows
            last = rows[-1][0]


def input_files(store: Store, ids: Iterable[int]) -> list[dict[str, Any]]:
    """Path, size, SHA-256 and format of the given inputs, by id."""
    wanted: Sequence[int] = sorted(set(ids))
    found: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 1000):
            part = wanted[start : start + 1000]
            statement = select(Input.id, Input.path, Input.size, Input.sha256, Input.format)
            for row in conn.execute(statement.where(Input.id.in_(part)).order_by(Input.id)):
                found.append(
                    {
                        "input_id": row.id,
                        "path": row.path,
                        "size": row.size,
                        "sha256": row.sha256,
                        "format": row.format,
                    }
                )
    return found
