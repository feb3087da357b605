"""The passive DNS store (``host_resolutions``): every answer kept with when and where it was
seen, and the failed look-ups of scans with why they failed.

Answers from traffic are written inside their input's transaction, folded into clusters of
nearby sightings (``chainwatch.passive_dns.Sightings``), so an input stored whole stores its
answers and one rolled back stores none. Look-ups of a scan are stored with the scan; within
one scan every watcher reuses them, so a name is looked up once per scan however many watchers
need it. At a scan's start the answers for the catalog's hosts, from every earlier input and
scan, are loaded for the classifier: a dns.log read yesterday still attributes today's
conn.log of the same period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, insert, select

from chainwatch.passive_dns import LOOKUP, LOOKUP_SEEN_IN, TRAFFIC, Answer, Cluster, unique
from chainwatch.store.db import Store
from chainwatch.store.models import HostResolution

#: Host names per query when loading answers (well under every backend's parameter limit).
_CHUNK = 500


@dataclass(frozen=True)
class Resolution:
    """One look-up's outcome: ``address`` None means the name did not resolve (``error``
    says why)."""

    host: str
    address: str | None
    error: str | None = None


def resolutions_for_scan(store: Store, scan_id: int) -> dict[str, list[str]] | None:
    """The look-ups stored for this scan (host -> addresses), or None if none were stored yet."""
    with store.reading() as session:
        rows = session.execute(
            select(HostResolution.host, HostResolution.address).where(
                HostResolution.scan_id == scan_id, HostResolution.kind == LOOKUP
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
    """Store the outcomes of one round of look-ups, seen at ``now`` (the scan's time); returns
    how many rows were written."""
    rows = [
        {
            "host": r.host,
            "address": r.address,
            "error": r.error,
            "seen_at": now,
            "seen_in": LOOKUP_SEEN_IN,
            "last_seen_at": now,
            "last_seen_in": LOOKUP_SEEN_IN,
            "kind": LOOKUP,
            "input_id": None,
            "scan_id": scan_id,
        }
        for r in resolutions
    ]
    if rows:
        with store.session() as session:
            session.execute(insert(HostResolution), rows)
    return len(rows)


def add_answers(
    conn: Connection, clusters: Sequence[Cluster], *, input_id: int, scan_id: int | None
) -> int:
    """Store an input's answers (folded into clusters) in its transaction ``conn``."""
    rows = [
        {
            "host": c.first.host,
            "address": c.first.address,
            "error": None,
            "seen_at": c.first.seen_at,
            "seen_in": c.first.seen_in,
            "last_seen_at": c.last.seen_at,
            "last_seen_in": c.last.seen_in,
            "kind": TRAFFIC,
            "input_id": input_id,
            "scan_id": scan_id,
        }
        for c in clusters
    ]
    if rows:
        conn.execute(insert(HostResolution), rows)
    return len(rows)


def load_answers(store: Store, hosts: Iterable[str]) -> list[Answer]:
    """Every stored answer for these catalog hosts (exact names, and for a ``*.suffix``
    pattern every name strictly below the suffix), both ends of each folded row, from
    traffic and from look-ups alike; failed look-ups are not answers."""
    given = set(hosts)
    names = sorted(h for h in given if not h.startswith("*."))
    suffixes = sorted(h[1:] for h in given if h.startswith("*."))
    conditions: list[ColumnElement[bool]] = [
        HostResolution.host.in_(names[i : i + _CHUNK]) for i in range(0, len(names), _CHUNK)
    ]
    conditions += [HostResolution.host.endswith(suffix, autoescape=True) for suffix in suffixes]
    found: list[Answer] = []
    columns = (
        HostResolution.host,
        HostResolution.address,
        HostResolution.seen_at,
        HostResolution.seen_in,
        HostResolution.last_seen_at,
        HostResolution.last_seen_in,
    )
    with store.reading() as session:
        for condition in conditions:
            query = (
                select(*columns)
                .where(condition, HostResolution.address.is_not(None))
                .order_by(HostResolution.seen_at, HostResolution.id)
            )
            for host, address, seen_at, seen_in, last_at, last_in in session.execute(query):
                assert address is not None  # the query leaves failed look-ups out
                found.append(Answer(host, address, seen_at, seen_in))
                if (last_at, last_in) != (seen_at, seen_in):
                    found.append(Answer(host, address, last_at, last_in))
    return unique(found)


def as_mapping(resolutions: Sequence[Resolution]) -> Mapping[str, list[str]]:
    """Host -> the addresses its look-ups gave ([] for a failed one), in their order."""
    answers: dict[str, list[str]] = {}
    for r in resolutions:
        bucket = answers.setdefault(r.host, [])
        if r.address is not None and r.address not in bucket:
            bucket.append(r.address)
    return answers
