"""What a write transaction holds until it ends: the hourly rollups and local addresses of its
inputs, added up in memory and written once (``Held.write``), before the transaction commits.

Rollups are sums and addresses are sets, so one write of a transaction's inputs together
stores what one write per input did. The rows are written in the order one write per input
would have created them (by the first input that holds a row, then by its columns), so that a
new row gets the id it got then.

Each batch's watched rows are held as they come and folded (one group-by per ``FOLD_ROWS``
rows, not two per batch) into one row per hour, watchlist, category and local address, with
the sums and the first input holding it. Should the distinct addresses pass ``ADDRESSES_HELD``
rows, they are written at once and only their sums kept: memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from chainwatch.store.writes import EventWriter, add_rollup_addresses, add_rollups

_ROLLUP_KEYS = ["hour", "watchlist", "category"]
_SUMS = ["records", "bytes", "packets", "events"]
#: Distinct (hour, watchlist, category, address) rows held before some are written.
ADDRESSES_HELD = 1_000_000
#: Watched rows held as they come before they are folded.
FOLD_ROWS = 100_000


def _fold(tables: list[pa.Table], keys: list[str]) -> pa.Table:
    """The tables' rows summed per ``keys``, each with the first input that held it."""
    folded = (
        pa.concat_tables(tables)
        .group_by(keys)
        .aggregate([*((c, "sum") for c in _SUMS), ("first", "min")])
    )
    names = {f"{c}_sum": c for c in _SUMS} | {"first_min": "first"}
    return folded.rename_columns(names).select([*keys, *_SUMS, "first"])


class Held:
    """A transaction's rollups and addresses, until ``write``."""

    def __init__(
        self, conn: Connection, writer: EventWriter, before: Callable[[], None] = lambda: None
    ) -> None:
        self.conn = conn
        self.writer = writer  # stages the addresses with the events (SQLite)
        self.before = before  # runs before the first rows are written (``Ingest``)
        self._rows: list[pa.Table] = []  # per batch, as it came
        self._count = 0
        self._addresses: pa.Table | None = None  # folded: one row per address key
        self._sums: list[pa.Table] = []  # folded per rollup key, their addresses written

    def add(self, frame: pa.Table, stored: np.ndarray, first: int) -> None:
        """Hold a batch's watched rows (``frame``: hour, watchlist, category, bytes, packets,
        local_ip), which of them were stored as events, and the input's place in the
        transaction."""
        n = frame.num_rows
        self._rows.append(
            pa.table(
                {
                    "hour": frame.column("hour"),
                    "watchlist": frame.column("watchlist"),
                    "category": frame.column("category"),
                    "local_ip": frame.column("local_ip"),
                    "records": pa.repeat(pa.scalar(1, pa.int64()), n),
                    # A null adds nothing to a sum, as a stored 0 does.
                    "bytes": pc.fill_null(pc.cast(frame.column("bytes"), pa.int64()), 0),
                    "packets": pc.fill_null(pc.cast(frame.column("packets"), pa.int64()), 0),
                    "events": pa.array(stored.astype(np.int64)),
                    "first": pa.repeat(pa.scalar(first, pa.int64()), n),
                }
            )
        )
        self._count += n
        if self._count >= FOLD_ROWS:
            self._fold()
            if self._addresses is not None and self._addresses.num_rows > ADDRESSES_HELD // 2:
                self._write_addresses()  # still many: write them, hold memory flat

    def write(self) -> None:
        """Add everything held to the store's rollups and addresses, and forget it."""
        self._fold()
        self._write_addresses()
        if self._sums:
            self.before()
            add_rollups(self.conn, _fold(self._sums, _ROLLUP_KEYS))
        self._sums = []

    def _fold(self) -> None:
        if not self._rows:
            return
        parts = self._rows if self._addresses is None else [self._addresses, *self._rows]
        self._addresses = _fold(parts, [*_ROLLUP_KEYS, "local_ip"])
        self._rows, self._count = [], 0

    def _write_addresses(self) -> None:
        if self._addresses is None:
            return
        self.before()
        add_rollup_addresses(self.conn, self._addresses, self.writer)
        self._sums.append(_fold([self._addresses], _ROLLUP_KEYS))
        self._addresses = None
