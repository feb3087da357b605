"""What each loaded watchlist and catalog is: its sources, when it was imported, and the date
span its rows cover. Shown by ``chainwatch watchlist list|show``, stored per scan
(``store/provenance.py``) and listed in export manifests.

Sources come from an imported CSV's provenance header (``imports/output.read_provenance``:
file names, sizes, SHA-256, import time), else from a TOML file's ``source`` key (and, for
catalogs, its endpoints' ``source``). The span is computed from the rows themselves: the
earliest ``valid_from`` and the latest ``valid_to``, an end being unbounded as soon as one row
is unbounded there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from chainwatch.errors import WatchlistError
from chainwatch.imports.output import read_provenance
from chainwatch.watchlists import Catalog, Watchlist, WatchlistSet
from chainwatch.watchlists.ranges import NO_END, NO_START, from_micros, micros, window_text
from chainwatch.watchlists.tomlfile import read_toml

Kind = Literal["watchlist", "catalog"]


@dataclass(frozen=True)
class ListInfo:
    """One watchlist or catalog as loaded. ``sources``: ``{"name", "size", "sha256"}`` per
    source file of an imported CSV, ``{"name": text}`` for a TOML ``source``, or one
    ``{"problem": text}`` when a CSV's provenance header is damaged; span ends are None when
    unbounded."""

    kind: Kind
    name: str
    path: Path
    sha256: str
    sources: tuple[dict[str, Any], ...]
    imported_at: dt.datetime | None
    command: str | None
    span_from: dt.datetime | None
    span_to: dt.datetime | None

    def span_text(self) -> str:
        """``2007-09-26..unbounded``, ``unbounded`` when both ends are."""
        start = NO_START if self.span_from is None else micros(self.span_from)
        end = NO_END if self.span_to is None else micros(self.span_to)
        text = window_text(start, end)
        if not text:
            return "unbounded"
        first, _, last = text.partition("..")
        return f"{first or 'unbounded'}..{last or 'unbounded'}"

    def sources_text(self) -> str:
        return ", ".join(str(s.get("name", s.get("problem"))) for s in self.sources) or "-"


def describe(loaded: WatchlistSet) -> list[ListInfo]:
    """Every watchlist, then every catalog, of a loaded watchlists directory."""
    return [watchlist_info(w) for w in loaded.watchlists] + [
        catalog_info(c) for c in loaded.catalogs
    ]


def watchlist_info(watchlist: Watchlist) -> ListInfo:
    texts = [watchlist.source] if watchlist.source else []
    start, end = _span(watchlist.table.valid_from, watchlist.table.valid_to)
    return _info("watchlist", watchlist.name, watchlist.path, watchlist.sha256, texts, start, end)


def catalog_info(catalog: Catalog) -> ListInfo:
    texts: list[str] = []
    if catalog.path.suffix == ".toml":
        source = read_toml(catalog.path)[2].get("source")
        texts += [source] if isinstance(source, str) else []
    texts += [e.source for e in catalog.endpoints if e.source]
    texts += [s for s in catalog.rows.sources if s]
    start, end = _span(catalog.rows.valid_from, catalog.rows.valid_to)
    unique = list(dict.fromkeys(texts))
    return _info("catalog", catalog.name, catalog.path, catalog.sha256, unique, start, end)


def _span(starts: np.ndarray, ends: np.ndarray) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Earliest start and latest end of rows' windows (microseconds); None: unbounded."""
    if not len(starts):
        return None, None
    start = None if bool(np.any(starts == NO_START)) else from_micros(int(starts.min()))
    end = None if bool(np.any(ends == NO_END)) else from_micros(int(ends.max()))
    return start, end


def _info(
    kind: Kind,
    name: str,
    path: Path,
    sha256: str,
    texts: Iterable[str],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> ListInfo:
    provenance = None
    sources: tuple[dict[str, Any], ...] = tuple({"name": text} for text in texts)
    try:
        provenance = read_provenance(path) if path.suffix == ".csv" else None
    except WatchlistError as exc:
        # The loader skips every leading "#" line, so the file itself is usable: say what is
        # wrong with its header where the sources would be, rather than refuse the file.
        sources = ({"problem": f"provenance header: {exc}"},)
    if provenance is not None:
        sources = tuple(
            {"name": s.name, "size": s.size, "sha256": s.sha256} for s in provenance.sources
        )
    return ListInfo(
        kind=kind,
        name=name,
        path=path,
        sha256=sha256,
        sources=sources,
        imported_at=provenance.imported_at if provenance else None,
        command=provenance.command if provenance else None,
        span_from=start,
        span_to=end,
    )
