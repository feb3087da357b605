"""Catalog host names resolved during scans: every answer (or failure) kept with its date.

Evidence that a record went to "pool.example.org" rests on which address that name had when
the scan ran; these rows are that record. Within one scan every watcher reuses the answers
stored for the scan, so a name is looked up once per scan however many watchers need it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select

from chainwatch.store.db import Store
from chainwatch.store.models import HostResolution


@dataclass(frozen=True)
class Resolution:
    """One stored answer: ``address`` None means the name did not resolve (``error`` says why)."""

    host: str
    address: str | None
    error: str | None = None


def resolutions_for_scan(store: Store, scan_id: int) -> dict[str, list[str]] | None:
    """The answers stored for this scan (host -> addresses), or None if none were stored yet."""
    with store.reading() as session:
        rows = session.execute(
            select(HostResolution.host, HostResolution.address).where(
                HostResolution.scan_id == scan_id
            )
        ).all()
    if not rows:
        return None
    answers: dict[str, list[str]] = {}
    for host, address in rows:
        bucket = answers.setdefault(host, [])
        if address is not None and address not in bucket:
            bucket.append(address)
    return answers


def add_resolutions(
    store: Store, scan_id: int | None, resolutions: Iterable[Resolution], *, now: dt.datetime
) -> int:
    """Store the answers of one round of look-ups; returns how many rows were written."""
    rows = [
        {
            "host": r.host,
            "address": r.address,
            "error": r.error,
            "resolved_at": now,
            "scan_id": scan_id,
        }
        for r in resolutions
    ]
    if rows:
        with store.session() as session:
            session.execute(insert(HostResolution), rows)
    return len(rows)


def as_mapping(resolutions: Sequence[Resolution]) -> Mapping[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for r in resolutions:
        bucket = answers.setdefault(r.host, [])
        if r.address is not None and r.address not in bucket:
            bucket.append(r.address)
    return answers
