"""The exact conversion path: any text in, the same values as the plain path and a reason
for every bad row. For the few rows the plain path does not accept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.flows import columns as cols
from chainwatch.flows import dialect
from chainwatch.flows.limits import MAX_COUNT
from chainwatch.flows.readers.batch import Layout

# -- The exact path: any text, a reason for every bad row -------------------------------------


def strings(raw: list[bytes]) -> tuple[pa.Array, np.ndarray]:
    """UTF-8 text of each line, and a mask of the lines that are not valid UTF-8."""
    binary = pa.array(raw, pa.binary())
    try:
        return binary.cast(pa.string()), np.zeros(len(raw), dtype=bool)
    except pa.ArrowInvalid:
        bad = np.zeros(len(raw), dtype=bool)
        fixed: list[str | None] = []
        for i, line in enumerate(raw):
            try:
                fixed.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                bad[i] = True
                fixed.append(None)
        return pa.array(fixed, pa.string()), bad


def split(text: pa.Array, layout: Layout) -> pa.Array:
    """Each line's fields, split at every separator (text without quoting)."""
    return pc.split_pattern(pc.fill_null(text, ""), layout.sep)


def split_quoted(raw: list[bytes], layout: Layout) -> tuple[pa.Array, np.ndarray]:
    """Each record's fields as RFC 4180 reads them, and a mask of the records that are not
    valid UTF-8 (no fields). For the few records the plain path does not take."""
    sep = layout.sep.encode()
    fields: list[list[str]] = []
    bad = np.zeros(len(raw), dtype=bool)
    for i, record in enumerate(raw):
        try:
            fields.append([f.decode("utf-8") for f in dialect.split_record(record, sep)])
        except UnicodeDecodeError:
            bad[i] = True
            fields.append([])
    return pa.array(fields, pa.list_(pa.string())), bad


def _width(fields: pa.Array, layout: Layout, problems: cols.Problems) -> None:
    width, at_least = layout.width, layout.at_least
    lengths = np.asarray(pc.list_value_length(fields).to_numpy(zero_copy_only=False))
    wrong = lengths < width if at_least else lengths != width
    problems.add(
        wrong,
        f"expected {width}{' or more' if at_least else ''} fields separated by {layout.sep!r}",
    )


def _field(fields: pa.Array, index: int | None, n: int) -> pa.Array:
    if index is None:
        return pa.nulls(n, pa.string())
    safe = pc.if_else(
        pc.greater(pc.list_value_length(fields), index),
        fields,
        pa.scalar([""] * (index + 1), fields.type),
    )
    return pc.list_element(safe, index)


def sum_known(a: pa.Array, b: pa.Array) -> pa.Array:
    """a + b where both are known, else whichever is known (never an invented zero)."""
    return pc.if_else(pc.is_null(a), b, pc.if_else(pc.is_null(b), a, pc.add(a, b)))


def _columns(
    fields: pa.Array,
    index: dict[str, int | None],
    n: int,
    problems: cols.Problems,
    *,
    naive_is_utc: bool,
) -> dict[str, pa.Array]:
    def get(key: str) -> pa.Array:
        return _field(fields, index.get(key), n)

    def count(key: str, name: str | None = None) -> pa.Array:
        return cols.integer(get(key), name or key, problems, maximum=MAX_COUNT)

    src, dst = cols.text(get("src_ip")), cols.text(get("dst_ip"))
    problems.add(
        np.asarray(pc.is_null(src).to_numpy(zero_copy_only=False)), "source address is missing"
    )
    problems.add(
        np.asarray(pc.is_null(dst).to_numpy(zero_copy_only=False)), "destination address is missing"
    )
    arrays = {
        "ts": cols.timestamp(get("ts"), "time", problems, naive_is_utc=naive_is_utc),
        "src_ip": src,
        "dst_ip": dst,
        "src_port": cols.integer(get("src_port"), "source port", problems, maximum=65535),
        "dst_port": cols.integer(get("dst_port"), "destination port", problems, maximum=65535),
        "proto": cols.protocol(get("proto")),
    }
    if "bytes2" in index:
        arrays["bytes"] = sum_known(count("bytes"), count("bytes2", "bytes"))
        arrays["packets"] = sum_known(count("packets"), count("packets2", "packets"))
    else:
        arrays["bytes"] = count("bytes")
        arrays["packets"] = count("packets")
    if "uid" in index:
        arrays["uid"] = cols.text(get("uid"))
    return arrays


def exact_path(
    fields: pa.Array,
    utf8_bad: np.ndarray,
    nul: np.ndarray,
    layout: Layout,
    unclosed: np.ndarray | None = None,
) -> tuple[cols.Problems, dict[str, pa.Array]]:
    """Rows (as their fields) through the exact converters; reasons in the order the rows
    are checked."""
    problems = cols.Problems(len(fields))
    if unclosed is not None:
        problems.add(unclosed, dialect.UNCLOSED)
    _width(fields, layout, problems)
    arrays = _columns(fields, layout.index, len(fields), problems, naive_is_utc=layout.naive_is_utc)
    problems.add(utf8_bad, "is not valid UTF-8")
    problems.add(nul, "contains a NUL byte")  # PostgreSQL cannot store NUL in text
    return problems, arrays
