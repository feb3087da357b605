"""What the HTML report shows beside the series: where the counts come from.

Top local addresses and remote endpoints per group, events per detector and confidence, and
the evidence behind the report: the inputs and node sources with their date spans, the
watchlists as loaded, and the endpoint catalogs with the validity windows of their entries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from chainwatch.errors import ChainwatchError
from chainwatch.report.build import Report
from chainwatch.store.db import Store
from chainwatch.store.report_details import (
    DetectorRow,
    InputRow,
    PartyRow,
    event_details,
    watchlist_rows,
)


@dataclass(frozen=True)
class CatalogSpan:
    """One endpoint catalog: its entries, categories and the dates they are valid for."""

    name: str
    path: str
    sha256: str
    endpoints: int
    categories: tuple[str, ...]
    valid_from: dt.date | None  # None: some entry has no lower bound
    valid_to: dt.date | None  # None: some entry has no upper bound


@dataclass
class ReportDetails:
    """The detail views' data for one report."""

    local: list[PartyRow] = field(default_factory=list)
    remote: list[PartyRow] = field(default_factory=list)
    detectors: list[DetectorRow] = field(default_factory=list)
    inputs: list[InputRow] = field(default_factory=list)
    watchlists: list[tuple[str, str | None, dt.datetime]] = field(default_factory=list)
    catalogs: list[CatalogSpan] = field(default_factory=list)
    #: why the catalogs could not be listed (a missing or broken watchlists directory)
    catalog_error: str | None = None


def catalog_spans(directory: Path) -> list[CatalogSpan]:
    """The endpoint catalogs below a watchlists directory and the date span of each."""
    from chainwatch.watchlists import load_watchlists

    out = []
    for catalog in load_watchlists(directory).catalogs:
        entries = catalog.endpoints
        starts = [e.valid_from for e in entries]
        ends = [e.valid_to for e in entries]
        out.append(
            CatalogSpan(
                name=catalog.name,
                path=str(catalog.path),
                sha256=catalog.sha256,
                endpoints=len(entries),
                categories=tuple(sorted({e.category for e in entries})),
                valid_from=None if not starts or None in starts else min(d for d in starts if d),
                valid_to=None if not ends or None in ends else max(d for d in ends if d),
            )
        )
    return out


def build_details(
    store: Store, report: Report, *, watchlists: Path | None = None, limit: int = 10
) -> ReportDetails:
    """Query the detail views over the report's days (nothing when the range is empty)."""
    details = ReportDetails()
    if watchlists is not None:
        try:
            details.catalogs = catalog_spans(watchlists)
        except ChainwatchError as exc:
            details.catalog_error = str(exc)
    since, until = report.since, report.until
    with store.engine.connect() as conn:
        details.watchlists = watchlist_rows(conn)
        if since is None or until is None or until < since:
            return details
        found = event_details(
            conn, watchlist=report.watchlist, since=since, until=until, limit=limit
        )
    details.local, details.remote = found.local, found.remote
    details.detectors, details.inputs = found.detectors, found.inputs
    return details
