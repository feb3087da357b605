"""Vectorised field conversion with validation: text columns in, typed columns and a "bad" mask
out. A row whose field cannot be converted is marked bad with a reason, never given a made-up
value; a missing field (empty, ``-``, ``(empty)``) is null.

Two kinds of converter: the exact ones (``text``, ``integer``, ``timestamp``, ``protocol``)
take any text and give every bad row its reason; the ``plain_*`` ones read a field straight
from the bytes of a block (``Spans``) and accept only the rows whose value is certain at a
glance (digits only; nothing but spaces to trim; a time in a layout already checked). The
readers run the plain ones on every row and the exact ones on the rows they did not accept,
which gives the same values and reasons as the exact ones alone, in far fewer passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

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
    if maximum is not None:  # digits beyond int64: too big, not "not an integer"
        problems.add(_np(pc.match_substring_regex(col, r"^\d{19,}$")), f"{name} is above {maximum}")
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


_EMPTY_MARK = np.frombuffer(b"(empty)", dtype=np.uint8)
_PAD = 64  # spaces trimmed at most from each end of a field; a field with more goes the exact way


def _spaces(data: np.ndarray, start: np.ndarray, end: np.ndarray, *, backwards: bool) -> np.ndarray:
    """How many spaces each field ``data[start:end]`` begins with (or, ``backwards``, ends
    with), counting up to ``_PAD``."""
    width = int(min(_PAD, (end - start).max(initial=0), len(data)))
    count = np.zeros(len(start), dtype=np.int64)
    if width == 0:
        return count
    at = end - width if backwards else start
    inside = (at >= 0) & (at + width <= len(data))
    windows = np.lib.stride_tricks.sliding_window_view(data, width)[at[inside]] == 32
    if backwards:
        windows = windows[:, ::-1]
    run = np.where(windows.all(axis=1), width, windows.argmin(axis=1))
    count[inside] = np.minimum(run, (end - start)[inside])
    return count


@dataclass
class Spans:
    """One field of many rows, as byte ranges of a block: ``data[start[i]:end[i]]`` is row
    ``i``'s field (``buffer`` is the same bytes, for Arrow). Ranges are in ascending order
    and do not overlap."""

    data: np.ndarray
    buffer: pa.Buffer
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @cached_property
    def length(self) -> np.ndarray:
        return np.asarray(self.end - self.start)

    @cached_property
    def first(self) -> np.ndarray:
        """Each field's first byte (any byte for an empty field)."""
        if not len(self.data):
            return np.zeros(len(self), np.uint8)
        if len(self) and self.start[-1] >= len(self.data):  # an empty field at the very end
            return np.asarray(self.data[np.minimum(self.start, len(self.data) - 1)])
        return np.asarray(self.data[self.start])

    @cached_property
    def last(self) -> np.ndarray:
        """Each field's last byte (any byte for an empty field)."""
        if not len(self.data):
            return self.first
        return np.asarray(self.data[np.maximum(self.end - 1, 0)])

    @cached_property
    def missing(self) -> np.ndarray:
        """Fields that are exactly a missing marker (empty, ``-``, ``(empty)``)."""
        length, first = self.length, self.first
        out = (length == 0) | ((length == 1) & (first == ord("-")))
        maybe = np.flatnonzero((length == len(_EMPTY_MARK)) & (first == ord("(")))
        if len(maybe):
            window = self.data[self.start[maybe][:, None] + np.arange(len(_EMPTY_MARK))]
            out[maybe[(window == _EMPTY_MARK).all(axis=1)]] = True
        return np.asarray(out)

    @cached_property
    def printable_ends(self) -> np.ndarray:
        """Fields that begin and end with printable ASCII other than space: nothing to trim."""
        return np.asarray((self.length > 0) & ((self.first - 33) <= 93) & ((self.last - 33) <= 93))

    def trimmed(self) -> Spans:
        """The fields without the spaces around them, as ``text`` would trim them (it trims
        any white space: fields with other white space at an end are refused later, their
        ends not being printable). nfdump pads its columns with spaces."""
        lead, trail = self.first == 32, self.last == 32
        if not lead.any() and not trail.any():
            return self
        leading = np.flatnonzero(lead & (self.length > 0))
        trailing = np.flatnonzero(trail & (self.length > 0))
        start, end = self.start.copy(), self.end.copy()
        start[leading] += _spaces(self.data, start[leading], end[leading], backwards=False)
        trailing = trailing[end[trailing] > start[trailing]]
        end[trailing] -= _spaces(self.data, start[trailing], end[trailing], backwards=True)
        return Spans(self.data, self.buffer, start, end)

    def _spread(self, kind: pa.DataType) -> pa.Array:
        """Every field and every gap between two as an element (so that the offsets rise, as
        Arrow requires): the fields are the even elements. No bytes are copied."""
        offsets = np.empty(2 * len(self), dtype=np.int32)
        offsets[0::2] = self.start
        offsets[1::2] = self.end
        return pa.Array.from_buffers(
            kind, 2 * len(self) - 1, [None, pa.py_buffer(offsets), self.buffer]
        )

    def array(self, valid: np.ndarray, kind: pa.DataType | None = None) -> pa.Array:
        """The fields as an Arrow array (string unless ``kind``), null where not ``valid``.
        Valid fields must be UTF-8 for a string array: the caller knows which are."""
        n = len(self)
        kind = pa.string() if kind is None else kind
        if n == 0:
            return pa.array([], kind)
        nulls = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
        picks = pa.Array.from_buffers(pa.int64(), n, [nulls, pa.py_buffer(np.arange(0, 2 * n, 2))])
        return self._spread(kind).take(picks)

    def integers(self, valid: np.ndarray) -> pa.Array:
        """The fields at ``valid`` read by Arrow's integer parser straight from the block,
        without copying them out first; null elsewhere. Raises ArrowInvalid as the cast does."""
        n = len(self)
        if n == 0:
            return pa.array([], pa.int64())
        every = np.zeros(2 * n - 1, dtype=bool)
        every[0::2] = valid
        cast = pc.cast(with_validity(self._spread(pa.string()), every), pa.int64())
        values = np.frombuffer(cast.buffers()[1], np.int64)[cast.offset :][0 : 2 * n - 1 : 2]
        nulls = pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.Array.from_buffers(pa.int64(), n, [nulls, pa.py_buffer(values.copy())])


