"""Arrow tables as PostgreSQL's binary COPY stream, built by Arrow and numpy kernels.

Binary COPY sends each value in the server's own form (integers and times as big-endian
numbers, text as its UTF-8 bytes), so the server parses nothing and Python touches no value:
each column becomes one binary array of fields (a 4-byte length, -1 for NULL, then the bytes),
and one ``binary_join_element_wise`` concatenates a row's fields. The stream is the rows' bytes
between a fixed header and trailer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
TRAILER = b"\xff\xff"
_NOTHING = pa.scalar(b"", pa.large_binary())
#: 2000-01-01 UTC in µs and in days since 1970: the origin of PostgreSQL's binary times and dates.
_PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957
#: Arrow type of each PostgreSQL type a column may have, and its binary width (0: variable).
TYPES: Mapping[str, tuple[pa.DataType, int]] = {
    "smallint": (pa.int16(), 2),
    "integer": (pa.int32(), 4),
    "bigint": (pa.int64(), 8),
    "double precision": (pa.float64(), 8),
    "timestamp with time zone": (pa.timestamp("us", tz="UTC"), 8),
    "date": (pa.date32(), 4),
    "text": (pa.large_binary(), 0),  # text, varchar and json: the bytes of the text
}


def copy_rows(table: pa.Table, types: Mapping[str, str]) -> pa.Array:
    """Each row of ``table`` as one binary COPY row (``types``: the PostgreSQL type of each
    column, a key of ``TYPES``); concatenated, the data of a ``COPY ... (FORMAT binary)``."""
    n = table.num_rows
    count = _fixed(np.full(n, table.num_columns, ">i2").view(np.uint8), 2)
    fields = [_field(table.column(name), types[name]) for name in table.column_names]
    return pc.binary_join_element_wise(count, *fields, _NOTHING)


def stream(rows: pa.Array) -> memoryview:
    """The bytes of all ``rows`` (from ``copy_rows``), contiguous in their data buffer."""
    rows = rows.cast(pa.large_binary())
    offsets = np.frombuffer(rows.buffers()[1], np.int64)[rows.offset : rows.offset + len(rows) + 1]
    data = rows.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])] if data else memoryview(b"")


def _fixed(data: np.ndarray, width: int) -> pa.Array:
    """Bytes of ``len(data) // width`` values of ``width`` bytes each, as a binary array."""
    n = len(data) // width
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int64) * width).tobytes())
    return pa.Array.from_buffers(pa.large_binary(), n, [None, offsets, pa.py_buffer(data)])


def _field(column: pa.ChunkedArray, kind: str) -> pa.Array:
    arrow, width = TYPES[kind]
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_timestamp(array.type) and array.type.tz is None:
        raise ValueError("naive timestamps: times must be UTC")
    array = array.cast(arrow)
    valid = np.asarray(array.is_valid(), dtype=bool)
    n = len(array)
    if width:  # big-endian numbers, behind the length (NULL: -1 and no bytes)
        if kind.startswith("timestamp"):
            numbers = array.cast(pa.int64())
        elif kind == "date":
            numbers = array.cast(pa.int32())
        else:
            numbers = array
        values = pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False)
        if kind.startswith("timestamp"):
            values = values - _PG_EPOCH_US
        elif kind == "date":
            values = values - _PG_EPOCH_DAYS
        out = np.empty((n, 4 + width), np.uint8)
        out[:, :4] = np.where(valid, width, -1).astype(">i4").view(np.uint8).reshape(n, 4)
        out[:, 4:] = values.astype(f">{values.dtype.kind}{width}").view(np.uint8).reshape(n, width)
        if valid.all():
            return _fixed(out.reshape(-1), 4 + width)
        keep = np.ones((n, 4 + width), bool)
        keep[~valid, 4:] = False
        lengths = np.where(valid, 4 + width, 4)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        data = out[keep]
        return pa.Array.from_buffers(
            pa.large_binary(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)]
        )
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + n + 1]
    lengths = np.where(valid, np.diff(offsets), -1).astype(">i4")
    head = _fixed(lengths.view(np.uint8), 4)
    return pc.binary_join_element_wise(head, pc.fill_null(array, _NOTHING), _NOTHING)
