"""Which watchlists and catalogs each scan used, with their sources: ``list_provenance`` rows
(one per kind, name and file SHA-256) and the ``scan_lists`` links.

A scan records its lists as it starts (``record_lists``); ``chainwatch export`` asks which
lists the scans of the exported events used (``lists_for_events``) and puts them in the
manifest, so evidence says which version of a watchlist or catalog matched it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError

from chainwatch.imports.list_info import ListInfo
from chainwatch.store.db import Store
from chainwatch.store.models import Event, ListProvenance, ScanList


def record_lists(store: Store, scan_id: int, infos: Sequence[ListInfo], now: dt.datetime) -> None:
    """Link the scan to a ``list_provenance`` row per list, adding rows not stored yet. Another
    scan may add the same row at the same moment; its insert wins and ours is read again."""
    try:
        _record(store, scan_id, infos, now)
    except IntegrityError:
        _record(store, scan_id, infos, now)


def _record(store: Store, scan_id: int, infos: Sequence[ListInfo], now: dt.datetime) -> None:
    with store.session() as session:
        known = {
            (row.kind, row.name, row.sha256): row.id
            for row in session.scalars(
                select(ListProvenance).where(ListProvenance.sha256.in_({i.sha256 for i in infos}))
            )
        }
        for info in infos:
            key = (info.kind, info.name, info.sha256)
            if key in known:
                continue
            row = ListProvenance(
                kind=info.kind,
                name=info.name,
                sha256=info.sha256,
                sources=list(info.sources),
                imported_at=info.imported_at,
                command=info.command,
                span_from=info.span_from,
                span_to=info.span_to,
                first_used_at=now,
            )
            session.add(row)
            session.flush()
            known[key] = row.id
        ids = sorted({known[(i.kind, i.name, i.sha256)] for i in infos})
        if ids:
            session.execute(insert(ScanList), [{"scan_id": scan_id, "list_id": i} for i in ids])


def lists_of_scans(store: Store, scan_ids: Select[Any]) -> list[dict[str, Any]]:
    """The lists the scans selected by ``scan_ids`` (a one-column select) used, in name order,
    as the manifest shows them."""
    statement = (
        select(ListProvenance)
        .where(
            ListProvenance.id.in_(select(ScanList.list_id).where(ScanList.scan_id.in_(scan_ids)))
        )
        .order_by(ListProvenance.kind.desc(), ListProvenance.name, ListProvenance.first_used_at)
    )
    with store.session() as session:
        return [_json(row) for row in session.scalars(statement)]


def lists_for_events(store: Store, events: Select[Any]) -> list[dict[str, Any]]:
    """The lists used by the scans of the events ``events`` (a select over ``events``)
    selects."""
    scans = events.with_only_columns(Event.scan_id).where(Event.scan_id.is_not(None)).distinct()
    return lists_of_scans(store, scans)


def _json(row: ListProvenance) -> dict[str, Any]:
    def text(moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")

    return {
        "kind": row.kind,
        "name": row.name,
        "sha256": row.sha256,
        "sources": row.sources,
        "imported_at": text(row.imported_at),
        "span": [text(row.span_from), text(row.span_to)],
    }