def plain_text(spans: Spans, rows: np.ndarray, *, required: bool) -> tuple[np.ndarray, pa.Array]:
    """``text`` for the ``rows`` whose field is missing (null; refused if ``required``) or has
    nothing to trim: the rows it accepts, and their values."""
    spans = spans.trimmed()
    value = rows & spans.printable_ends & ~spans.missing
    accepted = value if required else value | (rows & spans.missing)
    return accepted, spans.array(value)


def plain_integer(
    spans: Spans, rows: np.ndarray, *, maximum: int | None = None
) -> tuple[np.ndarray, pa.Array]:
    """``integer`` for the ``rows`` whose field is missing or 1 to 18 digits (not above
    ``maximum``)."""
    spans = spans.trimmed()
    length, first = spans.length, spans.first
    digits = rows & (length >= 1) & (length <= 18) & ((first - 48) <= 9)  # uint8: wraps
    hexadecimal = np.flatnonzero(digits & (first == ord("0")) & (length > 2))
    if len(hexadecimal):
        second = spans.data[spans.start[hexadecimal] + 1] | 0x20  # lower case
        digits[hexadecimal[second == ord("x")]] = False
    try:
        # Arrow's parser takes a field that starts with a digit but not with "0x" only if it
        # is all digits (it knows no "+", spaces or separators), and fails the whole cast
        # otherwise: then the fields are copied out and looked at.
        values = spans.integers(digits)
    except pa.ArrowInvalid:
        text = spans.array(digits)
        data, offsets = dense(text)
        other = np.flatnonzero((data - 48) > 9)
        digits[np.searchsorted(offsets, other, side="right") - 1] = False
        values = pc.cast(with_validity(text, digits), pa.int64())
    if maximum is not None:
        raw = np.frombuffer(values.buffers()[1], np.int64)[values.offset :][: len(values)]
        digits &= ~(raw > maximum)  # the exact converter gives these their reason
    return digits | (rows & spans.missing), values


