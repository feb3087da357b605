"""What identifies the connection of each classified record, so one connection is one event.

NetFlow exports the two directions of a connection as two records; Zeek names a connection by
its ``uid``. The keys are built column-wise (Arrow string kernels) for a batch of records; the
pipeline compares them with those of earlier batches and inputs (``chainwatch.store.pairing``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Two records of one connection in opposite directions start within this many seconds.
PAIR_WINDOW = 60.0


@dataclass
class Connections:
    """What identifies the connection of each record. NetFlow exports the two directions of a
    connection as two records with the same local/remote 5-tuple (the watched side is always
    local), started within PAIR_WINDOW of each other: ``group`` is that 5-tuple as text and
    ``key`` adds the record's window (its start // PAIR_WINDOW); ``before``/``after`` are the
    keys of the windows either side, where the other direction's key may lie. A Zeek record
    names its connection itself: all four are ``zeek:<uid>``."""

    group: pa.Array
    key: pa.Array
    before: pa.Array
    after: pa.Array
    seconds: np.ndarray

    @classmethod
    def of(
        cls,
        proto: pa.Array,
        lip: pa.Array,
        lport: pa.Array,
        rip: pa.Array,
        rport: pa.Array,
        uid: pa.Array,
        seconds: np.ndarray,
    ) -> Connections:
        def text(values: pa.Array) -> pa.Array:
            return pc.fill_null(pc.cast(values, pa.string()), "None")

        zeek = pc.binary_join_element_wise("zeek", uid, ":")
        by_uid = pc.is_valid(uid)
        base = pc.binary_join_element_wise(text(proto), lip, text(lport), rip, text(rport), "|")
        window = seconds // int(PAIR_WINDOW)

        def key(offset: int) -> pa.Array:
            keyed = pc.binary_join_element_wise(base, text(pa.array(window + offset)), "|")
            return pc.if_else(by_uid, zeek, keyed)

        return cls(pc.if_else(by_uid, zeek, base), key(0), key(-1), key(1), seconds)
