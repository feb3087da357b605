"""What every worker needs for one watcher of one scan, shipped to each worker once (Dask's
``scatter(..., broadcast=True)``), not with every input: the compiled watchlists, the
classifier with its catalogs and DNS answers, the limits, the configured format, the nfdump
filter's text, and where and as which scan to write (the database URL without its password).

A worker writes the nfdump filter into a file of its own once per scan (``filter_file``) and
removes it when the scan ends (``forget``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chainwatch.classify import Classifier
from chainwatch.flows.limits import Limits
from chainwatch.watchlists import RangeMatcher

#: This process's filter files, by ``Shipped.key``.
_FILTERS: dict[str, Path] = {}


@dataclass
class Shipped:
    """One watcher's share of a scan on the cluster (``key``: unique to the scan and
    watcher)."""

    key: str
    source: str
    fmt: str
    matcher: RangeMatcher
    classifier: Classifier
    limits: Limits
    filter_text: str
    scan_id: int
    db: str
    strict: bool
    piece_bytes: int

    def filter_file(self) -> Path:
        """This worker's nfdump filter file for the scan, written on first use."""
        path = _FILTERS.get(self.key)
        if path is None:
            handle, name = tempfile.mkstemp(prefix="chainwatch-nfdump-", suffix=".filter")
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(self.filter_text)
            path = _FILTERS[self.key] = Path(name)
        return path


def forget(key: str) -> None:
    """Remove this process's filter file of the scan ``key`` (run on every worker)."""
    path = _FILTERS.pop(key, None)
    if path is not None:
        path.unlink(missing_ok=True)
