"""Vectorised field conversion with validation: text columns in, typed columns and a "bad" mask
out. A row whose field cannot be converted is marked bad with a reason, never given a made-up
value; a missing field (empty, ``-``, ``(empty)``) is null.

Two kinds of converter: the exact ones (``text``, ``integer``, ``timestamp``, ``protocol``)
take any text and give every bad row its reason; the ``plain_*`` ones read a field straight
from the bytes of a block (``Spans``) and accept only the rows whose value is certain at a
glance (digits only; nothing but spaces to trim; a time in a layout already checked). The
readers run the plain ones on every row and the exact ones on the rows they did not accept,
which gives the same values and reasons as the exact ones alone, in far fewer passes. This
module holds the exact ones; ``chainwatch.flows.spans`` the plain ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MISSING = ["", "-", "(empty)"]
_EPOCH = r"^\d{1,12}(\.\d{1,9})?$"
_ISO_ZONED = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d(:?\d\d)?)$"
_NAIVE = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})?$"
#: IANA protocol numbers that flows commonly carry, by name.
PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "47": "gre", "50": "esp"}
UTC_US = pa.timestamp("us", tz="UTC")


@dataclass
class Problems:
    """Rows found bad while converting one batch: a mask and the first reason of each row."""

    n: int
    mask: np.ndarray = field(init=False)
    reasons: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mask = np.zeros(self.n, dtype=bool)

    def add(self, bad: np.ndarray, reason: str) -> None:
        new = bad & ~self.mask
        for row in np.flatnonzero(new)[:20]:  # reasons are shown for the first few only
            self.reasons[int(row)] = reason
        self.mask |= bad


def as_mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as a numpy mask, null as False."""
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def missing(col: pa.Array) -> pa.Array:
    return pc.or_kleene(pc.is_null(col), pc.is_in(col, value_set=pa.array(_MISSING)))


def text(col: pa.Array) -> pa.Array:
    """Trimmed text; missing markers become null."""
    col = pc.utf8_trim_whitespace(col)
    return pc.if_else(missing(col), pa.scalar(None, pa.string()), col)


def integer(
    col: pa.Array,
    name: str,
    problems: Problems,
    *,
    maximum: int | None = None,
    required: bool = False,
) -> pa.Array:
    col = text(col)
    absent = as_mask(pc.is_null(col))
    valid = as_mask(pc.match_substring_regex(col, r"^\d{1,18}$"))
    if maximum is not None:  # digits beyond int64: too big, not "not an integer"
        too_long = as_mask(pc.match_substring_regex(col, r"^\d{19,}$"))
        problems.add(too_long, f"{name} is above {maximum}")
    problems.add(~absent & ~valid, f"{name} is not a non-negative integer")
    if required:
        problems.add(absent, f"{name} is missing")
    values = pc.cast(pc.if_else(pa.array(valid), col, pa.scalar(None, pa.string())), pa.int64())
    if maximum is not None:
        too_big = as_mask(pc.greater(values, maximum))
        problems.add(too_big, f"{name} is above {maximum}")
        values = pc.if_else(pa.array(too_big), pa.scalar(None, pa.int64()), values)
    return values


def number(col: pa.Array, name: str, problems: Problems) -> pa.Array:
    col = text(col)
    absent = as_mask(pc.is_null(col))
    valid = as_mask(pc.match_substring_regex(col, r"^\d+(\.\d+)?$"))
    problems.add(~absent & ~valid, f"{name} is not a number")
    return pc.cast(pc.if_else(pa.array(valid), col, pa.scalar(None, pa.string())), pa.float64())


def epoch(col: pa.Array) -> pa.Array:
    seconds = pc.cast(col, pa.float64())
    micros = pc.cast(pc.round(pc.multiply(seconds, 1e6)), pa.int64())
    return pc.cast(micros, pa.timestamp("us")).cast(UTC_US)


#: The time layouts a flow field may take, by kind ("naive" only where zone-less means UTC).
TIME_LAYOUTS = {"epoch": _EPOCH, "zoned": _ISO_ZONED, "naive": _NAIVE}


def parse_time(text: pa.Array, kind: str) -> pa.Array:
    """Fields already known to be in layout ``kind`` as UTC times; raises ArrowInvalid for
    an impossible one (month 13)."""
    if kind == "epoch":
        return epoch(text)
    if kind == "zoned":
        return pc.cast(text, UTC_US)
    return pc.cast(pc.cast(text, pa.timestamp("us")), UTC_US)


def timestamp(col: pa.Array, name: str, problems: Problems, *, naive_is_utc: bool) -> pa.Array:
    """Epoch seconds, or ISO-8601 with a zone; zone-less ISO only where ``naive_is_utc`` (nfdump
    prints UTC when run with TZ=UTC, and its CSV carries no zone)."""
    col = text(col)
    n = len(col)
    out = pa.nulls(n, UTC_US)
    is_epoch = as_mask(pc.match_substring_regex(col, _EPOCH))
    is_zoned = as_mask(pc.match_substring_regex(col, _ISO_ZONED))
    is_naive = (
        as_mask(pc.match_substring_regex(col, _NAIVE)) if naive_is_utc else np.zeros(n, dtype=bool)
    )
    absent = as_mask(pc.is_null(col))
    expected = "epoch seconds or ISO-8601 with a zone" + (
        " (or UTC without)" if naive_is_utc else ""
    )
    problems.add(absent, f"{name} is missing")
    problems.add(~absent & ~(is_epoch | is_zoned | is_naive), f"{name} is not {expected}")
    for kind, mask in (("epoch", is_epoch), ("zoned", is_zoned), ("naive", is_naive)):
        if not mask.any():
            continue
        rows = pa.array(mask)
        part = col.filter(rows)
        try:
            parsed = parse_time(part, kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = _one_by_one(part, kind, problems, np.flatnonzero(mask), name)
        out = pc.replace_with_mask(out, rows, parsed)
    return out


def _one_by_one(
    part: pa.Array, kind: str, problems: Problems, rows: np.ndarray, name: str
) -> pa.Array:
    """The rare batch where a well-formed-looking time is impossible (month 13): row by row."""
    values: list[object] = []
    bad = np.zeros(problems.n, dtype=bool)
    for row, value in zip(rows, part.to_pylist(), strict=True):
        try:
            values.append(parse_time(pa.array([value]), kind)[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values.append(None)
            bad[row] = True
    problems.add(bad, f"{name} is not a valid date and time")
    return pa.array(values, UTC_US)


def protocol(col: pa.Array) -> pa.Array:
    """Lower-case protocol names; common numbers become names (6 -> tcp)."""
    col = pc.utf8_lower(text(col))
    for code, label in PROTOCOLS.items():
        col = pc.if_else(pc.equal(col, code), label, col)
    return col


def dense(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of a string array and its ``len + 1`` offsets into them."""
    _, offsets, data = text.buffers()
    where = np.frombuffer(offsets, dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    return (np.zeros(0, np.uint8) if data is None else np.frombuffer(data, np.uint8)), where


def with_validity(values: pa.Array, valid: np.ndarray) -> pa.Array:
    """``values`` (string or binary) with its nulls replaced by ``~valid``, sharing the data."""
    bits = np.concatenate([np.zeros(values.offset, bool), valid]) if values.offset else valid
    _, offsets, data = values.buffers()
    return pa.Array.from_buffers(
        values.type,
        len(values),
        [pa.py_buffer(np.packbits(bits, bitorder="little")), offsets, data],
        offset=values.offset,
    )
