"""The nfdump filter that keeps the records of watched ranges, written to a file for ``-f``.

The filter lists every watched range in nfdump's ``ip in [ ... ]`` form (nfdump(1): "the
preferred way to search in a large list of IP addresses and networks"; IPv4 and IPv6 CIDRs
mixed, separated by spaces or newlines): nfdump builds a tree of it, so 100,000 ranges filter
at the speed of three (``benchmarks/watchlists.py``). It goes into a file because a command
line of 20,000 ``net`` terms overflows the kernel's argument limit (E2BIG).

It filters on addresses only, not ports, endpoints or time: watched but unclassified traffic
must still reach the rollups, and a dated range's window is applied by the matcher after.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

from chainwatch.watchlists import WatchlistSet


def filter_text(watchlists: WatchlistSet) -> str:
    """The filter expression for every range of every watchlist (each block once)."""
    cidrs = {t.cidr(i) for w in watchlists.watchlists for t in [w.table] for i in range(len(t))}
    if not cidrs:
        return "not any\n"
    return "ip in [\n" + "\n".join(sorted(cidrs)) + "\n]\n"


class FilterFile:
    """A context holding the filter file of one scan: written on first use, removed at exit."""

    def __init__(self, watchlists: WatchlistSet) -> None:
        self.watchlists = watchlists
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            handle, name = tempfile.mkstemp(prefix="chainwatch-nfdump-", suffix=".filter")
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(filter_text(self.watchlists))
            self._path = Path(name)
        return self._path

    def __enter__(self) -> FilterFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
