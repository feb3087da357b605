"""Vectorised field conversion with validation: text columns in, typed columns and a "bad" mask
out. A row whose field cannot be converted is marked bad with a reason, never given a made-up
value; a missing field (empty, ``-``, ``(empty)``) is null."""

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


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
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
    absent = _np(pc.is_null(col))
    valid = _np(pc.match_substring_regex(col, r"^\d{1,18}$"))
    problems.add(~absent & ~valid, f"{name} is not a non-negative integer")
    if required:
        problems.add(absent, f"{name} is missing")
    values = pc.cast(pc.if_else(pa.array(valid), col, pa.scalar(None, pa.string())), pa.int64())
    if maximum is not None:
        too_big = _np(pc.greater(values, maximum))
        problems.add(too_big, f"{name} is above {maximum}")
        values = pc.if_else(pa.array(too_big), pa.scalar(None, pa.int64()), values)
    return values


def number(col: pa.Array, name: str, problems: Problems) -> pa.Array:
    col = text(col)
    absent = _np(pc.is_null(col))
    valid = _np(pc.match_substring_regex(col, r"^\d+(\.\d+)?$"))
    problems.add(~absent & ~valid, f"{name} is not a number")
    return pc.cast(pc.if_else(pa.array(valid), col, pa.scalar(None, pa.string())), pa.float64())


def epoch(col: pa.Array) -> pa.Array:
    seconds = pc.cast(col, pa.float64())
    micros = pc.cast(pc.round(pc.multiply(seconds, 1e6)), pa.int64())
    return pc.cast(micros, pa.timestamp("us")).cast(UTC_US)


def timestamp(col: pa.Array, name: str, problems: Problems, *, naive_is_utc: bool) -> pa.Array:
    """Epoch seconds, or ISO-8601 with a zone; zone-less ISO only where ``naive_is_utc`` (nfdump
    prints UTC when run with TZ=UTC, and its CSV carries no zone)."""
    col = text(col)
    n = len(col)
    out = pa.nulls(n, UTC_US)
    is_epoch = _np(pc.match_substring_regex(col, _EPOCH))
    is_zoned = _np(pc.match_substring_regex(col, _ISO_ZONED))
    is_naive = (
        _np(pc.match_substring_regex(col, _NAIVE)) if naive_is_utc else np.zeros(n, dtype=bool)
    )
    absent = _np(pc.is_null(col))
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
            if kind == "epoch":
                parsed = epoch(part)
            elif kind == "zoned":
                parsed = pc.cast(part, UTC_US)
            else:
                parsed = pc.cast(pc.cast(part, pa.timestamp("us")), UTC_US)
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
            single = pa.array([value])
            if kind == "epoch":
                values.append(epoch(single)[0].as_py())
            elif kind == "zoned":
                values.append(pc.cast(single, UTC_US)[0].as_py())
            else:
                values.append(pc.cast(pc.cast(single, pa.timestamp("us")), UTC_US)[0].as_py())
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