_LAYOUTS = {"epoch": _EPOCH, "zoned": _ISO_ZONED, "naive": _NAIVE}
_LAYOUT_RES = {kind: re.compile(pattern.encode()) for kind, pattern in _LAYOUTS.items()}


def _parse_time(text: pa.Array, kind: str) -> pa.Array:
    if kind == "epoch":
        return epoch(text)
    if kind == "zoned":
        return pc.cast(text, UTC_US)
    return pc.cast(pc.cast(text, pa.timestamp("us")), UTC_US)


def plain_time(
    spans: Spans, rows: np.ndarray, *, naive_is_utc: bool
) -> tuple[np.ndarray, pa.Array]:
    """``timestamp`` for the ``rows`` whose field is in one of a few layouts seen in the batch.

    A layout is a field with its digits blanked ("0000000000.000000", "0000-00-00T00:00:00Z").
    One matching a time pattern matches every field of its length whose digits are where its
    digits are and whose other bytes are its own, as the patterns spell every digit ``\\d``: so
    a batch is checked with a few comparisons over a matrix of its bytes, not a regex per row.
    """
    spans = spans.trimmed()
    n, length = len(spans), spans.length
    kinds = ["epoch", "zoned", *(["naive"] if naive_is_utc else [])]
    candidate = rows & (length >= 1) & (length <= 64)
    text = spans.array(candidate)
    data, offsets = dense(text)
    found = np.zeros(n, dtype=np.int8)  # 1 + index in kinds; 0: none yet
    todo = candidate.copy()
    for _ in range(8):  # a file keeps to one or two layouts; a few more are cheap to try
        left = np.flatnonzero(todo)
        if not len(left):
            break
        sample = data[offsets[left[0]] : offsets[left[0] + 1]]
        digit = (sample - 48) <= 9
        layout = np.where(digit, 48, sample).astype(np.uint8)
        code = next(
            (i + 1 for i, k in enumerate(kinds) if _LAYOUT_RES[k].match(layout.tobytes())), 0
        )
        if not code:
            todo[left[0]] = False  # left to the patterns below
            continue
        same = left[length[left] == len(sample)]
        if len(same) == n - text.null_count:  # every field has this length: the bytes as is
            matrix = data[offsets[same[0]] : offsets[same[0]] + len(same) * len(sample)]
            matrix = matrix.reshape(len(same), len(sample))
        else:
            rows_of = np.lib.stride_tricks.sliding_window_view(data, len(sample))
            matrix = rows_of[offsets[same]]
        shifted = matrix - layout  # digits become 0-9 (others wrap to 10-255), the rest 0
        span = np.where(digit, 9, 0).astype(np.uint8)
        wrong = shifted > span
        if wrong.any():
            same = same[~wrong.any(axis=1)]
        found[same] = code
        todo[same] = False
    left = np.flatnonzero(todo)
    if len(left):  # layouts not tried above: the patterns themselves, on these rows only
        part = text.take(pa.array(left))
        for code, kind in enumerate(kinds, 1):
            hit = _np(pc.match_substring_regex(part, _LAYOUTS[kind]))
            found[left[hit & (found[left] == 0)]] = code
    parts = []
    for code, kind in enumerate(kinds, 1):
        hit = found == code
        if hit.any():
            try:
                parts.append(_parse_time(with_validity(text, hit), kind))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                found[hit] = 0  # an impossible date among them: the exact converter finds it
    values = (
        pa.nulls(n, UTC_US) if not parts else parts[0] if len(parts) == 1 else pc.coalesce(*parts)
    )
    return found > 0, values


def plain_protocol(spans: Spans, rows: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """``protocol`` for the ``rows`` that ``plain_text`` accepts, converting each distinct
    value once."""
    accepted, text = plain_text(spans, rows, required=False)
    encoded = pc.dictionary_encode(text)
    return accepted, protocol(encoded.dictionary).take(encoded.indices)
